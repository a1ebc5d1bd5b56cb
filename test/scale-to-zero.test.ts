/**
 * Light when idle: `threads.min: 0` keeps no worker (and no model in memory) until a call comes,
 * and lets it go after `idleTimeout`; `pool.unload()` lets every worker go now, and `pool.warm()`
 * brings them back.
 */
import { describe, expect, it } from 'vitest';
import { PoolClosedError, SLOW_TEXTS, createPool } from './helpers.js';

const until = async (check: () => boolean, ms = 20_000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
};

/** What the process costs now: Pss where the kernel tells it (shared pages once), else RSS. */
const memory = (pool: ReturnType<typeof createPool>): number => {
  const m = pool.stats().memory!;
  return m.pssBytes ?? m.rssBytes;
};

describe('threads.min: 0', () => {
  it('is ready with no worker, warms one for a call, and lets it go after idleTimeout', async () => {
    const pool = createPool({ threads: { min: 0, max: 2 }, idleTimeout: 200, preallocate: false, cacheBytes: 0 });
    try {
      await pool.ready();
      expect(pool.state).toBe('ready');
      expect(pool.stats().workersReady).toBe(0);
      expect(pool.health().status).toBe('healthy');
      expect(pool.stats().modelLoads).toBe(0);
      const [a, b] = await pool.embed(['A man is playing a guitar.', 'Someone plays an instrument.']);
      expect(a).toHaveLength(100);
      expect(b).toHaveLength(100);
      expect(pool.stats().modelLoads).toBe(1);
      await until(() => pool.stats().workersReady === 0);
      expect(pool.health().status).toBe('healthy');
      // And back again for the next call, with the same vectors.
      const again = await pool.embed('A man is playing a guitar.');
      expect(Array.from(again)).toEqual(Array.from(a!));
      expect(pool.stats().modelLoads).toBe(2);
    } finally {
      await pool.close();
    }
  });
});

describe('pool.unload() and pool.warm()', () => {
  it('let every worker go once its calls are done, free the model memory, and bring them back', async () => {
    const pool = createPool({ model: 'minilm-shape', threads: 2, idleTimeout: 200, preallocate: false, cacheBytes: 0 });
    try {
      await pool.ready();
      await pool.embed(SLOW_TEXTS);
      const loaded = memory(pool);
      // A call running when unload() is asked still gets its answer.
      const running = pool.embed(SLOW_TEXTS);
      await new Promise((resolve) => setImmediate(resolve));
      await pool.unload();
      expect((await running)).toHaveLength(4);
      expect(pool.stats().workersReady).toBe(0);
      expect(pool.health().status).toBe('healthy');
      expect(pool.health().warm).toBe(0);
      // Two workers of a 90 MB model and their arenas are gone.
      const unloaded = memory(pool);
      expect(loaded - unloaded, `loaded ${(loaded / 2 ** 20).toFixed(0)} MB, unloaded ${(unloaded / 2 ** 20).toFixed(0)} MB`).toBeGreaterThan(100 * 2 ** 20);
      // A call warms one worker, which leaves again after idleTimeout (the pool stays unloaded).
      expect(await pool.embed('one call')).toHaveLength(384);
      await until(() => pool.stats().workersReady === 0);
      // warm() brings back threads.min.
      await pool.warm();
      expect(pool.stats().workersReady).toBe(2);
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(pool.stats().workersReady).toBe(2);
    } finally {
      await pool.close();
    }
    await expect(pool.unload()).rejects.toBeInstanceOf(PoolClosedError);
    await expect(pool.warm()).rejects.toBeInstanceOf(PoolClosedError);
  });

  it('unload and warm every model of a pool of several', async () => {
    const pool = createPool({ threads: 2, preallocate: false, models: { rerank: { task: 'rerank', model: 'glove-rerank', threads: 1 } } });
    try {
      await pool.ready();
      await pool.unload();
      expect(pool.stats().models!.default!.workersReady).toBe(0);
      expect(pool.stats().models!.rerank!.workersReady).toBe(0);
      expect(pool.health().status).toBe('healthy');
      expect((await pool.rerank('q', ['a', 'b'])).length).toBe(2);
      await pool.warm();
      expect(pool.stats().models!.default!.workersReady).toBe(1);
      expect(pool.stats().models!.rerank!.workersReady).toBe(1);
    } finally {
      await pool.close();
    }
  });
});
