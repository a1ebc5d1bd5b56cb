import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, ENV_VARS, MAX_TIMER_MS, createPool, defaultThreads, resolveOptions } from './helpers.js';

const noEnv = { env: false as const };

describe('resolveOptions', () => {
  it('fills the documented defaults', () => {
    const o = resolveOptions(noEnv, 8);
    expect(o).toMatchObject({
      model: 'glove-100d',
      dtype: 'fp32',
      allowRemoteModels: false,
      minThreads: 4,
      maxThreads: 4,
      intraOpThreads: 2,
      warmup: 'eager',
      maxQueue: DEFAULTS.maxQueue,
      queueTimeout: Infinity,
      timeout: Infinity,
      batchSize: 32,
      concurrentTasksPerWorker: 2,
      batching: true,
      maxBatchSize: 64,
      maxBatchTokens: 8192,
      maxBatchDelay: 0,
      batchRunMs: 250,
      cacheBytes: 64 * 1024 * 1024,
      retries: 1,
      healthInterval: 1000,
      healthTimeout: 10_000,
      loadTimeout: 120_000,
      resourceLimits: undefined,
      recycleHeapMb: Infinity,
      cpuMemArena: true,
      memPattern: false,
      preallocate: false,
    });
    expect(Object.isFrozen(o)).toBe(true);
  });

  it('keeps workers x intra-op threads within the cores', () => {
    for (const cores of [1, 2, 3, 4, 8, 16, 64]) {
      const o = resolveOptions(noEnv, cores);
      expect(o.maxThreads).toBe(defaultThreads(cores));
      expect(o.maxThreads * o.intraOpThreads).toBeLessThanOrEqual(Math.max(cores, 1));
    }
    expect(resolveOptions({ ...noEnv, threads: 3 }, 16).intraOpThreads).toBe(5);
    expect(resolveOptions({ ...noEnv, threads: 3, intraOpThreads: 1 }, 16).intraOpThreads).toBe(1);
  });

  it('accepts threads as a number or { min, max }', () => {
    expect(resolveOptions({ ...noEnv, threads: 3 })).toMatchObject({ minThreads: 3, maxThreads: 3 });
    expect(resolveOptions({ ...noEnv, threads: { min: 1, max: 3 } })).toMatchObject({ minThreads: 1, maxThreads: 3 });
    expect(resolveOptions({ ...noEnv, threads: { max: 3 } })).toMatchObject({ minThreads: 3, maxThreads: 3 });
  });

  it.each([
    [{ threads: 'two' }, TypeError, /options.threads must be a number or \{ min, max \}, received "two"/],
    [{ threads: 0 }, RangeError, /options.threads must be an integer from 1 to 1024, received 0/],
    [{ threads: 1.5 }, RangeError, /received 1.5/],
    [{ threads: { min: 4, max: 2 } }, RangeError, /threads.min \(4\) must not exceed threads.max \(2\)/],
    [{ threads: { min: 'a' } }, TypeError, /options.threads.min must be a number, received "a"/],
    [{ model: 42 }, TypeError, /options.model must be a non-empty string, received 42/],
    [{ model: '' }, TypeError, /options.model must be a non-empty string/],
    [{ dtype: 'fp64' }, RangeError, /options.dtype must be one of 'auto', 'fp32'.*received "fp64"/],
    [{ allowRemoteModels: 'yes' }, TypeError, /options.allowRemoteModels must be a boolean, received "yes"/],
    [{ cacheDir: 5 }, TypeError, /options.cacheDir must be a non-empty string/],
    [{ idleTimeout: -5 }, RangeError, /options.idleTimeout must be a positive number of milliseconds up to 2147483647 or Infinity, received -5/],
    // Node would fire a longer timer after 1 ms.
    [{ idleTimeout: 2 ** 31 }, RangeError, /options.idleTimeout must be a positive number of milliseconds up to 2147483647 or Infinity, received 2147483648/],
    [{ timeout: 3e9 }, RangeError, /options.timeout must be .* up to 2147483647 or Infinity, received 3000000000/],
    [{ queueTimeout: 1e12 }, RangeError, /options.queueTimeout must be .* up to 2147483647/],
    [{ closeTimeout: Number.MAX_SAFE_INTEGER }, RangeError, /options.closeTimeout must be .* up to 2147483647/],
    [{ healthInterval: 2 ** 31 }, RangeError, /options.healthInterval must be a positive number of milliseconds up to 2147483647, received 2147483648/],
    [{ intraOpThreads: 0 }, RangeError, /options.intraOpThreads must be an integer from 1/],
    [{ warmup: 'soon' }, RangeError, /options.warmup must be one of 'eager', 'lazy', received "soon"/],
    [{ concurrentTasksPerWorker: 0 }, RangeError, /options.concurrentTasksPerWorker must be an integer from 1 to 64/],
    [{ maxQueue: -1 }, RangeError, /options.maxQueue must be an integer from 0/],
    [{ maxQueue: NaN }, TypeError, /options.maxQueue must be a number, received NaN/],
    [{ queueTimeout: 0 }, RangeError, /options.queueTimeout must be a positive number of milliseconds up to 2147483647 or Infinity, received 0/],
    [{ timeout: '5' }, TypeError, /options.timeout must be a number, received "5"/],
    [{ batchSize: 0 }, RangeError, /options.batchSize must be an integer from 1 to 4096/],
    [{ closeTimeout: -1 }, RangeError, /options.closeTimeout must be/],
    [{ retries: -1 }, RangeError, /options.retries must be an integer from 0 to 100, received -1/],
    [{ healthInterval: 0 }, RangeError, /options.healthInterval must be a positive number of milliseconds up to 2147483647, received 0/],
    [{ healthTimeout: Infinity }, RangeError, /options.healthTimeout must be a positive number of milliseconds, received Infinity/],
    [{ loadTimeout: 0 }, RangeError, /options.loadTimeout must be a positive number of milliseconds or Infinity, received 0/],
    [{ loadTimeout: '5' }, TypeError, /options.loadTimeout must be a number, received "5"/],
    [{ resourceLimits: 5 }, TypeError, /options.resourceLimits must be an object, received 5/],
    [{ resourceLimits: { maxHeap: 5 } }, TypeError, /unknown resource limit "maxHeap"; valid ones are maxOldGenerationSizeMb/],
    [{ resourceLimits: { maxOldGenerationSizeMb: 0 } }, RangeError, /options.resourceLimits.maxOldGenerationSizeMb must be a positive finite number, received 0/],
    [{ resourceLimits: { maxYoungGenerationSizeMb: Infinity } }, RangeError, /maxYoungGenerationSizeMb must be a positive finite number, received Infinity/],
    // Each of these aborted the whole process (or threw EAGAIN) when the worker started.
    [{ resourceLimits: { stackSizeMb: 0.1 } }, RangeError, /options.resourceLimits.stackSizeMb must be a number from 1 to 1024, received 0.1/],
    [{ resourceLimits: { stackSizeMb: 65_536 } }, RangeError, /stackSizeMb must be a number from 1 to 1024, received 65536/],
    [{ resourceLimits: { codeRangeSizeMb: 1e8 } }, RangeError, /options.resourceLimits.codeRangeSizeMb must be a positive number up to 4096, received 100000000/],
    [{ resourceLimits: [] }, TypeError, /options.resourceLimits must be an object, received an array/],
    // Failures on purpose are test hooks (WARMPOOL_TEST_HOOKS), not an option.
    [{ faultInjection: { crash: 0.1 } }, TypeError, /unknown option "faultInjection"; valid options are/],
    [{ recycleHeapMb: 0 }, RangeError, /options.recycleHeapMb must be a positive number of MiB or Infinity, received 0/],
    [{ cpuMemArena: 'no' }, TypeError, /options.cpuMemArena must be a boolean, received "no"/],
    [{ memPattern: 0 }, TypeError, /options.memPattern must be a boolean, received 0/],
    [{ batching: 1 }, TypeError, /options.batching must be a boolean, received 1/],
    [{ maxBatchSize: 0 }, RangeError, /options.maxBatchSize must be an integer from 1 to 65536, received 0/],
    [{ maxBatchTokens: 2.5 }, RangeError, /options.maxBatchTokens must be an integer/],
    [{ maxBatchDelay: -1 }, RangeError, /options.maxBatchDelay must be a number of milliseconds from 0 to 60000, received -1/],
    [{ batchRunMs: 60_001 }, RangeError, /options.batchRunMs must be a number of milliseconds from 0 to 60000, received 60001/],
    [{ cacheBytes: -1 }, RangeError, /options.cacheBytes must be an integer from 0/],
    [{ storePath: '' }, TypeError, /options.storePath must be a non-empty string, received ""/],
    [{ env: 'x' }, TypeError, /options.env must be an object or false/],
    [{ thread: 2 }, TypeError, /unknown option "thread"; valid options are model, task, models, dtype/],
    [{ task: 'summarise' }, RangeError, /options.task must be one of 'embed', 'rerank', 'classify', received "summarise"/],
    [{ models: [] }, TypeError, /options.models must be an object of model entries by name/],
  ])('rejects %j', (options, ErrorClass, message) => {
    expect(() => resolveOptions({ ...noEnv, ...(options as object) })).toThrow(ErrorClass);
    expect(() => resolveOptions({ ...noEnv, ...(options as object) })).toThrow(message);
  });

  it("takes timer options up to Node's timer limit, and healthTimeout (no timer) past it", () => {
    const o = resolveOptions({ ...noEnv, timeout: MAX_TIMER_MS, idleTimeout: MAX_TIMER_MS, closeTimeout: Infinity, healthInterval: MAX_TIMER_MS, healthTimeout: 1e12, loadTimeout: 1e12 });
    expect(o).toMatchObject({ timeout: MAX_TIMER_MS, idleTimeout: MAX_TIMER_MS, closeTimeout: Infinity, healthInterval: MAX_TIMER_MS, healthTimeout: 1e12, loadTimeout: 1e12 });
    expect(MAX_TIMER_MS).toBe(2 ** 31 - 1);
  });

  it.each([
    ['an array', [4], /options.threads must be a number or \{ min, max \}, received an array/],
    ['a Date', new Date(), /options.threads must be a number or \{ min, max \}, received a value of type object/],
    ['an unknown key', { mni: 2 }, /unknown option "threads.mni"; options.threads takes min and max/],
  ])('rejects threads given as %s instead of silently using the default', (_name, threads, message) => {
    expect(() => resolveOptions({ ...noEnv, threads: threads as never })).toThrow(TypeError);
    expect(() => resolveOptions({ ...noEnv, threads: threads as never })).toThrow(message);
  });

  it('rejects an environment variable that is not a string, showing the value', () => {
    expect(() => resolveOptions({ env: { WARMPOOL_THREADS: 5 as never } })).toThrow(/environment variable WARMPOOL_THREADS must be a string, received 5/);
    expect(() => resolveOptions({ env: { WARMPOOL_THREADS: 5 as never } })).toThrow(TypeError);
  });

  it('turns options that throw when read into a TypeError naming the option', () => {
    const boom = (): never => {
      throw new Error('boom');
    };
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const cases: [unknown, RegExp][] = [
      [Object.defineProperty({ env: false }, 'threads', { get: boom, enumerable: true }), /options.threads could not be read: Error: boom/],
      [{ env: false, threads: Object.defineProperty({}, 'min', { get: boom, enumerable: true }) }, /options.threads.min could not be read/],
      [{ env: false, resourceLimits: new Proxy({}, { ownKeys: boom }) }, /options.resourceLimits could not be read/],
      [{ env: new Proxy({}, { get: boom }) }, /environment variable WARMPOOL_\w+ could not be read/],
      [new Proxy({}, { ownKeys: boom }), /options could not be read/],
      [{ env: false, threads: revoked.proxy }, /options.threads could not be read: TypeError/],
    ];
    for (const [options, message] of cases) {
      expect(() => resolveOptions(options as never)).toThrow(TypeError);
      expect(() => resolveOptions(options as never)).toThrow(message);
    }
  });

  it('reads each option once', () => {
    let reads = 0;
    const options = { env: false as const, get maxQueue() { return reads++ === 0 ? 7 : -1; } };
    expect(resolveOptions(options).maxQueue).toBe(7);
    expect(reads).toBe(1);
  });

  it('rejects a non-object', () => {
    expect(() => resolveOptions(null as never)).toThrow(/options must be an object, received null/);
  });

  it('reads every option from its environment variable', () => {
    const env = {
      [ENV_VARS.model]: '/models/x',
      [ENV_VARS.dtype]: 'q8',
      [ENV_VARS.allowRemoteModels]: 'true',
      [ENV_VARS.cacheDir]: '/tmp/cache',
      [ENV_VARS.maxThreads]: '6',
      [ENV_VARS.minThreads]: '2',
      [ENV_VARS.idleTimeout]: '1000',
      [ENV_VARS.intraOpThreads]: '3',
      [ENV_VARS.warmup]: 'lazy',
      [ENV_VARS.concurrentTasksPerWorker]: '3',
      [ENV_VARS.maxQueue]: '7',
      [ENV_VARS.queueTimeout]: '250',
      [ENV_VARS.timeout]: 'Infinity',
      [ENV_VARS.batchSize]: '8',
      [ENV_VARS.batching]: 'off',
      [ENV_VARS.maxBatchSize]: '16',
      [ENV_VARS.maxBatchTokens]: '1024',
      [ENV_VARS.maxBatchDelay]: '2',
      [ENV_VARS.batchRunMs]: '0',
      [ENV_VARS.cacheBytes]: '0',
      [ENV_VARS.closeTimeout]: '500',
      [ENV_VARS.retries]: '3',
      [ENV_VARS.healthInterval]: '250',
      [ENV_VARS.healthTimeout]: '2000',
      [ENV_VARS.loadTimeout]: 'Infinity',
      [ENV_VARS.recycleHeapMb]: '512',
      [ENV_VARS.cpuMemArena]: '0',
      [ENV_VARS.memPattern]: 'true',
      [ENV_VARS.preallocate]: 'false',
      [ENV_VARS.storePath]: '/tmp/wp-store',
      [ENV_VARS.task]: 'rerank',
      [ENV_VARS.weightsCache]: 'off',
    };
    expect(Object.keys(env)).toHaveLength(Object.keys(ENV_VARS).length);
    expect(resolveOptions({ env })).toEqual({
      model: '/models/x',
      task: 'rerank',
      models: undefined,
      dtype: 'q8',
      allowRemoteModels: true,
      cacheDir: '/tmp/cache',
      maxThreads: 6,
      minThreads: 2,
      idleTimeout: 1000,
      intraOpThreads: 3,
      warmup: 'lazy',
      concurrentTasksPerWorker: 3,
      maxQueue: 7,
      queueTimeout: 250,
      timeout: Infinity,
      batchSize: 8,
      batching: false,
      maxBatchSize: 16,
      maxBatchTokens: 1024,
      maxBatchDelay: 2,
      batchRunMs: 0,
      cacheBytes: 0,
      closeTimeout: 500,
      retries: 3,
      healthInterval: 250,
      healthTimeout: 2000,
      loadTimeout: Infinity,
      resourceLimits: undefined,
      recycleHeapMb: 512,
      cpuMemArena: false,
      memPattern: true,
      preallocate: false,
      weightsCache: false,
      storePath: '/tmp/wp-store',
    });
  });

  it('resolves storePath to an absolute path, ./.warmpool by default', () => {
    expect(resolveOptions(noEnv).storePath).toBe(resolve('.warmpool'));
    expect(resolveOptions({ ...noEnv, storePath: 'data/store' }).storePath).toBe(resolve('data/store'));
    expect(resolveOptions({ storePath: '/a', env: { WARMPOOL_STORE_PATH: '/b' } }).storePath).toBe('/a');
  });

  it('lets explicit options win over the environment', () => {
    const o = resolveOptions({ threads: 2, maxQueue: 9, env: { WARMPOOL_THREADS: '6', WARMPOOL_MAX_QUEUE: '1' } });
    expect(o).toMatchObject({ maxThreads: 2, maxQueue: 9 });
  });

  it('names the environment variable in its errors', () => {
    expect(() => resolveOptions({ env: { WARMPOOL_THREADS: 'many' } })).toThrow(/environment variable WARMPOOL_THREADS must be a number, received "many"/);
    expect(() => resolveOptions({ env: { WARMPOOL_ALLOW_REMOTE_MODELS: 'maybe' } })).toThrow(/WARMPOOL_ALLOW_REMOTE_MODELS must be one of 1, true/);
  });

  it('reads process.env by default', () => {
    process.env.WARMPOOL_MAX_QUEUE = '3';
    try {
      expect(resolveOptions().maxQueue).toBe(3);
    } finally {
      delete process.env.WARMPOOL_MAX_QUEUE;
    }
  });

  it('validates in createPool, synchronously, before starting anything', () => {
    expect(() => createPool({ threads: -1 })).toThrow(RangeError);
  });
});
