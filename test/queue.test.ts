import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError,
  InferenceError,
  InvalidInputError,
  PoolClosedError,
  QueueFullError,
  TaskTimeoutError,
  createPool,
  createQueueClient,
  createQueueWorker,
  decodeVectors,
  encodeVectors,
  ROOT,
  sentence,
  type QueueClient,
  type QueueWorker,
  type WarmPool,
} from './helpers.js';
import { startRedis, type RedisServer } from './redis-server.js';

const bytes = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);

async function waitForFinal(queue: Queue, id: string) {
  for (let i = 0; i < 200; i++) {
    const state = await queue.getJobState(id);
    if (state === 'failed' || state === 'completed') return { state, job: (await queue.getJob(id))! };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${id} did not finish`);
}

describe('loading', () => {
  it('loads BullMQ only when a queue client or worker is created', () => {
    const script = `
      import { createRequire } from 'node:module';
      const { createQueueClient } = await import('./dist/src/queue/index.js');
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/node_modules/bullmq/'));
      const before = loaded();
      const client = createQueueClient({ connection: 'redis://127.0.0.1:1', queue: 'q' });
      const after = loaded();
      await client.close();
      console.log(JSON.stringify({ before, after }));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ before: false, after: true });
  });
});

describe('vector codec', () => {
  it('round-trips float32 bit-exactly through base64', () => {
    const v = Float32Array.from([0, -0, 1, -1, 1e-45, 3.4028234663852886e38, Infinity, -Infinity, Math.PI, 0.1]);
    const back = decodeVectors(encodeVectors(v), v.length);
    expect(bytes(back).equals(bytes(v))).toBe(true);
    expect(Object.is(back[1], -0)).toBe(true);
    // little-endian on the wire: 1.0f is 00 00 80 3f
    expect(Buffer.from(encodeVectors(Float32Array.of(1)), 'base64')).toEqual(Buffer.from([0, 0, 0x80, 0x3f]));
  });

  it('encodes a view at an offset, and rejects a block of the wrong length', () => {
    const big = Float32Array.from({ length: 8 }, (_, i) => i);
    expect(Array.from(decodeVectors(encodeVectors(big.subarray(3, 5)), 2))).toEqual([3, 4]);
    expect(() => decodeVectors(encodeVectors(big), 7)).toThrow(InferenceError);
  });
});

describe('createQueueClient / createQueueWorker', () => {
  let redis: RedisServer;
  let pool: WarmPool;
  let worker: QueueWorker;
  let client: QueueClient;
  let raw: Queue;

  beforeAll(async () => {
    redis = await startRedis();
    pool = createPool({ threads: 1 });
    await pool.ready();
    worker = createQueueWorker({ connection: redis.url, queue: 'main', pool, lockDuration: 2000, stalledInterval: 1000 });
    client = createQueueClient({ connection: redis.url, queue: 'main', reconcileInterval: 100 });
    raw = new Queue('main', { connection: { url: redis.url } });
    await Promise.all([worker.ready(), client.ready(), raw.waitUntilReady()]);
  });

  afterAll(async () => {
    await client?.close();
    await raw?.close();
    await worker?.close();
    await pool?.close();
    await redis?.stop();
  });

  describe('#index', () => {
    it("upserts documents into the consumer's store, idempotently, with typed errors", async () => {
      const store = mkdtempSync(join(tmpdir(), 'warmpool-queue-index-'));
      const owner = createPool({ threads: 1, storePath: store });
      const consumer = createQueueWorker({ connection: redis.url, queue: 'index-notes', pool: owner, concurrency: 1 });
      const writer = createQueueClient({ connection: redis.url, queue: 'index-notes', reconcileInterval: 100 });
      try {
        await Promise.all([consumer.ready(), writer.ready()]);
        const docs = [
          { id: 'guitar', text: 'A man is playing a guitar on stage.', metadata: { topic: 'music' } },
          { id: 'market', text: 'The stock market fell sharply today.', metadata: { topic: 'finance' } },
        ];
        const result = await writer.index(docs, { collection: 'notes' });
        expect(result).toMatchObject({ ids: ['guitar', 'market'], count: 2 });
        // At-least-once delivery is harmless: the same job again changes nothing.
        await writer.index(docs, { collection: 'notes' });
        expect(await owner.count({ collection: 'notes' })).toBe(2);
        const [hit] = await owner.search('Someone plays an instrument.', { collection: 'notes', k: 1 });
        expect(hit!.id).toBe('guitar');
        await expect(writer.index(docs, { collection: '' })).rejects.toThrow(InvalidInputError);
        await expect(writer.index([{ id: 'x', text: '' }], { collection: 'notes' })).rejects.toThrow(InvalidInputError);
      } finally {
        await writer.close();
        await consumer.close();
        await owner.close();
        rmSync(store, { recursive: true, force: true });
      }
    });
  });

  describe('#rerank and #classify', () => {
    it("answer on a consumer's rerank and classify models what the local pool answers, with typed errors", async () => {
      const owner = createPool({ threads: 1, preallocate: false, models: { rerank: { task: 'rerank', model: 'glove-rerank' }, tags: { task: 'classify', model: 'glove-rerank' } } });
      const consumer = createQueueWorker({ connection: redis.url, queue: 'rerank', pool: owner });
      const caller = createQueueClient({ connection: redis.url, queue: 'rerank', reconcileInterval: 100 });
      try {
        await Promise.all([owner.ready(), consumer.ready(), caller.ready()]);
        const docs = ['The cat sat on the mat.', 'To sort a list, call its sort method.', 'Rain is expected tonight.'];
        const remote = await caller.rerank('how do I sort a list?', docs, { topN: 2 });
        expect(remote).toEqual(await owner.rerank('how do I sort a list?', docs, { topN: 2 }));
        expect(remote[0]!.index).toBe(1);
        expect(await caller.rerank('q', [])).toEqual([]);
        expect(await caller.classify('one text', { model: 'tags' })).toEqual(await owner.classify('one text', { model: 'tags' }));
        expect(await caller.classify(['a', 'b'], { model: 'tags' })).toHaveLength(2);
        // Checked on the caller's machine, before anything is queued.
        await expect(caller.rerank('', docs)).rejects.toBeInstanceOf(InvalidInputError);
        // A model the consumer lacks is the consumer's typed error.
        await expect(caller.rerank('q', docs, { model: 'nope' })).rejects.toThrow(/no model named "nope"/);
      } finally {
        await caller.close();
        await consumer.close();
        await owner.close();
      }
    });
  });

  describe('#embed', () => {
    it('returns the same vector, bit for bit, as the local pool', async () => {
      const text = 'A man is playing a guitar.';
      const [remote, local] = await Promise.all([client.embed(text), pool.embed(text)]);
      expect(remote).toBeInstanceOf(Float32Array);
      expect(remote.length).toBe(100);
      expect(bytes(remote).equals(bytes(local))).toBe(true);
    });

    it('shortens vectors to dimensions on the client, from the full vectors the consumer answers', async () => {
      const texts = [sentence(1), sentence(2)];
      const short = await client.embedPacked(texts, { dimensions: 16, normalize: false });
      const full = await pool.embed(texts, { normalize: false });
      expect(short.dims).toEqual([2, 16]);
      expect(Array.from(short.data.subarray(16, 32))).toEqual(Array.from(full[1]!.subarray(0, 16)));
      await expect(client.embed('x', { dimensions: 101 })).rejects.toThrow(/have 100 components/);
    });

    it("sends prompt to the consumer, whose model's prompts decide (glove has none)", async () => {
      await expect(client.embed('x', { prompt: 'query' })).rejects.toThrow(/is not one of the model's prompts/);
    });

    it('returns an array in input order, with call options applied remotely', async () => {
      const texts = Array.from({ length: 9 }, (_, i) => sentence(i));
      const remote = await client.embed(texts, { normalize: false, pooling: 'cls' });
      const local = await pool.embed(texts, { normalize: false, pooling: 'cls' });
      expect(remote).toHaveLength(9);
      remote.forEach((v, i) => expect(bytes(v).equals(bytes(local[i]!))).toBe(true));
      expect(await client.embed([])).toEqual([]);
    });

    it('embedPacked gives one row-major block', async () => {
      const packed = await client.embedPacked(['one river', 'two bridges']);
      expect(packed.dims).toEqual([2, 100]);
      expect(packed.data).toHaveLength(200);
    });

    it('rejects bad input at once, without a job', async () => {
      const before = client.stats().submitted;
      await expect(client.embed('   ')).rejects.toThrow(InvalidInputError);
      await expect(client.embed(['ok', 5 as unknown as string])).rejects.toThrow(/input\[1\] must be a string, received number 5/);
      await expect(client.embed('x', { pooling: 'max' as 'mean' })).rejects.toThrow(InvalidInputError);
      expect(client.stats().submitted).toBe(before);
    });

    it('fails a job the consumer finds invalid with InvalidInputError, and the consumer keeps working', async () => {
      const failedBefore = worker.stats().failed;
      const error = await client.embed('river '.repeat(700), { truncate: false }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((error as InvalidInputError).code).toBe('ERR_WARMPOOL_INVALID_INPUT');
      expect((error as Error).message).toMatch(/input\[0\] has 70\d tokens; the model takes at most 512/);
      expect(worker.stats().failed).toBe(failedBefore + 1);
      expect(await client.embed('still serving')).toHaveLength(100);
    });

    it('never retries bad input, unknown operations or malformed jobs', async () => {
      const jobs = await Promise.all([
        raw.add('embed', { texts: ['river '.repeat(700)], options: { truncate: false } }, { attempts: 3 }),
        raw.add('frobnicate', { texts: ['x'] }, { attempts: 3 }),
        raw.add('embed', { texts: 5 }, { attempts: 3 }),
        raw.add('embed', { texts: ['x'], options: { timeout: 5 } }, { attempts: 3 }),
      ]);
      for (const j of jobs) {
        const { state, job } = await waitForFinal(raw, j.id!);
        expect(state).toBe('failed');
        expect(job.attemptsMade).toBe(1);
        expect(job.failedReason).toMatch(/^ERR_WARMPOOL_INVALID_INPUT: /);
      }
      expect((await waitForFinal(raw, jobs[1]!.id!)).job.failedReason).toContain('unknown job name "frobnicate"; this consumer serves embed');
    });
  });

  describe('#embedMany', () => {
    it('embeds an async iterable in jobs of batchSize, in order, reporting progress', async () => {
      const texts = Array.from({ length: 50 }, (_, i) => sentence(i + 100));
      async function* source() {
        for (const t of texts) yield t;
      }
      const progress: { jobsDone: number; jobsTotal: number; textsDone: number; textsPerSecond: number }[] = [];
      const out = await client.embedMany(source(), { batchSize: 7, window: 3, onProgress: (p) => progress.push(p) });
      const local = await pool.embed(texts);
      expect(out).toHaveLength(50);
      out.forEach((v, i) => expect(bytes(v).equals(bytes(local[i]!))).toBe(true));
      expect(progress).toHaveLength(8);
      const last = progress.at(-1)!;
      expect(last).toMatchObject({ jobsDone: 8, jobsTotal: 8, textsDone: 50 });
      expect(last.textsPerSecond).toBeGreaterThan(0);
    });

    it('names the position of a bad text in the whole input', async () => {
      const texts = ['a', 'b', 'c', '', 'e'];
      await expect(client.embedMany(texts, { batchSize: 2 })).rejects.toThrow(/input\[3\] is empty/);
    });
  });

  describe('back-pressure and waiting', () => {
    it('answers QueueFullError at once when maxWaiting jobs wait, across clients', async () => {
      const a = createQueueClient({ connection: redis.url, queue: 'nobody', maxWaiting: 3, reconcileInterval: 50 });
      const b = createQueueClient({ connection: redis.url, queue: 'nobody', maxWaiting: 3, reconcileInterval: 50 });
      const waiting = [a.embed('one'), a.embed('two'), a.embed('three')];
      const settled = waiting.map((p) => p.catch((e: unknown) => e));
      const t0 = performance.now();
      await expect(a.embed('four')).rejects.toThrow(QueueFullError);
      expect(performance.now() - t0).toBeLessThan(1000);
      expect(a.stats()).toMatchObject({ pending: 3, rejected: 1 });
      // b sees a's jobs after its next reconciliation with Redis.
      for (let i = 0; i < 100 && b.stats().queued < 3; i++) await new Promise((r) => setTimeout(r, 20));
      await expect(b.embed('five')).rejects.toThrow(QueueFullError);
      await a.close();
      for (const e of await Promise.all(settled)) expect(e).toBeInstanceOf(PoolClosedError);
      await expect(a.embed('after')).rejects.toThrow(PoolClosedError);
      await b.close();
    });

    it('gives up waiting with TaskTimeoutError, or AbortError on a signal, when no consumer answers', async () => {
      const c = createQueueClient({ connection: redis.url, queue: 'nobody-2', timeout: 300 });
      await expect(c.embed('no one listens')).rejects.toThrow(TaskTimeoutError);
      const ac = new AbortController();
      const p = c.embed('no one listens', { signal: ac.signal, timeout: 60_000 });
      setTimeout(() => ac.abort(new Error('enough')), 50);
      await expect(p).rejects.toThrow(AbortError);
      expect(c.stats().pending).toBe(0);
      await c.close();
    });
  });

  describe('options', () => {
    it('are validated once, with the value received', () => {
      expect(() => createQueueClient({ connection: 5 as unknown as string, queue: 'q' })).toThrow(/options.connection must be a Redis URL or connection options, received 5/);
      expect(() => createQueueClient({ connection: 'http://x', queue: 'q' })).toThrow(RangeError);
      expect(() => createQueueClient({ connection: redis.url, queue: '' })).toThrow(RangeError);
      expect(() => createQueueClient({ connection: redis.url, queue: 'q', maxWaiting: 0 })).toThrow(/options.maxWaiting must be an integer from 1 to 9007199254740991, received 0/);
      expect(() => createQueueClient({ connection: redis.url, queue: 'q', timeout: 'x' as unknown as number })).toThrow(TypeError);
      // Timers past 2^31 - 1 ms would fire after 1 ms: refused, not armed.
      expect(() => createQueueClient({ connection: redis.url, queue: 'q', timeout: 2 ** 31 })).toThrow(/options.timeout must be a number from 1 to 2147483647 or Infinity, received 2147483648/);
      expect(() => createQueueClient({ connection: redis.url, queue: 'q', reconcileInterval: 2 ** 40 })).toThrow(RangeError);
      // close() must return whatever Redis does: no Infinity.
      expect(() => createQueueClient({ connection: redis.url, queue: 'q', closeTimeout: Infinity })).toThrow(/options.closeTimeout must be an integer from 0 to 2147483647, received Infinity/);
      expect(() => createQueueWorker({ connection: redis.url, queue: 'q', pool, closeTimeout: -1 })).toThrow(RangeError);
      expect(() => createQueueWorker({ connection: redis.url, queue: 'q', pool, lockDuration: 2 ** 31 })).toThrow(RangeError);
      expect(() => createQueueWorker({ connection: redis.url, queue: 'q', pool, stalledInterval: 2 ** 31 })).toThrow(RangeError);
      expect(() => createQueueWorker({ connection: redis.url, queue: 'q', pool: {} as WarmPool })).toThrow(/options.pool must be a warm pool/);
      expect(() => createQueueWorker({ connection: redis.url, queue: 'q', pool, concurrency: 0 })).toThrow(RangeError);
      expect(() => createQueueWorker({ connection: redis.url, queue: 'q', pool, handlers: { index: 1 as never } })).toThrow(/handlers.index must be a function/);
    });

    it('passes the rate limiter to BullMQ: at most max jobs per duration', async () => {
      const w = createQueueWorker({ connection: redis.url, queue: 'limited', pool, limiter: { max: 4, duration: 1000 } });
      const c = createQueueClient({ connection: redis.url, queue: 'limited' });
      const t0 = performance.now();
      const out = await Promise.all(Array.from({ length: 9 }, (_, i) => c.embed(sentence(500 + i))));
      // 9 jobs at 4 per second need at least two full windows.
      expect(performance.now() - t0).toBeGreaterThan(1900);
      expect(out).toHaveLength(9);
      await c.close();
      await w.close();
    });

    it('takes more operations as handlers, one entry each', async () => {
      const w = createQueueWorker({
        connection: redis.url,
        queue: 'ops',
        pool,
        handlers: { count: async (data) => ({ n: (data as { texts: string[] }).texts.length }) },
      });
      const q = new Queue('ops', { connection: { url: redis.url } });
      const job = await q.add('count', { texts: ['a', 'b'] });
      const { state, job: done } = await waitForFinal(q, job.id!);
      expect(state).toBe('completed');
      expect(done.returnvalue).toEqual({ n: 2 });
      await q.close();
      await w.close();
    });
  });
});
