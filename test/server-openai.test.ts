import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type WarmPool } from './helpers.js';
import { postJson, startServer, type RunningServer } from './server-helpers.js';

const TEXTS = ['A man is playing a guitar.', 'Someone plays an instrument.', 'The stock market fell sharply today.'];

let pool: WarmPool;
let server: RunningServer;
let client: OpenAI;

beforeAll(async () => {
  pool = createPool({ threads: 1, env: false });
  await pool.ready();
  server = await startServer(pool, { port: 0, env: false });
  // The official client, unchanged; no retries so an error shows as it is.
  client = new OpenAI({ apiKey: 'not-checked', baseURL: `${server.url}/v1`, maxRetries: 0 });
});

afterAll(async () => {
  await server?.close();
  await pool?.close();
});

const same = (got: number[], want: Float32Array) => expect(Float32Array.from(got)).toEqual(want);

describe('POST /v1/embeddings with the official openai client', () => {
  it('decodes the default (base64) answer to exactly the vectors pool.embed returns', async () => {
    const res = await client.embeddings.create({ model: 'text-embedding-3-small', input: TEXTS });
    const want = await pool.embed(TEXTS);
    expect(res.object).toBe('list');
    expect(res.data).toHaveLength(3);
    res.data.forEach((item, i) => {
      expect(item.index).toBe(i);
      expect(item.object).toBe('embedding');
      expect(item.embedding).toHaveLength(100);
      same(item.embedding, want[i]!);
    });
  });

  it("gives the same vectors with encoding_format: 'float'", async () => {
    const res = await client.embeddings.create({ model: 'glove-100d', input: TEXTS, encoding_format: 'float' });
    const want = await pool.embed(TEXTS);
    res.data.forEach((item, i) => same(item.embedding, want[i]!));
  });

  it('takes a single string, names the served model, and reports the tokens the model saw', async () => {
    const res = await client.embeddings.create({ model: 'any-name', input: TEXTS[0]! });
    same(res.data[0]!.embedding, await pool.embed(TEXTS[0]!));
    expect(res.model).toBe('glove-100d');
    const { tokens } = await pool.embedPacked([TEXTS[0]!]);
    expect(tokens).toBeGreaterThan(2);
    expect(res.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
  });

  it('answers dimensions: 32 as 32-long unit vectors, the first 32 of the full vector re-normalised', async () => {
    // No format: the client asks for base64 and decodes it; 'float': JSON numbers.
    for (const encoding_format of [undefined, 'float'] as const) {
      const res = await client.embeddings.create({ model: 'm', input: TEXTS, dimensions: 32, ...(encoding_format && { encoding_format }) });
      const full = await pool.embed(TEXTS);
      expect(res.data).toHaveLength(3);
      res.data.forEach((item, i) => {
        expect(item.embedding).toHaveLength(32);
        const norm = Math.sqrt(item.embedding.reduce((s, x) => s + x * x, 0));
        expect(Math.abs(norm - 1)).toBeLessThan(1e-6);
        const head = full[i]!.slice(0, 32);
        let sum = 0;
        for (const x of head) sum += x * x;
        const inv = 1 / Math.sqrt(sum);
        same(item.embedding, head.map((x) => x * inv));
      });
    }
  });

  it('accepts dimensions equal to the model width and refuses a wider one', async () => {
    const ok = await client.embeddings.create({ model: 'm', input: 'hello', dimensions: 100 });
    expect(ok.data[0]!.embedding).toHaveLength(100);
    same(ok.data[0]!.embedding, await pool.embed('hello'));
    const err = await client.embeddings.create({ model: 'm', input: 'hello', dimensions: 101 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).code).toBe('unsupported_dimensions');
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('dimensions');
    expect((err as Error).message).toMatch(/from 1 to 100/);
  });

  it('refuses token-array inputs with a 400 the client raises as BadRequestError', async () => {
    const err = await client.embeddings.create({ model: 'm', input: [101, 2023, 102] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).status).toBe(400);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).code).toBe('unsupported_input');
  });

  it("answers bad text with the pool's error code in OpenAI's error shape", async () => {
    const r = await postJson(`${server.url}/v1/embeddings`, { model: 'm', input: ['fine', '   '] });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({
      error: { message: expect.stringContaining('input[1] is empty'), type: 'invalid_request_error', param: 'input', code: 'ERR_WARMPOOL_INVALID_INPUT' },
    });
  });

  it('lists its one model at GET /v1/models', async () => {
    const page = await client.models.list();
    expect(page.data.map((m) => m.id)).toEqual(['glove-100d']);
  });

  it('refuses an unknown encoding_format, a missing input and an empty array', async () => {
    const url = `${server.url}/v1/embeddings`;
    const bad = await postJson(url, { input: 'x', encoding_format: 'hex' });
    expect([bad.status, bad.json.error.param]).toEqual([400, 'encoding_format']);
    expect((await postJson(url, { model: 'm' })).json.error.code).toBe('missing_input');
    expect((await postJson(url, { input: [] })).status).toBe(400);
  });
});
