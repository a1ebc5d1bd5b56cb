/**
 * The server speaks Text Embeddings Inference's HTTP API (v1.9): every TEI route this server
 * answers, its successes and its errors, checked against TEI's answer shapes (tei-schemas.ts) and
 * TEI's pairing of statuses and error types, against a real server and a real pool; and TEI's
 * client from npm, `@huggingface/inference`, pointed at it.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceClient } from '@huggingface/inference';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LONG_TEXT, MODELS_DIR, ROOT, createPool, type WarmPool } from './helpers.js';
import { getJson, postJson, startServer, type RunningServer } from './server-helpers.js';
import { teiProblems } from './tei-schemas.js';

const MAX_INPUTS = 4;
let pool: WarmPool;
let server: RunningServer;
let promptPool: WarmPool;
let promptServer: RunningServer;
let dir: string;

/** POSTs `body` to `path` and checks the answer against TEI's shape for that route and status. */
async function tei(path: string, body: unknown, base = server.url) {
  const r = await postJson(`${base}${path}`, body);
  expect(teiProblems(`POST ${path}`, r.status, r.json), `${path} ${r.status} ${r.text.slice(0, 300)}`).toEqual([]);
  return r;
}

const cosine = (a: Float32Array, b: Float32Array) => {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) [dot, na, nb] = [dot + a[i]! * b[i]!, na + a[i]! ** 2, nb + b[i]! ** 2];
  return dot / Math.sqrt(na * nb);
};

beforeAll(async () => {
  // glove-100d with prompts, as a sentence-transformers folder has them (its ONNX folder linked).
  dir = mkdtempSync(join(tmpdir(), 'warmpool-tei-'));
  const folder = join(dir, 'glove-prompts');
  mkdirSync(folder);
  for (const file of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(MODELS_DIR, 'glove-100d', file), join(folder, file));
  symlinkSync(join(MODELS_DIR, 'glove-100d', 'onnx'), join(folder, 'onnx'));
  writeFileSync(join(folder, 'config_sentence_transformers.json'), JSON.stringify({ prompts: { query: 'query: ', passage: 'passage: ' } }));
  pool = createPool({ threads: 1, env: false });
  promptPool = createPool({ threads: 1, env: false, model: folder });
  await Promise.all([pool.ready(), promptPool.ready()]);
  server = await startServer(pool, { port: 0, env: false, maxInputs: MAX_INPUTS });
  promptServer = await startServer(promptPool, { port: 0, env: false });
});

afterAll(async () => {
  await Promise.all([server?.close(), promptServer?.close()]);
  await Promise.all([pool?.close(), promptPool?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('GET /info', () => {
  it("has every field TEI's Info requires, filled from the pool", async () => {
    const r = await getJson(`${server.url}/info`);
    expect(r.status).toBe(200);
    expect(teiProblems('GET /info', r.status, r.json)).toEqual([]);
    const { version } = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string };
    expect(r.json).toMatchObject({
      model_id: 'glove-100d',
      served_model_name: 'glove-100d',
      model_dtype: 'float32',
      model_type: { embedding: { pooling: 'mean' } },
      max_concurrent_requests: pool.options.maxThreads * pool.options.concurrentTasksPerWorker + pool.options.maxQueue,
      max_input_length: pool.model!.maxTokens,
      max_batch_tokens: pool.options.maxBatchTokens,
      max_client_batch_size: MAX_INPUTS,
      auto_truncate: false,
      tokenization_workers: pool.options.maxThreads,
      version,
      dimensions: 100,
    });
  });
});

describe('POST /embed and its aliases', () => {
  it('answers pool.embed; POST / and POST /invocations answer as /embed, POST /embeddings as /v1/embeddings', async () => {
    const texts = ['first text', 'second text'];
    const want = (await pool.embed(texts)).map((v) => Array.from(v));
    for (const path of ['/embed', '/', '/invocations']) expect((await tei(path, { inputs: texts })).json, path).toEqual(want);
    const openai = await postJson(`${server.url}/embeddings`, { input: texts, encoding_format: 'float' });
    expect(openai.status).toBe(200);
    expect(teiProblems('POST /embed', 200, openai.json.data.map((d: { embedding: number[] }) => d.embedding))).toEqual([]);
    expect(openai.json.data.map((d: { embedding: number[] }) => d.embedding)).toEqual(want);
  });

  it('takes dimensions (shortened vectors) as TEI does', async () => {
    const r = await tei('/embed', { inputs: 'river bank', dimensions: 10 });
    expect(r.json[0]).toHaveLength(10);
    expect(Array.from(r.json[0])).toEqual(Array.from((await pool.embed(['river bank'], { dimensions: 10 }))[0]!));
    expect((await tei('/embed', { inputs: 'x', dimensions: 101 })).status).toBe(422);
  });

  it("answers TEI's statuses and error types, keeping warmpool's code", async () => {
    const long = `${LONG_TEXT} ${LONG_TEXT}`.slice(0, 3500);
    const cases: [unknown, number, string, string][] = [
      [{ inputs: long }, 422, 'Validation', 'ERR_WARMPOOL_INVALID_INPUT'],
      [{ inputs: '' }, 400, 'Empty', 'empty'],
      [{ inputs: [] }, 400, 'Empty', 'empty'],
      [{ inputs: ['ok', ''] }, 400, 'Empty', 'empty'],
      [{ inputs: ['a', 'b', 'c', 'd', 'e'] }, 422, 'Validation', 'too_many_inputs'],
      [{ inputs: 5 }, 422, 'Validation', 'invalid_input'],
      [{ inputs: ['ok', 7] }, 422, 'Validation', 'invalid_input'],
      [{ inputs: [101, 2023] }, 422, 'Validation', 'unsupported_input'],
      [{}, 422, 'Validation', 'missing_input'],
      [[1], 422, 'Validation', 'invalid_body'],
      [{ inputs: 'x', normalize: 'yes' }, 422, 'Validation', 'invalid_field'],
      [{ inputs: 'x', truncation_direction: 'Left' }, 422, 'Validation', 'unsupported_truncation_direction'],
      [{ inputs: 'x', truncation_direction: 'Up' }, 422, 'Validation', 'invalid_field'],
      [{ inputs: 'x', prompt_name: 'query' }, 422, 'Validation', 'ERR_WARMPOOL_INVALID_INPUT'],
      [{ inputs: 'x', prompt_name: 3 }, 422, 'Validation', 'invalid_prompt_name'],
    ];
    for (const [body, status, type, code] of cases) {
      const r = await tei('/embed', body);
      expect([r.status, r.json.error_type, r.json.code], JSON.stringify(body).slice(0, 80)).toEqual([status, type, code]);
    }
    expect((await tei('/embed', { inputs: long, truncate: true, truncation_direction: 'right' })).status).toBe(200);
    // Bad JSON is Fastify's 400, in TEI's shape.
    const badJson = await postJson(`${server.url}/embed`, '{"inputs": ');
    expect([badJson.status, badJson.json.error_type]).toEqual([400, 'Validation']);
  });
});

describe('POST /embed_all and POST /embed_sparse', () => {
  it('are refused as TEI refuses them for a model that cannot: 424, Backend, once the request is valid', async () => {
    for (const path of ['/embed_all', '/embed_sparse']) {
      const r = await tei(path, { inputs: ['a text'] });
      expect([r.status, r.json.error_type, r.json.code], path).toEqual([424, 'Backend', 'unsupported_task']);
      expect((await tei(path, { inputs: [] })).status, path).toBe(400);
      expect((await tei(path, { inputs: 5 })).status, path).toBe(422);
    }
    expect((await tei('/embed_sparse', { inputs: 'x' })).json.error).toBe('Model is not an embedding model with SPLADE pooling');
  });
});

describe('POST /similarity', () => {
  it('answers the cosine of the source sentence with each sentence', async () => {
    const sentences = ['a cat sat on the mat', 'the stock market fell', 'a cat sat on the mat'];
    const r = await tei('/similarity', { inputs: { source_sentence: 'a cat on a mat', sentences } });
    expect(r.status).toBe(200);
    const [source, ...others] = await pool.embed(['a cat on a mat', ...sentences], { normalize: false });
    expect(r.json).toHaveLength(3);
    r.json.forEach((score: number, i: number) => expect(score).toBeCloseTo(cosine(source!, others[i]!), 5));
    expect(r.json[0]).toBeGreaterThan(r.json[1]);
    expect(r.json[0]).toBe(r.json[2]);
  });

  it("answers TEI's errors: no sentences, too many (the source counts), bad shapes, an unknown prompt", async () => {
    const base = { source_sentence: 'a' };
    const cases: [unknown, number, string][] = [
      [{ inputs: { ...base, sentences: [] } }, 400, 'Empty'],
      [{ inputs: { ...base, sentences: ['b', 'c', 'd', 'e'] } }, 422, 'Validation'],
      [{ inputs: { ...base, sentences: 'b' } }, 422, 'Validation'],
      [{ inputs: 'a' }, 422, 'Validation'],
      [{ inputs: { sentences: ['b'] } }, 422, 'Validation'],
      [{ inputs: { ...base, sentences: ['b'] }, parameters: { prompt_name: 'query' } }, 422, 'Validation'],
    ];
    for (const [body, status, type] of cases) {
      const r = await tei('/similarity', body);
      expect([r.status, r.json.error_type], JSON.stringify(body)).toEqual([status, type]);
    }
    expect((await tei('/similarity', { inputs: { ...base, sentences: ['b', 'c', 'd'] }, parameters: { truncate: true } })).status).toBe(200);
  });
});

describe('POST /tokenize and POST /decode (the model tokenizer, loaded on the main thread)', () => {
  it("answers TEI's tokens: ids as the pool's tokenizer gives them, special tokens, byte offsets into the input", async () => {
    const text = 'Héllo, wörld! The river bank';
    const r = await tei('/tokenize', { inputs: text });
    expect(r.status).toBe(200);
    const tokens = r.json[0] as { id: number; text: string; special: boolean; start: number | null; stop: number | null }[];
    expect(tokens[0]).toEqual({ id: expect.any(Number), text: '[CLS]', special: true, start: null, stop: null });
    expect(tokens.at(-1)).toMatchObject({ text: '[SEP]', special: true, start: null, stop: null });
    const bytes = Buffer.from(text);
    for (const t of tokens.filter((t) => !t.special)) expect(bytes.subarray(t.start!, t.stop!).toString(), JSON.stringify(t)).toBe(t.text);
    expect(tokens.map((t) => t.text)).toEqual(['[CLS]', 'Héllo', ',', 'wörld', '!', 'The', 'river', 'bank', '[SEP]']);
    // The same token count the pool's usage reports for the text.
    const usage = await postJson(`${server.url}/v1/embeddings`, { input: text });
    expect(tokens).toHaveLength(usage.json.usage.prompt_tokens);

    const plain = await tei('/tokenize', { inputs: ['river bank', 'stone'], add_special_tokens: false });
    expect(plain.json.map((row: { text: string; special: boolean }[]) => row.map((t) => [t.text, t.special]))).toEqual([
      [
        ['river', false],
        ['bank', false],
      ],
      [['stone', false]],
    ]);
  });

  it('puts the named prompt before the input, offsets counting from the prompt, as TEI', async () => {
    const r = await tei('/tokenize', { inputs: 'river bank', prompt_name: 'query' }, promptServer.url);
    expect(r.json[0].map((t: { text: string; start: number | null }) => [t.text, t.start])).toEqual([
      ['[CLS]', null],
      ['query', 0],
      [':', 5],
      ['river', 7],
      ['bank', 13],
      ['[SEP]', null],
    ]);
    const unknown = await tei('/tokenize', { inputs: 'x', prompt_name: 'nope' }, promptServer.url);
    expect([unknown.status, unknown.json.error_type]).toEqual([422, 'Validation']);
    expect(unknown.json.error).toMatch(/query, passage/);
  });

  it('decodes ids back to text, with or without the special tokens', async () => {
    const ids = (await tei('/tokenize', { inputs: 'The river bank' })).json[0].map((t: { id: number }) => t.id);
    expect((await tei('/decode', { ids })).json).toEqual(['the river bank']);
    expect((await tei('/decode', { ids: [ids, ids.slice(1, 3)], skip_special_tokens: false })).json).toEqual(['[CLS] the river bank [SEP]', 'the river']);
  });

  it("answers TEI's errors for both", async () => {
    const cases: [string, unknown, number, string][] = [
      ['/tokenize', { inputs: '' }, 400, 'Empty'],
      ['/tokenize', { inputs: [] }, 400, 'Empty'],
      ['/tokenize', { inputs: ['a', 'b', 'c', 'd', 'e'] }, 422, 'Validation'],
      ['/tokenize', { inputs: 5 }, 422, 'Validation'],
      ['/tokenize', { inputs: 'x', add_special_tokens: 'no' }, 422, 'Validation'],
      ['/decode', { ids: [] }, 400, 'Empty'],
      ['/decode', { ids: [[1], []] }, 400, 'Empty'],
      ['/decode', { ids: [[1], [2], [3], [4], [5]] }, 422, 'Validation'],
      ['/decode', { ids: [-1] }, 422, 'Validation'],
      ['/decode', { ids: 'abc' }, 422, 'Validation'],
      ['/decode', {}, 422, 'Validation'],
    ];
    for (const [path, body, status, type] of cases) {
      const r = await tei(path, body);
      expect([r.status, r.json.error_type], `${path} ${JSON.stringify(body)}`).toEqual([status, type]);
    }
  });
});

describe("TEI's health routes", () => {
  it('GET /, GET /ping and GET /health answer 200', async () => {
    for (const path of ['/', '/ping', '/health']) expect((await getJson(`${server.url}${path}`)).status, path).toBe(200);
  });
});

describe('the @huggingface/inference client against this server', () => {
  const client = new InferenceClient();

  it('featureExtraction with an endpointUrl at /embed or at the root gets pool.embed', async () => {
    const want = Array.from((await pool.embed(['A man is playing a guitar.']))[0]!);
    for (const endpointUrl of [`${server.url}/embed`, server.url]) {
      const out = await client.featureExtraction({ endpointUrl, inputs: 'A man is playing a guitar.' });
      expect(out, endpointUrl).toEqual([want]);
    }
    const two = await client.featureExtraction({ endpointUrl: `${server.url}/embed`, inputs: ['first text', 'second text'] as never, normalize: false });
    expect(two).toEqual((await pool.embed(['first text', 'second text'], { normalize: false })).map((v) => Array.from(v)));
  });

  it('sentenceSimilarity with an endpointUrl at /similarity', async () => {
    const out = await client.sentenceSimilarity({ endpointUrl: `${server.url}/similarity`, inputs: { source_sentence: 'a cat on a mat', sentences: ['a cat sat on the mat', 'the stock market fell'] } });
    expect(out).toHaveLength(2);
    expect(out[0]).toBeGreaterThan(out[1]!);
  });

  it("surfaces the server's TEI error message", async () => {
    await expect(client.featureExtraction({ endpointUrl: `${server.url}/embed`, inputs: ['a', 'b', 'c', 'd', 'e'] as never })).rejects.toThrow(/batch size 5 > maximum allowed batch size 4/);
  });
});
