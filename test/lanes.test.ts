/**
 * Priority lanes: an interactive call waits ahead of batch work in the queue, and on a worker that
 * runs a batch task it runs between two of that task's model runs, so it waits for at most about
 * one model run of the batch work, never for the whole of it.
 */
import { performance } from 'node:perf_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError, LONG_TEXT, createPool, maxAbsDiff, type WarmPool } from './helpers.js';

/** Long texts (about 200 tokens each), different from one another, so the cache never answers. */
const bulk = (n: number, tag: string): string[] => Array.from({ length: n }, (_, i) => `${tag} ${i} ${LONG_TEXT.slice(0, 1200)}`);

describe('priority lanes on one worker', () => {
  let pool: WarmPool;
  /** How long one model run of the batch work takes (one sub-batch of batchSize texts). */
  let subBatchMs = 0;
  beforeAll(async () => {
    // Small sub-batches, so a batch task is many model runs.
    pool = createPool({ model: 'minilm-shape', threads: 1, batchSize: 4, cacheBytes: 0, preallocate: false });
    await pool.ready();
    await pool.embed(bulk(4, 'warm'));
    const t = performance.now();
    await pool.embed(bulk(4, 'measure'));
    subBatchMs = performance.now() - t;
  });
  afterAll(() => pool.close());

  it('an interactive call made while a batch call runs waits about one model run, not the whole batch call', async () => {
    const texts = bulk(64, 'bulk');
    const began = performance.now();
    const batch = pool.embed(texts, { priority: 'batch' });
    // Well into the batch call (16 model runs).
    await new Promise((resolve) => setTimeout(resolve, subBatchMs * 3));
    const asked = performance.now();
    const vector = await pool.embed('where did the river go?');
    const waited = performance.now() - asked;
    const vectors = await batch;
    const batchMs = performance.now() - began;
    expect(vector).toHaveLength(384);
    // Without lanes it would wait for the rest of the batch call (about 13 model runs).
    expect(waited, `interactive ${waited.toFixed(0)} ms, one model run ${subBatchMs.toFixed(0)} ms, batch call ${batchMs.toFixed(0)} ms`).toBeLessThan(subBatchMs * 4);
    expect(batchMs).toBeGreaterThan(waited * 3);
    // The batch call's answer is untouched by what ran in between.
    const again = await pool.embed(texts.slice(0, 8));
    for (let i = 0; i < 8; i++) expect(maxAbsDiff(vectors[i]!, again[i]!)).toBeLessThan(1e-5);
  });

  it('a stream of interactive calls during a batch call each waits about one model run, not a growing queue', async () => {
    const batch = pool.embed(bulk(96, 'stream'), { priority: 'batch' });
    let done = false;
    void batch.then(() => (done = true));
    const waits: number[] = [];
    const calls: Promise<unknown>[] = [];
    // Several calls per model run of the batch work: each must reach the worker at once and run
    // before its next model run, not wait behind the one interactive task already there.
    while (!done && calls.length < 40) {
      const asked = performance.now();
      calls.push(pool.embed(`question ${calls.length} ${Math.random()}`).then(() => waits.push(performance.now() - asked)));
      await new Promise((resolve) => setTimeout(resolve, subBatchMs / 3));
    }
    await Promise.all([batch, ...calls]);
    expect(waits.length).toBeGreaterThan(5);
    waits.sort((a, b) => a - b);
    expect(waits.at(-1)!, `waits ${waits.map((w) => w.toFixed(0)).join(' ')} ms, one model run ${subBatchMs.toFixed(0)} ms`).toBeLessThan(subBatchMs * 4);
  });

  it('a waiting interactive call goes ahead of a batch call that was waiting before it', async () => {
    const order: string[] = [];
    const first = pool.embed(bulk(16, 'first'), { priority: 'batch' }).then(() => order.push('batch 1'));
    // Made together, behind a running batch task: the interactive one goes first.
    await new Promise((resolve) => setTimeout(resolve, subBatchMs));
    const second = pool.embed(bulk(16, 'second'), { priority: 'batch' }).then(() => order.push('batch 2'));
    const third = pool.embed(bulk(4, 'third')).then(() => order.push('interactive'));
    await Promise.all([first, second, third]);
    expect(order.indexOf('interactive')).toBeLessThan(order.indexOf('batch 2'));
  });

  it('counts each lane: batchRequests, queuedBatch, and the interactive calls\' own wait times', async () => {
    const before = pool.stats();
    const batch = pool.embed(bulk(32, 'count'), { priority: 'batch' });
    const queued = pool.embed(bulk(8, 'count2'), { priority: 'batch' });
    await pool.embed('an interactive call');
    await Promise.all([batch, queued]);
    const after = pool.stats();
    expect(after.batchRequests - before.batchRequests).toBe(2);
    expect(after.interactiveWaitTime.count - before.interactiveWaitTime.count).toBe(1);
    expect(after.waitTime.count - before.waitTime.count).toBe(3);
    expect(after.queuedBatch).toBe(0);
    expect(after.queued).toBe(0);
  });

  it('refuses a priority that is not interactive or batch', async () => {
    await expect(pool.embed('x', { priority: 'urgent' as never })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(pool.embed('x', { priority: 'urgent' as never })).rejects.toThrow(/priority must be one of 'interactive', 'batch'/);
  });
});

describe('batchRunMs: batch work in short model runs', () => {
  /** Interactive waits during a batch call of full sub-batches (32 texts of ~200 tokens: about 6,400 padded tokens a run), and the batch call's vectors. */
  const during = async (batchRunMs: number): Promise<{ waits: number[]; vectors: Float32Array[] }> => {
    const pool = createPool({ model: 'minilm-shape', threads: 1, cacheBytes: 0, preallocate: false, batchRunMs });
    try {
      await pool.ready();
      // Teaches the worker what a token costs (and warms onnxruntime for these shapes).
      await pool.embed(bulk(32, `warm${batchRunMs}`), { priority: 'batch' });
      const texts = bulk(128, 'run');
      let done = false;
      const batch = pool.embed(texts, { priority: 'batch' }).finally(() => (done = true));
      const waits: number[] = [];
      await new Promise((resolve) => setTimeout(resolve, 100));
      while (!done && waits.length < 12) {
        const asked = performance.now();
        await pool.embed(`an interactive question ${waits.length}`);
        waits.push(performance.now() - asked);
        await new Promise((resolve) => setTimeout(resolve, 60));
      }
      return { waits, vectors: await batch };
    } finally {
      await pool.close();
    }
  };
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

  it('cuts a batch call into runs of about batchRunMs, so an interactive call waits about that long; the vectors are the same', async () => {
    const whole = await during(0);
    const short = await during(150);
    expect(whole.waits.length).toBeGreaterThanOrEqual(2);
    expect(short.waits.length).toBeGreaterThanOrEqual(2);
    // A whole sub-batch is several times a 150 ms run (at least 1,024 padded tokens).
    expect(median(short.waits), `waits with batchRunMs 150: ${short.waits.map(Math.round).join(', ')}; with 0: ${whole.waits.map(Math.round).join(', ')}`).toBeLessThan(median(whole.waits) / 2);
    for (let i = 0; i < whole.vectors.length; i++) expect(maxAbsDiff(whole.vectors[i]!, short.vectors[i]!)).toBeLessThan(1e-5);
  });
});

describe('collections put bulk indexing in the batch lane', () => {
  it('indexStream and large index() calls are batch work; small ones and searches are interactive; priority overrides', async () => {
    const store = mkdtempSync(join(tmpdir(), 'warmpool-lanes-'));
    const pool = createPool({ threads: 1, storePath: store, preallocate: false });
    try {
      const docs = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ id: `${tag}${i}`, text: `${tag} document number ${i} about rivers` }));
      const count = () => pool.stats().batchRequests;
      await pool.index(docs(3, 'small'), { collection: 'c' });
      expect(count()).toBe(0);
      await pool.index(docs(100, 'large'), { collection: 'c' });
      expect(count()).toBe(1);
      await pool.index(docs(100, 'forced'), { collection: 'c', priority: 'interactive' });
      expect(count()).toBe(1);
      await pool.indexStream(docs(10, 'stream'), { collection: 'c', batchSize: 5 });
      expect(count()).toBe(3);
      await pool.search('rivers', { collection: 'c' });
      expect(count()).toBe(3);
      await expect(pool.index(docs(1, 'bad'), { collection: 'c', priority: 'soon' as never })).rejects.toBeInstanceOf(InvalidInputError);
      expect(await pool.count({ collection: 'c' })).toBe(213);
    } finally {
      await pool.close();
      rmSync(store, { recursive: true, force: true });
    }
  });
});
