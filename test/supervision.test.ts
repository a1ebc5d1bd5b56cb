import diagnostics from 'node:diagnostics_channel';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CHANNEL_NAMES,
  LONG_TEXT,
  LoadTimeoutError,
  MODELS_DIR,
  ModelLoadError,
  PoolClosedError,
  ROOT,
  WorkerExitedError,
  clearTestHooks,
  createPool,
  maxAbsDiff,
  sentence,
  setTestHooks,
  type RequestEndEvent,
  type WarmPool,
  type WorkerExitEvent,
  type WorkerReadyEvent,
} from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'warmpool-supervision-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
// Test hooks (failures on purpose) apply to every worker started while they are set.
afterEach(clearTestHooks);

const until = async (condition: () => boolean, timeout: number, what: string): Promise<void> => {
  const deadline = performance.now() + timeout;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

describe('crashing workers', () => {
  let reference: WarmPool;
  beforeAll(async () => {
    reference = createPool({ threads: 1, cacheBytes: 0 });
    await reference.ready();
  });
  afterAll(() => reference.close());

  it('answers 1,000 concurrent calls through several crashes: each once, with its vector or a typed error', async () => {
    const texts = Array.from({ length: 1000 }, (_, i) => sentence(i, 8));
    const expected = await reference.embed(texts);
    setTestHooks({ crash: 0.03, exit: 0.03 });
    const pool = createPool({ threads: 2, cacheBytes: 0, maxBatchSize: 8, retries: 2 });
    await pool.ready();
    const ends = new Map<number, number>();
    const onEnd = (m: unknown) => {
      const e = m as RequestEndEvent;
      if (e.poolId === pool.id) ends.set(e.requestId, (ends.get(e.requestId) ?? 0) + 1);
    };
    diagnostics.subscribe(CHANNEL_NAMES.requestEnd, onEnd);
    const results = await Promise.allSettled(texts.map((t) => pool.embed(t)));
    diagnostics.unsubscribe(CHANNEL_NAMES.requestEnd, onEnd);

    let ok = 0;
    for (let i = 0; i < texts.length; i++) {
      const r = results[i]!;
      if (r.status === 'fulfilled') {
        ok++;
        expect(maxAbsDiff(r.value, expected[i]!)).toBeLessThan(1e-6);
      } else {
        expect(r.reason).toBeInstanceOf(WorkerExitedError);
      }
    }
    expect(ends.size).toBe(1000);
    expect([...ends.values()].every((n) => n === 1)).toBe(true);
    const s = pool.stats();
    expect(s.workerCrashes).toBeGreaterThanOrEqual(2);
    expect(s.retries).toBeGreaterThanOrEqual(2);
    expect(s.completed).toBe(ok);
    expect(s.requests).toBe(s.completed + s.errors + s.rejected + s.inFlight + s.queued);
    expect(ok).toBeGreaterThan(900);
    // The pool replaced what it lost and is whole again.
    await until(() => pool.health().status === 'healthy', 15_000, 'the pool to be healthy again');
    await pool.close();
  });

  it.each([['exit', { exit: 1 }], ['crash', { crash: 1 }]] as const)(
    'fails a call with WorkerExitedError once its retries are used up, and counts the crash (%s)',
    async (_kind, hooks) => {
      setTestHooks(hooks);
      const pool = createPool({ threads: 1, retries: 0 });
      await pool.ready();
      const error = await pool.embed('doomed').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WorkerExitedError);
      expect((error as Error).message).toMatch(/exited before answering \(1 attempt\)/);
      await until(() => pool.stats().workerCrashes === 1, 5_000, 'the crash to be counted');
      await pool.close();
    },
  );
});

describe('health checks', () => {
  it('ends a worker whose event loop hangs and replaces it, within the health deadline', async () => {
    setTestHooks({ hang: 0.3 });
    const pool = createPool({ threads: 2, cacheBytes: 0, retries: 5, healthInterval: 100, healthTimeout: 600 });
    await pool.ready();
    const started = performance.now();
    const worst: number[] = [];
    // Each task hangs with probability 0.3: 8 calls alone see no hang 6% of the time.
    for (let i = 0; i < 8 || (pool.stats().workersHung === 0 && i < 40); i++) {
      const t0 = performance.now();
      await pool.embed(sentence(i));
      worst.push(performance.now() - t0);
    }
    const s = pool.stats();
    expect(s.workersHung).toBeGreaterThanOrEqual(1);
    // A hung call is answered after the deadline (600 ms) plus a check (100 ms) plus the retry,
    // which may meet another hang: seconds, never a stall.
    expect(Math.max(...worst)).toBeLessThan(15_000);
    expect(performance.now() - started).toBeLessThan(60_000);
    await pool.close();
  });

  it('reports healthy, degraded and unhealthy with per-worker detail', async () => {
    const pool = createPool({ threads: 2, warmup: 'lazy' });
    expect(pool.health().status).toBe('unhealthy');
    await pool.ready();
    await pool.embed(['a b', 'c d']);
    const h = pool.health();
    expect(h).toMatchObject({ status: 'healthy', state: 'ready', wanted: 2, warm: 2, restarts: 0 });
    expect(h.workers).toHaveLength(2);
    expect(h.workers[0]).toEqual({
      threadId: expect.any(Number),
      phase: 'ready',
      busy: 0,
      tasks: expect.any(Number),
      errors: 0,
      lastMs: expect.any(Number),
      loadMs: expect.any(Number),
    });
    await pool.close();
    expect(pool.health().status).toBe('unhealthy');
  });

  it('backs off when replacement workers cannot load the model, says why, and recovers by itself', async () => {
    const model = join(tmp, 'flaky-model');
    cpSync(join(MODELS_DIR, 'glove-100d'), model, { recursive: true });
    const onnx = join(model, 'onnx', 'model.onnx');
    const good = readFileSync(onnx);
    // Every task kills its worker, so each call forces a replacement to load the model again.
    setTestHooks({ exit: 1 });
    const pool = createPool({ model, threads: 1, retries: 0 });
    await pool.ready();
    writeFileSync(onnx, good.subarray(0, 1000)); // the model breaks on disk
    await pool.embed('kills the worker').catch(() => {});
    await until(() => pool.health().lastError !== undefined, 10_000, 'a failed load');
    const h = pool.health();
    expect(h.status).toBe('unhealthy');
    expect(h.lastError).toContain(model);
    const error = await pool.embed('no model now').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toMatch(/no worker has the model loaded; the last attempt failed/);
    // Backoff: attempts double from 0.5 s, so over 2 s only a few loads are tried.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(pool.stats().loadFailures).toBeLessThanOrEqual(4);
    writeFileSync(onnx, good); // repaired
    await until(() => pool.health().status === 'healthy', 40_000, 'recovery');
    expect(pool.health().lastError).toBeUndefined();
    await pool.close();
  });
});

describe('a start where some workers load and others fail', () => {
  it('serves with those that loaded, reports degraded, and is healthy once the others load', async () => {
    setTestHooks({ loadFail: [2] });
    const pool = createPool({ threads: 2, preallocate: false });
    try {
      await pool.ready();
      expect(pool.state).toBe('ready');
      const h = pool.health();
      expect(h.status).toBe('degraded');
      expect(h.warm).toBe(1);
      expect(h.workers.map((w) => w.phase).sort()).toEqual(['failed', 'ready']);
      expect(await pool.embed('served by the worker that loaded')).toHaveLength(100);
      // The failed worker is replaced after a backoff; with loading fixed, it comes up.
      clearTestHooks();
      await until(() => pool.health().status === 'healthy', 30_000, 'the replacement');
      expect(pool.health().warm).toBe(2);
    } finally {
      await pool.close();
    }
  });

  it('still fails with the ModelLoadError when no worker loads', async () => {
    setTestHooks({ loadFail: [1, 2] });
    const pool = createPool({ threads: 2, preallocate: false });
    try {
      const error = await pool.ready().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ModelLoadError);
      expect((error as Error).message).toMatch(/test-only: worker [12] cannot load/);
      expect(pool.state).toBe('failed');
      await expect(pool.embed('x')).rejects.toBeInstanceOf(ModelLoadError);
    } finally {
      await pool.close();
    }
  });
});

describe('restart storms: workers that die while loading the model', () => {
  it('fails start-up with ModelLoadError instead of respawning forever', async () => {
    setTestHooks({ loadExit: true });
    try {
      const pool = createPool({ threads: 2 });
      const error = await pool.ready().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ModelLoadError);
      expect((error as Error).message).toMatch(/a worker exited \(code 3\) while loading model .*glove-100d/);
      expect(pool.state).toBe('failed');
      await new Promise((r) => setTimeout(r, 500));
      expect(pool.stats().loadFailures).toBeLessThanOrEqual(3);
      await pool.close();
    } finally {
      clearTestHooks();
    }
  });

  it('after start, backs off, reports unhealthy, and recovers when loading works again', async () => {
    setTestHooks({ exit: 1 });
    const pool = createPool({ threads: 1, retries: 0 });
    await pool.ready();
    setTestHooks({ loadExit: true });
    await pool.embed('kills its worker').catch(() => {});
    await until(() => pool.health().lastError !== undefined, 10_000, 'a failed load');
    expect(pool.health().status).toBe('unhealthy');
    expect(pool.health().lastError).toMatch(/exited \(code 3\) while loading/);
    await expect(pool.embed('nothing can run this')).rejects.toBeInstanceOf(ModelLoadError);
    const failures = pool.stats().loadFailures;
    await new Promise((r) => setTimeout(r, 2_000));
    // Backoff doubling from 0.5 s: a handful of attempts, not a spin. (An attempt can cost two
    // worker starts: Piscina restarts a fresh set's first worker once by itself.)
    expect(pool.stats().loadFailures - failures).toBeLessThanOrEqual(6);
    setTestHooks({ loadExit: undefined });
    await until(() => pool.health().status === 'healthy', 40_000, 'recovery');
    expect(pool.health().lastError).toBeUndefined();
    await pool.close();
  });
});

describe('threads { min, max }', () => {
  it('starts a worker above min for callers whose calls coalesce into tasks of several model runs', async () => {
    // 16 callers in a closed loop: each round their calls coalesce into one task on the one warm
    // worker, so no call ever waits in a queue; the task's size alone must bring the second worker.
    const pool = createPool({ threads: { min: 1, max: 2 }, batchSize: 4, idleTimeout: 60_000, cacheBytes: 0, preallocate: false });
    try {
      await pool.ready();
      let round = 0;
      await Promise.all(
        Array.from({ length: 16 }, async (_, caller) => {
          for (let i = 0; i < 20; i++) await pool.embed(`caller ${caller} round ${i} ${round++}`);
        }),
      );
      // It was asked for during the rounds (it may still be loading: glove-100d's rounds are fast).
      await until(() => pool.health().workers.length === 2, 15_000, 'the second worker');
    } finally {
      await pool.close();
    }
  });

  it('starts workers above min on demand and stops them when idle, without counting a crash', async () => {
    const long = 'alpha river stone music light '.repeat(20);
    const slow = [long, long, long, long];
    const pool = createPool({ model: 'minilm-shape', threads: { min: 1, max: 2 }, idleTimeout: 300, maxBatchSize: 4, cacheBytes: 0 });
    await pool.ready();
    expect(pool.health().warm).toBe(1);
    await Promise.all([pool.embed(slow), pool.embed(slow.map((t) => `${t} more`))]);
    // Busy with the first call, the pool started a second worker (which may still be loading).
    await until(() => pool.stats().modelLoads === 2, 10_000, 'a second worker');
    await until(() => pool.health().warm === 1 && pool.health().workers.length === 1, 10_000, 'the extra worker to stop');
    expect(pool.stats().workerCrashes).toBe(0);
    expect(pool.health().status).toBe('healthy');
    await pool.close();
  });
});

describe('a worker thread that cannot be created after start-up', () => {
  it('is a failed load that backs off: the pool keeps serving, says why, and adds the worker later', async () => {
    // The pool's second worker thread cannot be created (as when the process is out of threads).
    setTestHooks({ spawnFail: [2] });
    const pool = createPool({ threads: { min: 1, max: 2 }, cacheBytes: 0, env: false });
    const errors: unknown[] = [];
    const onError = (message: unknown) => errors.push((message as { error: unknown }).error);
    diagnostics.subscribe('warmpool:worker:error', onError);
    try {
      await pool.ready();
      // Busy with the first task, the pool asks for a second worker: it cannot be created.
      const first = await Promise.all(Array.from({ length: 300 }, (_, i) => pool.embed(sentence(i))));
      expect(first).toHaveLength(300);
      await until(() => pool.stats().loadFailures === 1, 5_000, 'the failed start to be counted');
      expect(errors.some((e) => e instanceof ModelLoadError && /could not start a worker thread.*WARMPOOL_TEST_HOOKS spawnFail/.test(e.message))).toBe(true);
      expect(pool.stats()).toMatchObject({ workerCrashes: 0, errors: 0 });
      expect(pool.health().status).toBe('healthy');
      // After the backoff, more load gets its second worker (the next thread can be created).
      const deadline = performance.now() + 20_000;
      for (let round = 0; pool.stats().modelLoads < 2; round++) {
        if (performance.now() > deadline) throw new Error('no second worker after the backoff');
        await Promise.all(Array.from({ length: 50 }, (_, i) => pool.embed(sentence(1000 + round * 50 + i))));
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(pool.stats().loadFailures).toBe(1);
    } finally {
      diagnostics.unsubscribe('warmpool:worker:error', onError);
      clearTestHooks();
      await pool.close();
    }
  });
});

describe('recycleHeapMb', () => {
  it('replaces a worker past its heap limit by a warm one before it leaves, without failing a call', async () => {
    const pool = createPool({ threads: 1, recycleHeapMb: 1, healthInterval: 50, cacheBytes: 0 });
    await pool.ready();
    // Every task leaves the worker past 1 MiB, so each replacement is recycled after its first task.
    // Replacements load one at a time (about a second each here): bound the wait by time, not calls.
    const deadline = Date.now() + 90_000;
    for (let i = 0; pool.stats().recycled < 3; i++) {
      if (Date.now() > deadline) throw new Error('no third recycle');
      await pool.embed(sentence(i));
    }
    await until(() => pool.health().workers.length === 1, 20_000, 'the last recycle to end');
    await pool.embed('after recycling');
    const s = pool.stats();
    expect(s.errors).toBe(0);
    expect(s.workerCrashes).toBe(0);
    expect(s.modelLoads).toBeGreaterThanOrEqual(3);
    expect(s.workers.find((w) => w.state === 'ready')!.heapMb).toBeGreaterThan(1);
    await pool.close();
  });

  it('under load, never has fewer warm workers than wanted: each replacement is warm before the worker it replaces leaves', async () => {
    const pool = createPool({ threads: 2, recycleHeapMb: 1, healthInterval: 50, cacheBytes: 0 });
    await pool.ready();
    // Worker events in the order the pool saw them.
    const order: ('ready' | 'exit')[] = [];
    const onReady = (m: unknown) => {
      if ((m as WorkerReadyEvent).poolId === pool.id) order.push('ready');
    };
    const onExit = (m: unknown) => {
      if ((m as WorkerExitEvent).poolId === pool.id) order.push('exit');
    };
    diagnostics.subscribe(CHANNEL_NAMES.workerReady, onReady);
    diagnostics.subscribe(CHANNEL_NAMES.workerExit, onExit);
    let fewestWarm = Infinity;
    let mostAlive = 0;
    const sampler = setInterval(() => {
      const h = pool.health();
      fewestWarm = Math.min(fewestWarm, h.warm);
      mostAlive = Math.max(mostAlive, h.workers.length);
    }, 5);
    let stop = false;
    const failures: unknown[] = [];
    const load = async (id: number) => {
      for (let i = 0; !stop; i++) {
        await pool.embed([sentence(id * 100_000 + i), sentence(id * 100_000 + i + 50_000)]).catch((e: unknown) => failures.push(e));
      }
    };
    const loops = Array.from({ length: 4 }, (_, id) => load(id));
    try {
      await until(() => order.filter((e) => e === 'exit').length >= 4, 60_000, 'four recycled workers to leave');
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    await until(() => pool.health().workers.length === 2, 20_000, 'the last recycle to end');
    clearInterval(sampler);
    diagnostics.unsubscribe(CHANNEL_NAMES.workerReady, onReady);
    diagnostics.unsubscribe(CHANNEL_NAMES.workerExit, onExit);

    expect(failures).toEqual([]);
    expect(fewestWarm).toBe(2);
    expect(mostAlive).toBe(3);
    // One replacement at a time, each warm before the worker it replaces is gone: at every exit,
    // more replacements have become ready than workers have left.
    let readies = 0;
    let exits = 0;
    for (const event of order) {
      if (event === 'ready') readies++;
      else expect(readies).toBeGreaterThanOrEqual(++exits);
    }
    const s = pool.stats();
    expect(s.recycled).toBeGreaterThanOrEqual(4);
    expect(s.errors).toBe(0);
    expect(s.workerCrashes).toBe(0);
    await pool.close();
  });
});

describe('resourceLimits', () => {
  it('runs workers under V8 limits, and names an out-of-memory death at load', async () => {
    const roomy = createPool({ threads: 1, resourceLimits: { maxOldGenerationSizeMb: 256 } });
    expect(await roomy.embed('fits')).toHaveLength(100);
    await roomy.close();
    const tiny = createPool({ threads: 1, resourceLimits: { maxOldGenerationSizeMb: 8 } });
    const error = await tiny.ready().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toMatch(/while loading model .*memory limit/);
    await tiny.close();
  });

  it('starts and embeds with the stack and code range at the ends of their ranges', async () => {
    // Past these ends a worker does not fail by itself: it aborts the whole process as it starts.
    for (const resourceLimits of [{ stackSizeMb: 1, codeRangeSizeMb: 4096 }, { stackSizeMb: 1024, codeRangeSizeMb: 1 }]) {
      const pool = createPool({ threads: 1, resourceLimits });
      expect(await pool.embed('fits')).toHaveLength(100);
      await pool.close();
    }
  });

  it('accepts onnxruntime memory settings without changing results', async () => {
    const a = createPool({ threads: 1, cpuMemArena: false, memPattern: false, cacheBytes: 0 });
    const b = createPool({ threads: 1, cacheBytes: 0 });
    const texts = [sentence(1, 5), sentence(2, 50), sentence(3, 200)];
    const [va, vb] = await Promise.all([a.embed(texts), b.embed(texts)]);
    for (let i = 0; i < texts.length; i++) expect(maxAbsDiff(va[i]!, vb[i]!)).toBe(0);
    await Promise.all([a.close(), b.close()]);
  });
});

describe('close() in every state', () => {
  const run = (code: string) =>
    spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });

  it.each([
    ['while starting', `const pool = createPool({ threads: 2 }); await pool.close();`],
    ['while busy with crashing workers', `
      process.env.WARMPOOL_TEST_HOOKS = '{"crash":0.3,"exit":0.3}';
      const pool = createPool({ threads: 2, retries: 1 });
      const calls = Array.from({ length: 200 }, (_, i) => pool.embed('text ' + i).catch(() => {}));
      await new Promise((r) => setTimeout(r, 300));
      await pool.close({ timeout: 100 });
      await Promise.all(calls);`],
    ['during a restart storm', `
      process.env.WARMPOOL_TEST_HOOKS = '{"exit":1}';
      const pool = createPool({ threads: 1, retries: 0 });
      await pool.ready();
      process.env.WARMPOOL_TEST_HOOKS = '{"exit":1,"loadExit":true}';
      await pool.embed('x').catch(() => {});
      await new Promise((r) => setTimeout(r, 700));
      await pool.close();`],
    ['during a reload', `
      const pool = createPool({ threads: 1 });
      await pool.ready();
      const reload = pool.reload({ dtype: 'fp32' }).catch(() => {});
      await pool.close();
      await reload;`],
    ['with a hung worker', `
      process.env.WARMPOOL_TEST_HOOKS = '{"hang":1}';
      const pool = createPool({ threads: 1, retries: 0, healthTimeout: 60000 });
      await pool.ready();
      const call = pool.embed('spins').catch((e) => e.code);
      await new Promise((r) => setTimeout(r, 200));
      await pool.close({ timeout: 100 });
      console.log(await call);`],
  ])('closes %s and lets the process exit by itself', (_state, body) => {
    const r = run(`import { createPool } from './dist/src/index.js';\n${body}\nconsole.log('closed');`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('closed');
  });
});

describe('#reload', () => {
  it('switches models under load with zero failed calls', async () => {
    const copy = join(tmp, 'glove-copy');
    cpSync(join(MODELS_DIR, 'glove-100d'), copy, { recursive: true });
    const pool = createPool({ threads: 2, cacheBytes: 0 });
    await pool.ready();
    const before = pool.stats().modelLoads;
    let stop = false;
    let done = 0;
    const failures: unknown[] = [];
    const load = async (id: number) => {
      for (let i = 0; !stop; i++) {
        try {
          await pool.embed(sentence(id * 100_000 + i));
          done++;
        } catch (error) {
          failures.push(error);
        }
      }
    };
    const loops = Array.from({ length: 8 }, (_, id) => load(id));
    await new Promise((r) => setTimeout(r, 300));
    await pool.reload({ model: copy });
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await Promise.all(loops);
    expect(failures).toEqual([]);
    expect(done).toBeGreaterThan(50);
    expect(pool.model!.model).toBe(copy);
    const s = pool.stats();
    expect(s.modelLoads - before).toBe(2);
    expect(s.reloads).toBe(1);
    expect(s.workers.filter((w) => w.state === 'ready')).toHaveLength(2);
    await pool.close();
  });

  it('replaces one worker at a time under load: never more than one extra worker, each call from one model', async () => {
    const texts = Array.from({ length: 40 }, (_, i) => sentence(i, 6));
    const gloveRef = createPool({ threads: 1, cacheBytes: 0 });
    const minilmRef = createPool({ model: 'minilm-shape', threads: 1, cacheBytes: 0 });
    const [gloveVectors, minilmVectors] = await Promise.all([gloveRef.embed(texts), minilmRef.embed(texts)]);
    await Promise.all([gloveRef.close(), minilmRef.close()]);
    const expected = new Map([
      [100, gloveVectors],
      [384, minilmVectors],
    ]);

    // The cache stays on: a call made before the reload must not mix cached vectors of one model
    // with fresh ones of the other.
    const pool = createPool({ threads: 2 });
    await pool.ready();
    let fewestWarm = Infinity;
    let mostAlive = 0;
    const sampler = setInterval(() => {
      const h = pool.health();
      fewestWarm = Math.min(fewestWarm, h.warm);
      mostAlive = Math.max(mostAlive, h.workers.length, pool.stats().workers.filter((w) => w.state !== 'exited').length);
    }, 5);
    let stop = false;
    const failures: unknown[] = [];
    const mismatches: string[] = [];
    const answeredBy = { 100: 0, 384: 0 } as Record<number, number>;
    const load = async (id: number) => {
      for (let i = 0; !stop; i++) {
        // Two texts that repeat (cache hits once seen) and one that never does (so every call
        // reaches a worker); the repeated ones are checked against both models' vectors.
        const picks = [0, 1].map((k) => (id * 7 + i * 3 + k * 13) % texts.length);
        try {
          const vectors = await pool.embed([...picks.map((p) => texts[p]!), sentence(1_000_000 + id * 100_000 + i, 6)]);
          const dims = vectors[0]!.length;
          const reference = expected.get(dims);
          if (!reference) mismatches.push(`a call got ${dims}-d vectors`);
          else if (picks.some((p, k) => maxAbsDiff(vectors[k]!, reference[p]!) > 1e-3)) mismatches.push(`call ${id}/${i} mixes models`);
          else answeredBy[dims]!++;
        } catch (error) {
          failures.push(error);
        }
      }
    };
    const loops = Array.from({ length: 6 }, (_, id) => load(id));
    try {
      await new Promise((r) => setTimeout(r, 300));
      await pool.reload({ model: 'minilm-shape' });
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      stop = true;
      await Promise.all(loops);
      clearInterval(sampler);
    }
    expect(failures).toEqual([]);
    expect(mismatches).toEqual([]);
    expect(answeredBy[100]).toBeGreaterThan(0);
    expect(answeredBy[384]).toBeGreaterThan(0);
    expect(fewestWarm).toBe(2);
    // Two workers wanted: a new one beside the old ones, never two new ones at once.
    expect(mostAlive).toBe(3);
    expect(pool.model).toMatchObject({ model: join(MODELS_DIR, 'minilm-shape'), dims: 384 });
    const h = pool.health();
    expect(h).toMatchObject({ status: 'healthy', warm: 2 });
    expect(h.workers.map((w) => w.phase)).toEqual(['ready', 'ready']);
    expect(maxAbsDiff(await pool.embed(texts[5]!), minilmVectors[5]!)).toBeLessThan(1e-3);
    expect(pool.stats().reloads).toBe(1);
    await pool.close();
  });

  it('puts the replaced workers back when a later worker cannot load the new model', async () => {
    const copy = join(tmp, 'glove-rollback');
    cpSync(join(MODELS_DIR, 'glove-100d'), copy, { recursive: true });
    const pool = createPool({ threads: 2, cacheBytes: 0 });
    await pool.ready();
    // The first new worker loads; the next one dies while loading (the variable is read when a
    // worker starts), and the workers that put the old model back load again.
    let readies = 0;
    const onReady = (m: unknown) => {
      if ((m as WorkerReadyEvent).poolId === pool.id && ++readies === 1) setTestHooks({ loadExit: true });
    };
    const onError = (m: unknown) => {
      if ((m as { poolId: string }).poolId === pool.id) setTestHooks({ loadExit: undefined });
    };
    diagnostics.subscribe(CHANNEL_NAMES.workerReady, onReady);
    diagnostics.subscribe(CHANNEL_NAMES.workerError, onError);
    let stop = false;
    const failures: unknown[] = [];
    const load = async (id: number) => {
      for (let i = 0; !stop; i++) await pool.embed(sentence(id * 100_000 + i)).catch((e: unknown) => failures.push(e));
    };
    const loops = Array.from({ length: 4 }, (_, id) => load(id));
    try {
      const error = await pool.reload({ model: copy }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ModelLoadError);
      expect((error as Error).message).toMatch(/reload failed, the pool keeps its current model: a worker exited \(code 3\) while loading model/);
    } finally {
      stop = true;
      await Promise.all(loops);
      diagnostics.unsubscribe(CHANNEL_NAMES.workerReady, onReady);
      diagnostics.unsubscribe(CHANNEL_NAMES.workerError, onError);
      clearTestHooks();
    }
    expect(failures).toEqual([]);
    expect(readies).toBeGreaterThanOrEqual(2); // the first new worker, and the old model's again
    expect(pool.model!.model).toBe(join(MODELS_DIR, 'glove-100d'));
    const h = pool.health();
    expect(h).toMatchObject({ status: 'healthy', warm: 2 });
    expect(h.workers).toHaveLength(2);
    expect(pool.stats().reloads).toBe(0);
    await pool.close();
  });

  it('refuses a second reload while one runs, and closes during one without hanging', async () => {
    const copy = join(tmp, 'glove-close');
    cpSync(join(MODELS_DIR, 'glove-100d'), copy, { recursive: true });
    const pool = createPool({ threads: 2 });
    await pool.ready();
    const loads = pool.stats().modelLoads;
    const reload = pool.reload({ model: copy }).catch((e: unknown) => e);
    await expect(pool.reload({ model: copy })).rejects.toThrow(/a reload is already running/);
    await until(() => pool.stats().modelLoads > loads, 20_000, 'the first new worker');
    await pool.close();
    expect(await reload).toBeInstanceOf(PoolClosedError);
    expect(pool.state).toBe('closed');
    expect(pool.health().workers).toEqual([]);
  });

  it('retires the old workers only once their running calls are done, without retrying them', async () => {
    // One text per model run: between runs the old worker is out of onnxruntime and could be terminated.
    const pool = createPool({ model: 'minilm-shape', threads: 1, retries: 0, batchSize: 1 });
    await pool.ready();
    let running: Promise<unknown> | undefined;
    // The call starts on the old worker just as the new one is warm, so it is still running when
    // the reload switches over and retires the old worker.
    const onReady = (message: unknown): void => {
      if ((message as { poolId: string }).poolId !== pool.id || running) return;
      running = pool.embed(Array.from({ length: 6 }, (_, i) => `${i} ${LONG_TEXT}`)).then(() => 'answered', (error: unknown) => error);
    };
    diagnostics.subscribe(CHANNEL_NAMES.workerReady, onReady);
    try {
      await pool.reload({ model: 'glove-100d' });
    } finally {
      diagnostics.unsubscribe(CHANNEL_NAMES.workerReady, onReady);
    }
    expect(running).toBeDefined();
    expect(await running).toBe('answered');
    expect(pool.stats().retries).toBe(0);
    await pool.close();
  });

  it('keeps the current model when the new one cannot be loaded', async () => {
    const pool = createPool({ threads: 1 });
    await pool.ready();
    const broken = join(tmp, 'broken');
    cpSync(join(MODELS_DIR, 'glove-100d'), broken, { recursive: true });
    writeFileSync(join(broken, 'onnx', 'model.onnx'), 'not a model');
    await expect(pool.reload({ model: broken })).rejects.toThrow(/reload failed, the pool keeps its current model/);
    await expect(pool.reload({ model: join(tmp, 'missing') })).rejects.toBeInstanceOf(ModelLoadError);
    expect(pool.model!.model).toBe(join(MODELS_DIR, 'glove-100d'));
    expect(pool.health()).toMatchObject({ status: 'healthy', warm: 1 });
    expect(pool.health().workers).toHaveLength(1);
    expect(await pool.embed('still serving')).toHaveLength(100);
    await pool.close();
  });
});

describe('loadTimeout: a worker stuck loading the model', () => {
  it('is ended past the deadline and replaced after a backoff, and the pool becomes ready', async () => {
    // Worker 1 awaits forever in JavaScript while loading; its replacement (worker 2) loads.
    setTestHooks({ loadHang: [1] });
    const pool = createPool({ threads: 1, loadTimeout: 10_000, healthInterval: 100, preallocate: false });
    const errors: unknown[] = [];
    const onError = (m: unknown) => {
      const e = m as { poolId: string; error: unknown };
      if (e.poolId === pool.id) errors.push(e.error);
    };
    diagnostics.subscribe(CHANNEL_NAMES.workerError, onError);
    try {
      const began = performance.now();
      await pool.ready();
      const took = performance.now() - began;
      // The deadline, then the backoff (0.5 s), then a load: never the hang's forever.
      expect(took).toBeGreaterThan(10_000);
      expect(took).toBeLessThan(90_000);
      expect(await pool.embed('served by the replacement')).toHaveLength(100);
      expect(pool.stats().loadFailures).toBe(1);
      expect(errors.some((e) => e instanceof LoadTimeoutError)).toBe(true);
      expect((errors.find((e) => e instanceof LoadTimeoutError) as Error).message).toMatch(/did not load its model within loadTimeout \(10000 ms\), so it was ended/);
      expect(pool.health()).toMatchObject({ status: 'healthy', warm: 1 });
    } finally {
      diagnostics.unsubscribe(CHANNEL_NAMES.workerError, onError);
      await pool.close();
    }
  }, 120_000);

  it('fails start-up with LoadTimeoutError (a ModelLoadError) when every attempt hangs, and never hangs itself', async () => {
    setTestHooks({ loadHang: [1, 2, 3, 4, 5, 6] });
    const pool = createPool({ threads: 1, loadTimeout: 800, healthInterval: 100, preallocate: false });
    try {
      const error = await pool.ready().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LoadTimeoutError);
      expect(error).toBeInstanceOf(ModelLoadError);
      expect((error as LoadTimeoutError).code).toBe('ERR_WARMPOOL_LOAD_TIMEOUT');
      expect(pool.state).toBe('failed');
      await expect(pool.embed('x')).rejects.toBeInstanceOf(ModelLoadError);
    } finally {
      await pool.close();
    }
  });

  it('takes Infinity: no deadline, a slow load is left alone', async () => {
    const pool = createPool({ threads: 1, loadTimeout: Infinity, healthInterval: 100, preallocate: false });
    try {
      await pool.ready();
      expect(pool.stats().loadFailures).toBe(0);
    } finally {
      await pool.close();
    }
  });
});

describe('loadTimeout: a load stuck in native work', () => {
  it.each([
    ['blocked in native code (its event loop stopped, as in onnxruntime\'s session creation)', false],
    ['awaiting inside work marked native', true],
  ])('is reported when the deadline passes, never ended inside it, and fails with LoadTimeoutError as it leaves: %s', async (_what, nativeLoadAwaits) => {
    const module = new URL('fixtures/custom-task.mjs', `file://${ROOT}test/`).href;
    // The default model (which joins the pool) loads without a deadline; the custom one has 1 s.
    // A health deadline well under the stall: a blocked thread inside native work is not "hung".
    const pool = createPool({ healthInterval: 100, healthTimeout: 2000, loadTimeout: Infinity, models: { slow: { task: 'custom', module, options: { nativeLoadMs: 6000, nativeLoadAwaits }, threads: 1, loadTimeout: 1000 } } });
    const events: { at: number; what: string; error?: unknown }[] = [];
    const began = performance.now();
    const onError = (m: unknown) => {
      const e = m as { poolId: string; model: string; error: unknown };
      if (e.poolId === pool.id && e.model === 'slow') events.push({ at: performance.now() - began, what: 'error', error: e.error });
    };
    const onExit = (m: unknown) => {
      const e = m as WorkerExitEvent;
      if (e.poolId === pool.id && e.model === 'slow') events.push({ at: performance.now() - began, what: 'exit' });
    };
    diagnostics.subscribe(CHANNEL_NAMES.workerError, onError);
    diagnostics.subscribe(CHANNEL_NAMES.workerExit, onExit);
    try {
      const error = await pool.ready().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LoadTimeoutError);
      // Failed by the worker as it came out (it read the pool's flag), or ended by a check that
      // found it out of native work: either way, with a LoadTimeoutError.
      expect((error as Error).message).toMatch(/loadTimeout \(1000 ms\)/);
      const reported = events.find((e) => e.what === 'error' && /inside onnxruntime/.test(String((e.error as Error).message)));
      expect(reported, JSON.stringify(events)).toBeDefined();
      expect(reported!.error).toBeInstanceOf(LoadTimeoutError);
      // Reported at the deadline, long before the native work ended.
      expect(reported!.at).toBeLessThan(5500);
      // Yet the thread did not leave while its native work ran.
      const firstExit = events.find((e) => e.what === 'exit');
      if (firstExit) expect(firstExit.at).toBeGreaterThan(6000);
      expect(pool.stats().workersHung).toBe(0);
    } finally {
      diagnostics.unsubscribe(CHANNEL_NAMES.workerError, onError);
      diagnostics.unsubscribe(CHANNEL_NAMES.workerExit, onExit);
      await pool.close();
    }
  });
});
