import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type WarmPool } from './helpers.js';
import { createServer, getJson, postJson, resolveServerOptions, startServer, type RunningServer } from './server-helpers.js';

let pool: WarmPool;
let server: RunningServer;

beforeAll(async () => {
  pool = createPool({ threads: 1, env: false });
  // The key from the environment variable, as `warmpool serve` reads it.
  server = await startServer(pool, { port: 0, env: { WARMPOOL_API_KEY: 's3cret-key' } });
});

afterAll(async () => {
  await server?.close();
  await pool?.close();
});

describe('bearer-token auth', () => {
  it('refuses a missing or wrong key with 401 and accepts the right one', async () => {
    const url = `${server.url}/v1/embeddings`;
    const none = await postJson(url, { input: 'x' });
    expect([none.status, none.json.error.code, none.json.error.type]).toEqual([401, 'missing_api_key', 'authentication_error']);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    const wrong = await postJson(url, { input: 'x' }, { authorization: 'Bearer s3cret-kez' });
    expect([wrong.status, wrong.json.error.code]).toEqual([401, 'invalid_api_key']);
    const prefix = await postJson(url, { input: 'x' }, { authorization: 'Bearer s3cret' });
    expect(prefix.status).toBe(401);
    const right = await postJson(url, { input: 'x' }, { authorization: 'Bearer s3cret-key' });
    expect(right.status).toBe(200);
    const tei = await postJson(`${server.url}/embed`, { inputs: 'x' });
    expect([tei.status, tei.json.error_type]).toEqual([401, 'Validation']);
    for (const path of ['/tokenize', '/similarity', '/embed_all', '/', '/embeddings']) expect((await postJson(`${server.url}${path}`, {})).status, path).toBe(401);
    expect((await getJson(`${server.url}/metrics`)).status).toBe(401);
    expect((await getJson(`${server.url}/stats`, { authorization: 'bearer s3cret-key' })).status).toBe(200);
  });

  it('leaves /health and /ready open for probes', async () => {
    expect((await getJson(`${server.url}/health`)).status).toBe(200);
    // TEI's health check answers at / and /ping too, without the key, as in TEI.
    expect((await getJson(`${server.url}/`)).status).toBe(200);
    expect((await getJson(`${server.url}/ping`)).status).toBe(200);
    await pool.ready();
    expect((await getJson(`${server.url}/ready`)).status).toBe(200);
  });

  it('works with the openai client given the key', async () => {
    const ok = new OpenAI({ apiKey: 's3cret-key', baseURL: `${server.url}/v1`, maxRetries: 0 });
    const res = await ok.embeddings.create({ model: 'm', input: 'hello' });
    expect(res.data[0]!.embedding).toHaveLength(100);
    const bad = new OpenAI({ apiKey: 'nope', baseURL: `${server.url}/v1`, maxRetries: 0 });
    await expect(bad.embeddings.create({ model: 'm', input: 'hello' })).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });
});

describe('server options', () => {
  it('defaults to 127.0.0.1:8080 with no key', () => {
    expect(resolveServerOptions({ env: false })).toMatchObject({ host: '127.0.0.1', port: 8080, apiKey: undefined, bodyLimit: 8388608, maxInputs: 2048 });
  });

  it('reads WARMPOOL_HOST, _PORT, _BODY_LIMIT, _MAX_INPUTS, _MODEL_NAME; explicit options win', () => {
    const env = { WARMPOOL_HOST: '0.0.0.0', WARMPOOL_PORT: '9000', WARMPOOL_BODY_LIMIT: '2048', WARMPOOL_MAX_INPUTS: '5', WARMPOOL_MODEL_NAME: 'glove' };
    expect(resolveServerOptions({ env })).toMatchObject({ host: '0.0.0.0', port: 9000, bodyLimit: 2048, maxInputs: 5, modelName: 'glove' });
    expect(resolveServerOptions({ env, port: 1234, host: '::1' })).toMatchObject({ host: '::1', port: 1234 });
  });

  it('throws TypeError / RangeError showing the value received', () => {
    expect(() => resolveServerOptions({ port: '80' as never })).toThrow(new TypeError('options.port must be a number, received "80"'));
    expect(() => resolveServerOptions({ port: 70000 })).toThrow(RangeError);
    expect(() => resolveServerOptions({ env: { WARMPOOL_PORT: 'eighty' } })).toThrow(/WARMPOOL_PORT must be a number, received "eighty"/);
    expect(() => resolveServerOptions({ maxInputs: 0 })).toThrow(/options.maxInputs must be an integer from 1/);
    expect(() => resolveServerOptions({ apiKey: '' })).toThrow(TypeError);
    expect(() => resolveServerOptions({ bodyLimit: 10 })).toThrow(RangeError);
    expect(() => resolveServerOptions({ prot: 1 } as never)).toThrow(/unknown server option "prot"/);
    expect(() => createServer(pool, { routes: ['x'] as never })).toThrow(/options.routes must be an array/);
  });

  it('processMetrics: false leaves out the process metrics', async () => {
    const s = await startServer(pool, { port: 0, env: false, processMetrics: false });
    try {
      const text = await (await fetch(`${s.url}/metrics`)).text();
      expect(text).toContain('warmpool_requests_total');
      expect(text).not.toContain('process_cpu_user_seconds_total');
    } finally {
      await s.close();
    }
    expect(() => resolveServerOptions({ processMetrics: 'no' as never })).toThrow(/options.processMetrics must be a boolean, received "no"/);
  });

  it('registers extra routes with the pool and the options', async () => {
    const s = await startServer(pool, {
      port: 0,
      env: false,
      routes: [
        async (app, ctx) => {
          app.get('/v1/extra', async () => ({ model: ctx.pool.options.model, maxInputs: ctx.options.maxInputs }));
        },
      ],
    });
    try {
      expect((await getJson(`${s.url}/v1/extra`)).json).toEqual({ model: 'glove-100d', maxInputs: 2048 });
    } finally {
      await s.close();
    }
  });
});
