import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError, SLOW_TEXTS, cosine, createPool, maxAbsDiff, norm, sentence, type WarmPool } from './helpers.js';

describe('call coalescing', () => {
  let batched: WarmPool;
  let plain: WarmPool;
  beforeAll(async () => {
    batched = createPool({ threads: 2, cacheBytes: 0 });
    plain = createPool({ threads: 1, batching: false, cacheBytes: 0 });
    await Promise.all([batched.ready(), plain.ready()]);
  });
  afterAll(() => Promise.all([batched.close(), plain.close()]));

  it('shares tasks between concurrent callers, each getting exactly its own vectors', async () => {
    const long = 'word '.repeat(600);
    const calls = Array.from({ length: 64 }, (_, i) => {
      const texts = Array.from({ length: 1 + (i % 4) }, (_, j) => sentence(i * 10 + j, 3 + ((i * 7 + j) % 30)));
      const options = { normalize: i % 3 !== 0, pooling: i % 5 === 0 ? ('cls' as const) : ('mean' as const), truncate: i % 7 !== 3 };
      if (i % 7 === 3 && i % 2 === 1) texts.push(long); // too long with truncate: false: fails only this call
      return { texts, options };
    });
    const before = batched.stats().tasks;
    const results = await Promise.allSettled(calls.map((c) => batched.embed(c.texts, c.options)));
    const tasks = batched.stats().tasks - before;
    expect(tasks).toBeLessThan(calls.length / 4);
    for (let i = 0; i < calls.length; i++) {
      const { texts, options } = calls[i]!;
      const expected = await plain.embed(texts, options).then((v) => ({ ok: true as const, v }), (e: unknown) => ({ ok: false as const, e }));
      const got = results[i]!;
      if (!expected.ok) {
        expect(got.status).toBe('rejected');
        expect((got as PromiseRejectedResult).reason).toBeInstanceOf(InvalidInputError);
        expect(((got as PromiseRejectedResult).reason as Error).message).toMatch(/has 602 tokens/);
        continue;
      }
      expect(got.status).toBe('fulfilled');
      const vectors = (got as PromiseFulfilledResult<Float32Array[]>).value;
      expect(vectors).toHaveLength(texts.length);
      for (let j = 0; j < texts.length; j++) expect(maxAbsDiff(vectors[j]!, expected.v[j]!)).toBeLessThan(1e-6);
    }
  });

  it('runs the model once for a text that repeats in a task, and answers every copy with its own options', async () => {
    const text = sentence(7, 12);
    const other = sentence(8, 5);
    const long = 'word '.repeat(600);
    const calls = [
      { texts: [text, other, text], options: {} },
      { texts: [text], options: { pooling: 'cls' as const } },
      { texts: [text, text], options: { normalize: false } },
      { texts: [long], options: { truncate: false } }, // fails alone
      { texts: [long, text], options: { truncate: true } }, // the same long text, cut: answered
    ];
    // One worker, so that all five calls share one task.
    const single = createPool({ threads: 1, cacheBytes: 0 });
    await single.ready();
    const results = await Promise.allSettled(calls.map((c) => single.embedPacked(c.texts, c.options)));
    expect(single.stats().tasks).toBe(1);
    await single.close();
    expect(results[3]!.status).toBe('rejected');
    expect((results[3] as PromiseRejectedResult).reason).toBeInstanceOf(InvalidInputError);
    for (const i of [0, 1, 2, 4]) {
      const { texts, options } = calls[i]!;
      expect(results[i]!.status).toBe('fulfilled');
      const got = (results[i] as PromiseFulfilledResult<Awaited<ReturnType<WarmPool['embedPacked']>>>).value;
      const alone = await plain.embedPacked(texts, options);
      expect(got.dims).toEqual(alone.dims);
      expect(got.tokens).toBe(alone.tokens);
      expect(maxAbsDiff(got.data, alone.data)).toBeLessThan(1e-6);
      expect(got.data.byteLength).toBe(got.data.buffer.byteLength);
    }
  });

  it('gives each call a buffer of its own', async () => {
    const [a, b] = await Promise.all([batched.embedPacked(['one', 'two']), batched.embedPacked(['three'])]);
    expect(a.data.buffer).not.toBe(b.data.buffer);
    expect(a.data.byteOffset).toBe(0);
    expect(a.data.buffer.byteLength).toBe(2 * 100 * 4);
    expect(b.data.buffer.byteLength).toBe(100 * 4);
  });

  it('answers small calls (sharing one buffer across threads) and large ones (a buffer each) side by side, each in a buffer of its own', async () => {
    // 100 dims x 4 bytes: calls of up to 40 texts travel in the task's shared buffer, larger ones alone.
    const sizes = [1, 60, 3, 40, 41, 2];
    const calls = sizes.map((n, i) => Array.from({ length: n }, (_, j) => sentence(5000 + i * 100 + j)));
    const before = batched.stats().tasks;
    const got = await Promise.all(calls.map((texts) => batched.embedPacked(texts)));
    expect(batched.stats().tasks - before).toBeLessThan(sizes.length);
    const buffers = new Set(got.map((g) => g.data.buffer));
    expect(buffers.size).toBe(sizes.length);
    for (let i = 0; i < sizes.length; i++) {
      expect(got[i]!.data.byteOffset).toBe(0);
      expect(got[i]!.data.buffer.byteLength).toBe(sizes[i]! * 100 * 4);
      const expected = await plain.embedPacked(calls[i]!);
      expect(maxAbsDiff(got[i]!.data, expected.data)).toBeLessThan(1e-6);
    }
  });

  it('sends one task per call with batching: false', async () => {
    const before = plain.stats().tasks;
    await Promise.all(Array.from({ length: 10 }, (_, i) => plain.embed(sentence(i))));
    expect(plain.stats().tasks - before).toBe(10);
  });

  it('waits up to maxBatchDelay for company when asked to', async () => {
    const pool = createPool({ threads: 1, maxBatchDelay: 200, cacheBytes: 0 });
    await pool.ready();
    const first = pool.embed('first');
    await new Promise((r) => setTimeout(r, 20));
    const second = pool.embed('second');
    await Promise.all([first, second]);
    expect(pool.stats().tasks).toBe(1);
    await pool.close();
  });
});

describe('the task a busy worker keeps (concurrentTasksPerWorker 2, the default)', () => {
  it('is sent while the worker runs another, and runs right after it, in order', async () => {
    // One model run per text (batchSize 1), so a task that ran beside the slow one, rather than
    // after it, would finish first.
    const pool = createPool({ model: 'minilm-shape', threads: 1, batching: false, batchSize: 1, cacheBytes: 0, preallocate: false, env: false });
    await pool.ready();
    try {
      const order: string[] = [];
      const slow = pool.embed(SLOW_TEXTS).then(() => order.push('slow'));
      const short = pool.embed('short').then(() => order.push('short'));
      await new Promise((r) => setImmediate(r));
      // Both are at the worker: the second waits there, not in the pool's queue.
      expect(pool.stats()).toMatchObject({ inFlight: 2, queued: 0 });
      await Promise.all([slow, short]);
      expect(order).toEqual(['slow', 'short']);
      expect(pool.stats().tasks).toBe(2);
    } finally {
      await pool.close();
    }
  });
});

describe('embedding cache', () => {
  let pool: WarmPool;
  beforeAll(async () => {
    pool = createPool({ threads: 1 });
    await pool.ready();
  });
  afterAll(() => pool.close());

  it('answers a repeated text without reaching a worker', async () => {
    const first = await pool.embed('the cached sentence about rivers');
    const tasks = pool.stats().tasks;
    const hitsBefore = pool.stats().cacheHits;
    const again = await pool.embed('the cached sentence about rivers');
    expect(pool.stats().tasks).toBe(tasks);
    expect(pool.stats().cacheHits).toBe(hitsBefore + 1);
    expect(maxAbsDiff(first, again)).toBe(0);
    // Callers own what they get: changing it does not change the cache.
    again.fill(0);
    const third = await pool.embed('the cached sentence about rivers');
    expect(maxAbsDiff(first, third)).toBe(0);
  });

  it('reports the tokens of cached texts as when they were first embedded', async () => {
    const fresh = await pool.embedPacked(['tokens are counted for usage', 'even from the cache']);
    const tasks = pool.stats().tasks;
    const cached = await pool.embedPacked(['tokens are counted for usage', 'even from the cache']);
    expect(pool.stats().tasks).toBe(tasks);
    expect(fresh.tokens).toBeGreaterThan(4);
    expect(cached.tokens).toBe(fresh.tokens);
  });

  it('mixes hits and misses in one call, in input order', async () => {
    await pool.embed(['alpha river', 'gamma forest']);
    const misses = pool.stats().cacheMisses;
    const [a, b, c] = await pool.embed(['alpha river', 'beta mountain', 'gamma forest']);
    expect(pool.stats().cacheMisses).toBe(misses + 1);
    const fresh = createPool({ threads: 1, cacheBytes: 0 });
    const expected = await fresh.embed(['alpha river', 'beta mountain', 'gamma forest']);
    await fresh.close();
    expect(maxAbsDiff(a!, expected[0]!)).toBeLessThan(1e-6);
    expect(maxAbsDiff(b!, expected[1]!)).toBeLessThan(1e-6);
    expect(maxAbsDiff(c!, expected[2]!)).toBeLessThan(1e-6);
  });

  it('keys by options as well as text', async () => {
    const unit = await pool.embed('options matter here');
    const raw = await pool.embed('options matter here', { normalize: false });
    expect(norm(unit)).toBeCloseTo(1, 5);
    expect(norm(raw)).not.toBeCloseTo(1, 3);
    expect(cosine(unit, raw)).toBeCloseTo(1, 5);
  });

  it('stays within cacheBytes, evicting the least recently used', async () => {
    // Room for about three 100-d vectors with their keys.
    const small = createPool({ threads: 1, cacheBytes: 1800 });
    await small.embed(['one', 'two', 'three', 'four', 'five']);
    const tasks = small.stats().tasks;
    await small.embed('five'); // recent: still cached
    expect(small.stats().tasks).toBe(tasks);
    await small.embed('one'); // evicted: back to a worker
    expect(small.stats().tasks).toBe(tasks + 1);
    await small.close();
  });
});
