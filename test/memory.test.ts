/**
 * Native memory at load: with `preallocate` a worker runs the largest batches it may ever run
 * right after it reports ready (as batch work), so onnxruntime's arena is at its peak early and
 * RSS does not climb while texts of every length come. Off by default. This file runs in a process of its own
 * (vitest forks one per file), so no earlier pool's freed memory hides the growth.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { peakShapes } from '../dist/workers/engine.js';
import { createPool, type WarmPool } from './helpers.js';

const rssMb = (): number => process.memoryUsage().rss / 2 ** 20;
const pools: WarmPool[] = [];
afterAll(() => Promise.all(pools.map((p) => p.close())));

describe('peakShapes: the largest runs a worker can make', () => {
  it('is one shape when the token budget fills whole texts of the longest length', () => {
    expect(peakShapes(512, 32, 8192)).toEqual([{ rows: 16, seq: 512 }]);
    expect(peakShapes(512, 8, 8192)).toEqual([{ rows: 8, seq: 512 }]);
  });

  it('is two shapes when more, shorter texts hold more tokens than the longest ones', () => {
    // Budget 1100: 2 x 512 has the most attention scores (2 x 512^2); 4 x 275 the most tokens (1100).
    expect(peakShapes(512, 32, 1100)).toEqual([
      { rows: 2, seq: 512 },
      { rows: 4, seq: 275 },
    ]);
    // Budget 1000: 2 x 500 has both the most scores and the most tokens.
    expect(peakShapes(512, 32, 1000)).toEqual([{ rows: 2, seq: 500 }]);
  });

  it('is a single text of the longest length when the budget is smaller than it (a lone long text still runs)', () => {
    expect(peakShapes(512, 32, 100)).toEqual([{ rows: 1, seq: 512 }]);
    expect(peakShapes(512, 1, 8192)).toEqual([{ rows: 1, seq: 512 }]);
  });
});

describe('preallocate', () => {
  it('brings the arena to its peak once ready: the largest batches afterwards add almost nothing to RSS', async () => {
    const before = rssMb();
    const pool = createPool({ model: 'minilm-shape', threads: 1, intraOpThreads: 1, cacheBytes: 0, preallocate: true, env: false });
    pools.push(pool);
    await pool.ready();
    // The peak runs come after ready, in the worker's batch lane: a batch call queued now runs after them.
    await pool.embed('after the peak', { priority: 'batch' });
    const ready = rssMb();
    // A 90 MB model plus a peak run of 16 x 512 tokens (attention scores alone are 12 heads x
    // 512^2 floats per row): far more than the model.
    expect(ready - before).toBeGreaterThan(300);

    // The largest batch by the token budget (16 texts of 512 tokens), then texts whose length
    // the batcher underestimates (one token per character: 32 of them fit batchSize, and would
    // be 32 x 512 padded tokens in one run if the budget were not checked after tokenizing).
    const long = Array.from({ length: 16 }, (_, i) => `${i} ${'river '.repeat(600)}`);
    const dense = Array.from({ length: 32 }, (_, i) => `${i}${'\u4e00\u4e8c\u4e09\u56db'.repeat(150)}`);
    const vectors = [...(await pool.embed(long, { truncate: true })), ...(await pool.embed(dense, { truncate: true }))];
    expect(vectors).toHaveLength(48);
    for (const v of vectors) expect(v.every(Number.isFinite)).toBe(true);
    const after = rssMb();
    expect(after - ready).toBeLessThan(0.1 * (ready - before));
  });
});
