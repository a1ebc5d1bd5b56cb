/**
 * The pure parts of the main thread's call path: how a task is sized and packed, how a worker's
 * answer is shared out among its calls, how a call's cached and fresh vectors are put together,
 * and what the cache does around a reload. No worker thread, no model.
 */
import { describe, expect, it } from 'vitest';
import { answerCalls, packTask, taskShare } from '../../dist/src/dispatcher.js';
import { assemble, vectorsOf } from '../../dist/src/answer.js';
import { CallCache } from '../../dist/src/cache.js';
import { CALL_CLS, CALL_NORMALIZE, CALL_TRUNCATE, PACKED_CALL_BYTES } from '../../dist/src/protocol.js';
import { PoolStats, StatsView } from '../../dist/src/stats.js';
import { InvalidInputError, WorkerExitedError, type PackedVectors } from '../helpers.js';

const OPTS = { normalize: true, pooling: 'mean' as const, truncate: true, dimensions: undefined, prompt: undefined, priority: 'interactive' as const, signal: undefined, timeout: undefined };

/** A call as answerCalls sees it: its texts, and what it was settled with. */
class FakeCall {
  settled = false;
  data: Float32Array | undefined;
  tokens = 0;
  error: Error | undefined;
  constructor(readonly texts: string[]) {}
  finish(data: Float32Array, width: number, tokens: Int32Array, tokensAt: number): void {
    if (this.settled) return;
    this.settled = true;
    this.data = data;
    for (let i = tokensAt; i < tokensAt + this.texts.length; i++) this.tokens += tokens[i]!;
    expect(data.length).toBe(this.texts.length * width);
  }
  fail(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.error = error;
  }
}

const texts = (n: number, tag: string): string[] => Array.from({ length: n }, (_, i) => `${tag}${i}`);

describe('taskShare', () => {
  it('spreads what waits evenly over the idle workers', () => {
    expect(taskShare(10, 4, 8)).toBe(3);
    expect(taskShare(1, 4, 8)).toBe(1);
  });

  it('spreads it over the free task places when every worker is busy', () => {
    expect(taskShare(10, 0, 2)).toBe(5);
  });
});

const LIMITS = { batchSize: 32, maxBatchTokens: 8192, batchRunMs: 250 };

describe('packTask', () => {
  it('puts every call\'s texts in one array, and each call\'s count and flags in one Int32Array', () => {
    const task = packTask(
      [
        { texts: ['a', 'b'], opts: OPTS },
        { texts: ['c'], opts: { ...OPTS, pooling: 'cls', normalize: false } },
        { texts: ['d'], opts: { ...OPTS, truncate: false } },
      ],
      { batchSize: 32, maxBatchTokens: 8192, batchRunMs: 250 },
      5,
    );
    expect(task).toEqual({
      op: 'embed',
      texts: ['a', 'b', 'c', 'd'],
      calls: Int32Array.from([2, CALL_NORMALIZE | CALL_TRUNCATE, 1, CALL_TRUNCATE | CALL_CLS, 1, CALL_NORMALIZE]),
      batchSize: 32,
      maxBatchTokens: 8192,
      batchRunMs: 250,
      cancelSlot: 5,
      lane: 0,
    });
  });

  it('carries a rerank call\'s query, a custom call\'s inputs, and the lane', () => {
    const rerank = packTask([{ texts: ['d1', 'd2'], opts: OPTS, extra: { pair: 'q' } }, { texts: ['d3'], opts: OPTS, extra: { pair: 'r' } }], LIMITS, 1, 'rerank', 1);
    expect(rerank).toMatchObject({ op: 'rerank', texts: ['d1', 'd2', 'd3'], pairs: ['q', 'r'], lane: 1 });
    expect(Array.from(rerank.calls.filter((_, i) => i % 2 === 0))).toEqual([2, 1]);
    const custom = packTask([{ texts: [], opts: OPTS, extra: { inputs: [{ a: 1 }] } }, { texts: [], opts: OPTS, extra: { inputs: [2, 3] } }], LIMITS, 1, 'custom');
    expect(custom).toMatchObject({ op: 'custom', texts: [], inputs: [{ a: 1 }, 2, 3], lane: 0 });
    expect(Array.from(custom.calls.filter((_, i) => i % 2 === 0))).toEqual([1, 2]);
  });
});

describe('answerCalls', () => {
  const width = 4;
  const large = PACKED_CALL_BYTES / 4 / width + 1;

  it('copies each small call out of the shared buffer into one of its own, and hands a large call its buffer', () => {
    const calls = [new FakeCall(texts(2, 's')), new FakeCall(texts(large, 'l')), new FakeCall(texts(1, 't'))];
    const packed = Float32Array.from({ length: 3 * width }, (_, i) => i);
    const own = new Float32Array(large * width).fill(7);
    const tokens = Int32Array.from({ length: 3 + large }, () => 2);
    tokens[0] = 5;
    answerCalls(calls, { vectors: [null, own, null], packed, width, maxTokens: 512, tokens, errors: [] });
    expect(Array.from(calls[0]!.data!)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(calls[0]!.data!.buffer).not.toBe(packed.buffer);
    expect(calls[1]!.data).toBe(own);
    expect(Array.from(calls[2]!.data!)).toEqual([8, 9, 10, 11]);
    expect(calls[2]!.data!.buffer).not.toBe(calls[0]!.data!.buffer);
    expect(calls.map((c) => c.tokens)).toEqual([7, 2 * large, 2]);
  });

  it('fails only the call whose input was bad, and keeps the others\' places', () => {
    const calls = [new FakeCall(texts(1, 'a')), new FakeCall(texts(2, 'b')), new FakeCall(texts(1, 'c'))];
    const packed = Float32Array.from({ length: 4 * width }, (_, i) => i);
    answerCalls(calls, {
      vectors: [null, null, null],
      packed,
      width,
      maxTokens: 512,
      tokens: new Int32Array(4),
      errors: [[1, { code: 'ERR_WARMPOOL_INVALID_INPUT', message: 'input[1] has 600 tokens' }]],
    });
    expect(calls[1]!.error).toBeInstanceOf(InvalidInputError);
    expect(calls[1]!.data).toBeUndefined();
    expect(Array.from(calls[0]!.data!)).toEqual([0, 1, 2, 3]);
    expect(Array.from(calls[2]!.data!)).toEqual([12, 13, 14, 15]);
  });

  it('copies nothing for a call that already gave up', () => {
    const calls = [new FakeCall(texts(1, 'a')), new FakeCall(texts(1, 'b'))];
    calls[0]!.settled = true;
    answerCalls(calls, { vectors: [null, null], packed: new Float32Array(2 * width).fill(1), width, maxTokens: 512, tokens: new Int32Array(2), errors: [] });
    expect(calls[0]!.data).toBeUndefined();
    expect(Array.from(calls[1]!.data!)).toEqual([1, 1, 1, 1]);
  });

  it('fails every call with the task\'s error when the model could not run', () => {
    const calls = [new FakeCall(['a']), new FakeCall(['b'])];
    answerCalls(calls, { error: { code: 'ERR_WARMPOOL_WORKER_EXITED', message: 'gone' } });
    for (const call of calls) expect(call.error).toBeInstanceOf(WorkerExitedError);
  });
});

describe('assemble and vectorsOf', () => {
  const fresh: PackedVectors = { data: Float32Array.from([1, 1, 3, 3]), dims: [2, 2], tokens: 10 };

  it('returns the worker\'s answer as it is when nothing came from the cache', () => {
    expect(assemble(2, undefined, fresh, 0)).toBe(fresh);
    expect(assemble(2, [undefined, undefined], fresh, 0)).toBe(fresh);
  });

  it('puts cached and fresh vectors back in input order, with all their tokens', () => {
    const packed = assemble(4, [undefined, { vector: Float32Array.from([2, 2]), tokens: 4 }, undefined, { vector: Float32Array.from([4, 4]), tokens: 6 }], fresh, 0);
    expect(Array.from(packed.data)).toEqual([1, 1, 2, 2, 3, 3, 4, 4]);
    expect(packed.dims).toEqual([4, 2]);
    expect(packed.tokens).toBe(20);
  });

  it('answers an empty call with no vectors of the model\'s width', () => {
    expect(assemble(0, undefined, undefined, 100)).toEqual({ data: new Float32Array(0), dims: [0, 100], tokens: 0 });
  });

  it('gives one vector for a string and views over one buffer for an array', () => {
    expect(vectorsOf({ data: Float32Array.from([1, 2]), dims: [1, 2], tokens: 1 }, true)).toEqual(Float32Array.from([1, 2]));
    const many = vectorsOf(fresh, false) as Float32Array[];
    expect(many.map((v) => Array.from(v))).toEqual([
      [1, 1],
      [3, 3],
    ]);
    expect(many[0]!.buffer).toBe(fresh.data.buffer);
  });
});

describe('CallCache', () => {
  const newCache = (): { cache: CallCache; stats: PoolStats } => {
    const stats = new PoolStats(StatsView.create(1));
    return { cache: new CallCache(1 << 20, stats), stats };
  };
  const tokensOf = { textTokens: (i: number): number => 3 + i };

  it('sends only the misses, keyed by options and text, and counts hits and misses', () => {
    const { cache, stats } = newCache();
    const first = cache.lookup(['a', 'b'], OPTS);
    expect(first.misses).toEqual(['a', 'b']);
    cache.fill(first, { data: Float32Array.from([1, 0, 0, 1]), dims: [2, 2], tokens: 7 }, tokensOf);
    const second = cache.lookup(['b', 'c', 'a'], OPTS);
    expect(second.misses).toEqual(['c']);
    expect(second.hits.map((h) => h && [Array.from(h.vector), h.tokens])).toEqual([[[0, 1], 4], undefined, [[1, 0], 3]]);
    // Other options are another key.
    expect(cache.lookup(['a'], { ...OPTS, normalize: false }).misses).toEqual(['a']);
    const snapshot = stats.snapshot();
    expect([snapshot.cacheHits, snapshot.cacheMisses]).toEqual([2, 4]);
  });

  it('caches nothing during a rolling reload, and tells a call whose lookup a reload overtook', () => {
    const { cache } = newCache();
    const before = cache.lookup(['a'], OPTS);
    cache.beginRoll();
    expect(cache.current(before)).toBe(false);
    const during = cache.lookup(['a'], OPTS);
    cache.fill(during, { data: Float32Array.from([1, 0]), dims: [1, 2], tokens: 3 }, tokensOf);
    expect(cache.lookup(['a'], OPTS).misses).toEqual(['a']);
    cache.endRoll();
    expect(cache.current(during)).toBe(false);
    const after = cache.lookup(['a'], OPTS);
    expect(cache.current(after)).toBe(true);
    cache.fill(after, { data: Float32Array.from([1, 0]), dims: [1, 2], tokens: 3 }, tokensOf);
    expect(cache.lookup(['a'], OPTS).misses).toEqual([]);
  });
});
