/**
 * Several models in one pool: custom tasks through the worker contract, the shared thread budget,
 * per-model admission, stats, health and events, and the errors of a call that names the wrong
 * model. Rerank and classify models have their own file (rerank.test.ts).
 */
import diagnostics from 'node:diagnostics_channel';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError,
  CHANNEL_NAMES,
  InferenceError,
  InvalidInputError,
  ModelLoadError,
  PoolClosedError,
  ROOT,
  TaskTimeoutError,
  UnknownModelError,
  WorkerExitedError,
  createPool,
  readStats,
  type RequestEndEvent,
  type WarmPool,
} from './helpers.js';

const TASK = pathToFileURL(`${ROOT}test/fixtures/custom-task.mjs`).href;
const BROKEN = pathToFileURL(`${ROOT}test/fixtures/custom-task-broken.mjs`).href;

interface Out {
  square: number;
  batch: number;
  threadId: number;
  loads: number;
  start: number;
  end: number;
  name: string;
  threads: number;
  vector: Float32Array;
}

describe('a custom model beside the embedder', () => {
  let pool: WarmPool;
  beforeAll(async () => {
    pool = createPool({ threads: 2, preallocate: false, models: { sq: { task: 'custom', module: TASK, threads: 1 }, slow: { task: 'custom', module: TASK, options: { delayMs: 400 }, threads: 1 } } });
    await pool.ready();
  });
  afterAll(() => pool.close());

  it('lists every model with its task and state; the embedder keeps its name "default"', () => {
    expect(pool.models.map((m) => [m.name, m.task, m.state])).toEqual([
      ['default', 'embed', 'ready'],
      ['sq', 'custom', 'ready'],
      ['slow', 'custom', 'ready'],
    ]);
    expect(pool.model?.name).toBe('default');
    expect(pool.models[1]!.options.maxThreads).toBe(1);
    // Each model's intra-op threads share the cores of the pool's budget.
    expect(pool.models[0]!.options.intraOpThreads).toBe(pool.models[1]!.options.intraOpThreads);
  });

  it('loads the module once per worker and coalesces concurrent calls into one batch', async () => {
    const outs = await Promise.all([1, 2, 3, 4].map((x) => pool.run<Out>('sq', x)));
    expect(outs.map((o) => o.square)).toEqual([1, 4, 9, 16]);
    expect(outs.every((o) => o.loads === 1 && o.name === 'sq')).toBe(true);
    // Made in the same tick, the four calls share one task on the one worker.
    expect(new Set(outs.map((o) => o.batch))).toEqual(new Set([4]));
    expect(outs[0]!.vector).toBeInstanceOf(Float32Array);
    expect(Array.from(outs[2]!.vector)).toEqual([3, 9]);
  });

  it('a bad input fails its own call (InvalidInputError); the others of its batch are answered', async () => {
    const [bad, good] = await Promise.allSettled([pool.run('sq', 'nope'), pool.run<Out>('sq', 5)]);
    expect(bad.status).toBe('rejected');
    expect((bad as PromiseRejectedResult).reason).toBeInstanceOf(InvalidInputError);
    expect(String((bad as PromiseRejectedResult).reason.message)).toMatch(/not a number/);
    expect(good.status === 'fulfilled' && good.value.square).toBe(25);
  });

  it('a run that throws fails its calls with InferenceError, and the worker keeps serving', async () => {
    await expect(pool.run('sq', 'throw')).rejects.toBeInstanceOf(InferenceError);
    expect((await pool.run<Out>('sq', 6)).square).toBe(36);
  });

  it('a worker that dies mid-run is replaced; its call fails once the retries are spent', async () => {
    const before = pool.health().models!.sq!.restarts;
    await expect(pool.run('sq', 'crash')).rejects.toBeInstanceOf(WorkerExitedError);
    expect((await pool.run<Out>('sq', 7)).square).toBe(49);
    expect(pool.health().models!.sq!.restarts).toBeGreaterThan(before);
    // The embedder never noticed.
    expect((await pool.embed('still here')).length).toBe(100);
  });

  it('timeouts and aborts apply as for embed(), and the worker keeps its model', async () => {
    await expect(pool.run('slow', 1, { timeout: 50 })).rejects.toBeInstanceOf(TaskTimeoutError);
    const controller = new AbortController();
    const call = pool.run('slow', 2, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(call).rejects.toBeInstanceOf(AbortError);
    await expect(pool.run('slow', 1, { colour: 'red' } as never)).rejects.toBeInstanceOf(InvalidInputError);
    const out = await pool.run<Out>('slow', 3);
    expect(out.square).toBe(9);
    expect(out.loads).toBe(1);
  });

  it('keeps counters per model, each in a stats buffer of its own, and events name the model', async () => {
    const seen: RequestEndEvent[] = [];
    const onEnd = (event: unknown) => seen.push(event as RequestEndEvent);
    diagnostics.subscribe(CHANNEL_NAMES.requestEnd, onEnd);
    try {
      const before = readStats(pool.statsBuffers.sq!).completed;
      await Promise.all([pool.run('sq', 1), pool.embed('a text')]);
      expect(readStats(pool.statsBuffers.sq!).completed).toBe(before + 1);
      const stats = pool.stats();
      expect(Object.keys(stats.models!)).toEqual(['default', 'sq', 'slow']);
      expect(stats.models!.sq!.completed).toBe(before + 1);
      // The top level is the embedder's, as in a pool of one model.
      expect(stats.completed).toBe(stats.models!.default!.completed);
    } finally {
      diagnostics.unsubscribe(CHANNEL_NAMES.requestEnd, onEnd);
    }
    expect(seen.map((e) => [e.model, e.op]).sort()).toEqual([
      ['default', 'embed'],
      ['sq', 'custom'],
    ]);
  });

  it('a call that names a model the pool lacks, or one of another task, is an UnknownModelError listing the models', async () => {
    const wrong = [
      pool.embed('x', { model: 'nope' }),
      pool.embed('x', { model: 'sq' }),
      pool.run('default', 1),
      pool.run('nope', 1),
      pool.rerank('q', ['a']),
      pool.classify('text'),
    ];
    for (const call of wrong) {
      const error = await call.then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(UnknownModelError);
      expect((error as Error).message).toContain('"default" (embed), "sq" (custom), "slow" (custom)');
    }
    await expect(pool.reload({}, 'nope')).rejects.toBeInstanceOf(UnknownModelError);
    await expect(pool.reload({}, 'sq')).rejects.toThrow(/custom/);
  });

  it('health reports each model; the pool is healthy when every model is', () => {
    const health = pool.health();
    expect(health.status).toBe('healthy');
    expect(Object.keys(health.models!)).toEqual(['default', 'sq', 'slow']);
    expect(health.models!.slow!.warm).toBe(1);
  });
});

describe('the thread budget is shared by every model', () => {
  /** The greatest number of batches that ran at the same moment. */
  const overlap = (outs: Out[]): number => {
    const edges = outs.flatMap((o) => [[o.start, 1], [o.end, -1]] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let now = 0;
    let most = 0;
    for (const [, d] of edges) most = Math.max(most, (now += d));
    return most;
  };
  const twoSlowModels = (threads: number) =>
    createPool({
      threads,
      warmup: 'eager',
      preallocate: false,
      concurrentTasksPerWorker: 1,
      models: {
        a: { task: 'custom', module: TASK, options: { delayMs: 300 }, threads: 1, batching: false },
        b: { task: 'custom', module: TASK, options: { delayMs: 300 }, threads: 1, batching: false },
      },
    });

  it('with threads: 1, two models never run at once, and both are served', async () => {
    const pool = twoSlowModels(1);
    try {
      await pool.ready();
      const outs = await Promise.all([pool.run<Out>('a', 1), pool.run<Out>('b', 2), pool.run<Out>('a', 3), pool.run<Out>('b', 4)]);
      expect(outs.map((o) => o.square)).toEqual([1, 4, 9, 16]);
      expect(overlap(outs)).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('with threads: 2, they run side by side', async () => {
    const pool = twoSlowModels(2);
    try {
      await pool.ready();
      const outs = await Promise.all([pool.run<Out>('a', 1), pool.run<Out>('b', 2)]);
      expect(overlap(outs)).toBe(2);
    } finally {
      await pool.close();
    }
  });

  it('an idle model takes nothing from a busy one: the embedder grows to the whole budget', async () => {
    const pool = createPool({ threads: 2, preallocate: false, idleTimeout: 60_000, models: { sq: { task: 'custom', module: TASK, threads: 1 } } });
    try {
      await pool.ready();
      expect(pool.models[0]!.options.minThreads).toBe(1);
      const texts = Array.from({ length: 256 }, (_, i) => `text number ${i} about the weather and the sea`);
      await Promise.all(Array.from({ length: 16 }, (_, i) => pool.embed(texts.slice(i * 16, i * 16 + 16))));
      // The second embedding worker was started for that burst (it may still be loading).
      const deadline = Date.now() + 20_000;
      while (pool.health().models!.default!.workers.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(pool.health().models!.default!.workers.length).toBe(2);
      expect(pool.health().models!.sq!.workers.length).toBe(1);
    } finally {
      await pool.close();
    }
  });
});

describe('model entries are checked at createPool', () => {
  it('refuses unknown keys, bad names, missing models or modules, and entries over the budget', () => {
    expect(() => createPool({ models: { r: { task: 'rerank', model: 'glove-rerank', colour: 1 } as never } })).toThrow(TypeError);
    expect(() => createPool({ models: { 'bad name': { model: 'glove-100d' } } })).toThrow(RangeError);
    expect(() => createPool({ models: {} })).toThrow(RangeError);
    expect(() => createPool({ models: { r: { task: 'rerank' } } })).toThrow(/models\.r\.model/);
    expect(() => createPool({ models: { c: { task: 'custom' } } })).toThrow(/models\.c\.module/);
    expect(() => createPool({ models: { e: { model: 'glove-100d', module: TASK } } })).toThrow(/for task 'custom' only/);
    expect(() => createPool({ models: { e: { task: 'summarise' as never, model: 'x' } } })).toThrow(RangeError);
    expect(() => createPool({ threads: 2, models: { e: { model: 'glove-100d', threads: 3 } } })).toThrow(/budget/);
    expect(() => createPool({ models: { e: { model: 'glove-100d', batchSize: 0 } } })).toThrow(/options\.models\.e/);
  });

  it('the pool model joins as "default" unless an embedding entry stands in for it', async () => {
    const only = createPool({ warmup: 'lazy', models: { mine: { model: 'glove-100d' } } });
    const both = createPool({ warmup: 'lazy', model: 'glove-100d', models: { mine: { model: 'glove-100d' } } });
    const customOnly = createPool({ warmup: 'lazy', models: { sq: { task: 'custom', module: TASK } } });
    try {
      expect(only.models.map((m) => m.name)).toEqual(['mine']);
      expect(both.models.map((m) => m.name)).toEqual(['default', 'mine']);
      expect(customOnly.models.map((m) => m.name)).toEqual(['default', 'sq']);
    } finally {
      await Promise.all([only.close(), both.close(), customOnly.close()]);
    }
  });

  it('a module that cannot be imported, or whose loader returns no run(), fails at start with a ModelLoadError naming the model', async () => {
    for (const module of [pathToFileURL(`${ROOT}test/fixtures/no-such-module.mjs`).href, BROKEN]) {
      const pool = createPool({ threads: 1, preallocate: false, models: { mine: { task: 'custom', module } } });
      try {
        const error = await pool.ready().then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(ModelLoadError);
        expect((error as Error).message).toContain('"mine"');
        expect(pool.models.find((m) => m.name === 'mine')!.state).toBe('failed');
        // The other model of the pool still serves.
        expect((await pool.embed('hello')).length).toBe(100);
      } finally {
        await pool.close();
      }
    }
  });

  it('closing closes every model', async () => {
    const pool = createPool({ threads: 1, preallocate: false, models: { sq: { task: 'custom', module: TASK } } });
    await pool.ready();
    await pool.close();
    expect(pool.state).toBe('closed');
    await expect(pool.run('sq', 1)).rejects.toBeInstanceOf(PoolClosedError);
    await expect(pool.embed('x')).rejects.toBeInstanceOf(PoolClosedError);
  });
});
