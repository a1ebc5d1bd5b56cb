import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LONG_TEXT, SLOW_TEXTS, createPool, norm, type WarmPool } from './helpers.js';
import { getJson, postJson, startServer, type RunningServer } from './server-helpers.js';
import { teiProblems } from './tei-schemas.js';

let pool: WarmPool;
let server: RunningServer;

beforeAll(async () => {
  pool = createPool({ threads: 1, env: false });
  await pool.ready();
  server = await startServer(pool, { port: 0, env: false, maxInputs: 8, bodyLimit: 4096 });
});

afterAll(async () => {
  await server?.close();
  await pool?.close();
});

describe('POST /embed (Text Embeddings Inference)', () => {
  it('answers an array of float arrays equal to pool.embed, for a string and for an array', async () => {
    const one = await postJson(`${server.url}/embed`, { inputs: 'A man is playing a guitar.' });
    expect(one.status).toBe(200);
    expect(one.json).toHaveLength(1);
    expect(Float32Array.from(one.json[0])).toEqual(await pool.embed('A man is playing a guitar.'));
    const texts = ['first text', 'second text'];
    const two = await postJson(`${server.url}/embed`, { inputs: texts });
    const want = await pool.embed(texts);
    expect(two.json.map((v: number[]) => Float32Array.from(v))).toEqual(want);
  });

  it('honours normalize: false', async () => {
    const r = await postJson(`${server.url}/embed`, { inputs: ['river bank', 'stock market'], normalize: false });
    const want = await pool.embed(['river bank', 'stock market'], { normalize: false });
    expect(Float32Array.from(r.json[0])).toEqual(want[0]);
    expect(Math.abs(norm(Float32Array.from(r.json[0])) - 1)).toBeGreaterThan(1e-3);
  });

  it("refuses a too-long text unless truncate is set, as TEI does, in TEI's error shape", async () => {
    const long = `${LONG_TEXT} ${LONG_TEXT}`.slice(0, 3500);
    const refused = await postJson(`${server.url}/embed`, { inputs: long });
    expect(refused.status).toBe(422);
    expect(refused.json).toEqual({ error: expect.stringMatching(/token/), error_type: 'Validation', code: 'ERR_WARMPOOL_INVALID_INPUT' });
    const cut = await postJson(`${server.url}/embed`, { inputs: long, truncate: true });
    expect(cut.status).toBe(200);
    expect(cut.json[0]).toHaveLength(100);
  });

  it('refuses bad inputs with 422 and error_type Validation, an empty batch with 400 and Empty, as TEI', async () => {
    const empty = await postJson(`${server.url}/embed`, { inputs: [] });
    expect([empty.status, empty.json.error_type]).toEqual([400, 'Empty']);
    for (const body of [{ inputs: 5 }, { inputs: ['ok', 7] }, { inputs: 'x', normalize: 'yes' }, { inputs: 'x', prompt_name: 'query' }, { inputs: 'x', prompt_name: 3 }]) {
      const r = await postJson(`${server.url}/embed`, body);
      expect(r.status, JSON.stringify(body)).toBe(422);
      expect(r.json.error_type).toBe('Validation');
      expect(typeof r.json.error).toBe('string');
    }
  });

  it('describes the model at GET /info', async () => {
    const r = await getJson(`${server.url}/info`);
    expect(r.json).toMatchObject({ model_id: 'glove-100d', max_input_length: 512, max_client_batch_size: 8, dimensions: 100 });
  });
});

describe('health, readiness, stats and metrics', () => {
  it('GET /health and GET /ready answer 200 for a warm pool', async () => {
    expect((await getJson(`${server.url}/health`)).json).toEqual({ status: 'ok' });
    const ready = await getJson(`${server.url}/ready`);
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ status: 'ready', state: 'ready', workersReady: 1, workers: 1 });
  });

  it('GET /ready answers 503 until the workers are warm', async () => {
    const lazy = createPool({ threads: 1, warmup: 'lazy', env: false });
    const s = await startServer(lazy, { port: 0, env: false });
    try {
      const before = await getJson(`${s.url}/ready`);
      expect(before.status).toBe(503);
      expect(before.json.state).toBe('idle');
      await lazy.ready();
      expect((await getJson(`${s.url}/ready`)).status).toBe(200);
    } finally {
      await s.close();
      await lazy.close();
    }
  });

  it('GET /stats is the pool snapshot', async () => {
    const r = await getJson(`${server.url}/stats`);
    const now = pool.stats();
    expect(r.json.workersReady).toBe(1);
    expect(r.json.completed).toBeGreaterThan(0);
    expect(Object.keys(r.json).sort()).toEqual(Object.keys(now).sort());
  });

  it('GET /metrics is Prometheus text with pool, worker and HTTP figures', async () => {
    await postJson(`${server.url}/embed`, { inputs: 'counted' });
    const res = await fetch(`${server.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const value = (line: RegExp) => Number(text.split('\n').find((l) => line.test(l))?.split(' ').pop());
    const stats = pool.stats();
    expect(value(/^warmpool_completed_total /)).toBe(stats.completed);
    expect(value(/^warmpool_texts_total /)).toBe(stats.texts);
    expect(value(/^warmpool_queue_depth /)).toBe(0);
    expect(value(/^warmpool_workers_ready /)).toBe(1);
    // The process's memory: RSS, and on Linux Pss (shared weights counted once).
    expect(value(/^warmpool_process_rss_bytes /)).toBeGreaterThan(10 * 2 ** 20);
    if (process.platform === 'linux') expect(value(/^warmpool_process_pss_bytes /)).toBeGreaterThan(10 * 2 ** 20);
    // One worker so far: the estimate of one more is the average, the figure of stats().memory.
    const estimate = stats.memory!;
    expect(estimate.perWorkerEstimate).toBe('average');
    expect(value(/^warmpool_worker_memory_estimate_bytes\{estimate="average"\} /)).toBeGreaterThan(0);
    expect(text).toMatch(/^warmpool_worker_state\{slot="0",thread_id="\d+",state="ready"\} 1$/m);
    expect(text).toMatch(/^warmpool_run_seconds\{quantile="0.99"\} [\d.e-]+$/m);
    expect(value(/^warmpool_http_requests_total\{method="POST",route="\/embed",status="200"\}/)).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^warmpool_http_request_duration_seconds_bucket\{le="0.1",method="POST",route="\/embed"\} \d+$/m);
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
  });
});

describe('limits and errors', () => {
  it('answers 404, bad JSON, a too-large body and too many inputs with JSON errors', async () => {
    const missing = await getJson(`${server.url}/v2/nothing`);
    expect([missing.status, missing.json.error.code]).toEqual([404, 'not_found']);
    const badJson = await postJson(`${server.url}/v1/embeddings`, '{"input": ');
    expect([badJson.status, badJson.json.error.type]).toEqual([400, 'invalid_request_error']);
    const big = await postJson(`${server.url}/v1/embeddings`, { input: 'x'.repeat(5000) });
    expect(big.status).toBe(413);
    expect(big.json.error.code).toBe('FST_ERR_CTP_BODY_TOO_LARGE');
    const many = await postJson(`${server.url}/v1/embeddings`, { input: Array.from({ length: 9 }, (_, i) => `text ${i}`) });
    expect([many.status, many.json.error.code]).toEqual([400, 'too_many_inputs']);
    const teiMany = await postJson(`${server.url}/embed`, { inputs: Array.from({ length: 9 }, (_, i) => `text ${i}`) });
    expect([teiMany.status, teiMany.json.error_type]).toEqual([422, 'Validation']);
    expect((await getJson(`${server.url}/health`)).status).toBe(200);
  });

  it('answers 503 with Retry-After once the pool is closed', async () => {
    const p = createPool({ threads: 1, env: false });
    await p.ready();
    const s = await startServer(p, { port: 0, env: false });
    try {
      await p.close();
      const r = await postJson(`${s.url}/v1/embeddings`, { input: 'too late' });
      expect(r.status).toBe(503);
      expect(r.json.error.code).toBe('ERR_WARMPOOL_POOL_CLOSED');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const tei = await postJson(`${s.url}/embed`, { inputs: 'too late' });
      expect([tei.status, tei.json.error_type]).toEqual([503, 'Unhealthy']);
      expect(teiProblems('POST /embed', tei.status, tei.json)).toEqual([]);
      expect((await getJson(`${s.url}/ready`)).status).toBe(503);
    } finally {
      await s.close();
    }
  });
});

describe('overload and timeouts (the benchmark-shaped model keeps a worker busy)', () => {
  it('answers 429 with Retry-After when the queue is full, and 504 when a call runs past its timeout', async () => {
    const slow = createPool({ model: 'minilm-shape', threads: 1, concurrentTasksPerWorker: 1, maxQueue: 0, timeout: 150, env: false });
    await slow.ready();
    const s = await startServer(slow, { port: 0, env: false });
    try {
      // Twelve distinct long texts: about a second of model time, well past the 150 ms timeout
      // (a worker whose arena is already at its peak runs the four SLOW_TEXTS in about 300 ms).
      const busy = postJson(`${s.url}/v1/embeddings`, { input: [0, 1, 2].flatMap((i) => SLOW_TEXTS.map((t) => `${i} ${t}`)) });
      // Running, or already timed out: either way the worker still holds the only slot.
      const started = () => slow.stats().inFlight > 0 || slow.stats().timeouts > 0;
      while (!started()) await new Promise((r) => setTimeout(r, 5));
      const over = await postJson(`${s.url}/v1/embeddings`, { input: 'one too many' });
      expect(over.status).toBe(429);
      expect(over.json.error).toMatchObject({ type: 'rate_limit_error', code: 'ERR_WARMPOOL_QUEUE_FULL' });
      expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const teiOver = await postJson(`${s.url}/embed`, { inputs: 'one too many' });
      expect([teiOver.status, teiOver.json.error_type]).toEqual([429, 'Overloaded']);
      expect(teiProblems('POST /embed', teiOver.status, teiOver.json)).toEqual([]);
      expect(Number(teiOver.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const timedOut = await busy;
      expect(timedOut.status).toBe(504);
      expect(timedOut.json.error.code).toBe('ERR_WARMPOOL_TASK_TIMEOUT');
      expect((await getJson(`${s.url}/health`)).status).toBe(200);
    } finally {
      await s.close();
      await slow.close();
    }
  });

  it('aborts the call when the client disconnects, and keeps serving', async () => {
    const slow = createPool({ model: 'minilm-shape', threads: 1, env: false });
    await slow.ready();
    const s = await startServer(slow, { port: 0, env: false });
    try {
      const controller = new AbortController();
      const gone = fetch(`${s.url}/v1/embeddings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: SLOW_TEXTS }),
        signal: controller.signal,
      }).catch((e: unknown) => e);
      while (slow.stats().inFlight === 0) await new Promise((r) => setTimeout(r, 5));
      controller.abort();
      expect(await gone).toBeInstanceOf(Error);
      await expect.poll(() => slow.stats().aborted, { timeout: 5000 }).toBe(1);
      expect((await postJson(`${s.url}/embed`, { inputs: 'still here' })).status).toBe(200);
    } finally {
      await s.close();
      await slow.close();
    }
  });
});
