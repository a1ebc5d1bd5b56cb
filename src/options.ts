import { availableParallelism } from 'node:os';
import { isArray, read as readCallerData } from './caller-data.js';
import { resolve as resolvePath } from 'node:path';

/** Model precisions transformers.js can load (`onnx/model.onnx`, `onnx/model_quantized.onnx`, ...). */
export const DTYPES = ['auto', 'fp32', 'fp16', 'q8', 'int8', 'uint8', 'q4', 'bnb4', 'q4f16'] as const;
export type Dtype = (typeof DTYPES)[number];

export const POOLINGS = ['mean', 'cls'] as const;
/** How token vectors become one text vector: their mean (masked), or the first token's (`[CLS]`). */
export type Pooling = (typeof POOLINGS)[number];

export const WARMUPS = ['eager', 'lazy'] as const;
export type Warmup = (typeof WARMUPS)[number];

/** Options of {@link createPool}. Each can also come from the environment variable named in its doc. */
export interface PoolOptions {
  /**
   * The embedding model: the name of a model bundled in the package's `models/` folder, a path to
   * a transformers.js model folder (`config.json`, `tokenizer.json`, `onnx/model.onnx`), or a
   * Hugging Face hub id such as `Xenova/all-MiniLM-L6-v2` (needs `allowRemoteModels`).
   * Env: `WARMPOOL_MODEL`.
   * @default 'glove-100d'
   */
  model?: string;
  /** Model precision. Env: `WARMPOOL_DTYPE`. @default 'fp32' */
  dtype?: Dtype;
  /**
   * Let transformers.js download a hub model that is not on disk. Off by default: warmpool never
   * reaches the network unless asked to. Env: `WARMPOOL_ALLOW_REMOTE_MODELS` (`1`/`true`).
   * @default false
   */
  allowRemoteModels?: boolean;
  /** Where downloaded hub models are cached. Env: `WARMPOOL_CACHE_DIR`. @default transformers.js' own */
  cacheDir?: string;
  /**
   * Worker threads: a number (fixed pool) or `{ min, max }` (workers above `min` are started on
   * demand and stopped after `idleTimeout`). Env: `WARMPOOL_THREADS` (max) and
   * `WARMPOOL_MIN_THREADS`.
   * @default min(available cores, 4)
   */
  threads?: number | { min?: number; max?: number };
  /**
   * Milliseconds an idle worker above `threads.min` lives (at most {@link MAX_TIMER_MS}, or
   * `Infinity`). Env: `WARMPOOL_IDLE_TIMEOUT`.
   * @default 30000
   */
  idleTimeout?: number;
  /**
   * onnxruntime intra-op threads per worker. The default keeps workers x intra-op threads within
   * the machine's cores, so sessions never fight over them. Env: `WARMPOOL_INTRA_OP_THREADS`.
   * @default max(1, floor(cores / threads.max))
   */
  intraOpThreads?: number;
  /**
   * `eager` starts and warms `threads.min` workers at `createPool`; `lazy` waits for the first call
   * (or `ready()`). Env: `WARMPOOL_WARMUP`.
   * @default 'eager'
   */
  warmup?: Warmup;
  /**
   * Tasks a worker holds at once. It runs them one after another, in the order they came, so with
   * 2 the next task is already in the worker when one ends, and the worker does not sit idle for
   * the round trip to the main thread between tasks. Waiting calls go to idle workers first; a
   * worker gets its next task early only when every worker is busy. Env:
   * `WARMPOOL_CONCURRENT_TASKS_PER_WORKER`.
   * @default 2
   */
  concurrentTasksPerWorker?: number;
  /**
   * Most calls waiting for a worker; one more is rejected at once with `QueueFullError`.
   * Env: `WARMPOOL_MAX_QUEUE`.
   * @default 1024
   */
  maxQueue?: number;
  /**
   * Milliseconds a call may wait for a worker before it fails with `QueueTimeoutError`
   * (at most {@link MAX_TIMER_MS}; `Infinity`: no limit). Env: `WARMPOOL_QUEUE_TIMEOUT`.
   * @default Infinity
   */
  queueTimeout?: number;
  /**
   * Default per-call run-time limit in milliseconds (at most {@link MAX_TIMER_MS}; `Infinity`: none); a call past it fails with
   * `TaskTimeoutError` and the worker keeps its model. Env: `WARMPOOL_TIMEOUT`.
   * @default Infinity
   */
  timeout?: number;
  /**
   * Texts a worker runs through the model at once when a call carries many; texts are sorted by
   * length first, so padding stays small. Env: `WARMPOOL_BATCH_SIZE`.
   * @default 32
   */
  batchSize?: number;
  /**
   * Coalesce concurrent calls into shared tasks, so that many small calls share one model run and
   * one thread hop. A lone call is never delayed (unless `maxBatchDelay` is set). Each caller
   * still gets exactly its own vectors, and one caller's bad input never fails another's.
   * Env: `WARMPOOL_BATCHING`.
   * @default true
   */
  batching?: boolean;
  /** Most texts in one coalesced task (one call larger than this still runs whole). Env: `WARMPOOL_MAX_BATCH_SIZE`. @default 64 */
  maxBatchSize?: number;
  /**
   * Most padded tokens (texts x longest text) in one model run; bounds the memory and the padding
   * waste of a run. Env: `WARMPOOL_MAX_BATCH_TOKENS`.
   * @default 8192
   */
  maxBatchTokens?: number;
  /**
   * Milliseconds a call may wait for others to join its task while a worker is free (`0`: never
   * wait; calls made in the same tick still share a task). Env: `WARMPOOL_MAX_BATCH_DELAY`.
   * @default 0
   */
  maxBatchDelay?: number;
  /**
   * Bytes of vectors kept in the embedding cache shared by all callers (`0` turns it off). A
   * repeated text with the same options never reaches a worker. Env: `WARMPOOL_CACHE_BYTES`.
   * @default 67108864 (64 MiB)
   */
  cacheBytes?: number;
  /**
   * Milliseconds `close()` waits for running calls before it stops the workers (at most
   * {@link MAX_TIMER_MS}, or `Infinity`). Env: `WARMPOOL_CLOSE_TIMEOUT`.
   * @default 10000
   */
  closeTimeout?: number;
  /**
   * How many times a call whose worker died (crash, exit, out of memory, hung) is run again on
   * another worker before it fails with `WorkerExitedError`. Embedding is pure, so a retry is
   * safe. Env: `WARMPOOL_RETRIES`.
   * @default 1
   */
  retries?: number;
  /** Milliseconds between health checks of the workers (at most {@link MAX_TIMER_MS}). Env: `WARMPOOL_HEALTH_INTERVAL`. @default 1000 */
  healthInterval?: number;
  /**
   * Milliseconds a worker's event loop may stay blocked (its heartbeat stalled) before the worker
   * is ended and replaced. Env: `WARMPOOL_HEALTH_TIMEOUT`.
   * @default 10000
   */
  healthTimeout?: number;
  /**
   * V8 limits for each worker (`maxOldGenerationSizeMb`, ...); a worker over them dies and is
   * replaced. They bound the JavaScript heap only, not onnxruntime's native memory. Heap limits
   * are positive finite MiB, `codeRangeSizeMb` at most 4096, `stackSizeMb` from 1 to 1024: past
   * those, starting a worker aborts the process or fails.
   * @default none
   */
  resourceLimits?: ResourceLimits;
  /**
   * MiB of V8 heap past which a worker is recycled: a fresh worker starts beside it, and once
   * that one is warm, the old one takes no new task and ends when idle (one worker at a time).
   * Env: `WARMPOOL_RECYCLE_HEAP_MB`.
   * @default Infinity (never)
   */
  recycleHeapMb?: number;
  /**
   * onnxruntime's CPU memory arena: faster allocation, but it keeps the peak of every run's
   * buffers. Env: `WARMPOOL_CPU_MEM_ARENA`.
   * @default true
   */
  cpuMemArena?: boolean;
  /**
   * onnxruntime's memory pattern planning, which pays off for fixed input shapes; with texts of
   * varying length it plans, and keeps memory, for each new shape: off by default because in
   * soak runs with texts of every length it made RSS climb while it stayed flat without it, at
   * no cost in throughput. Env: `WARMPOOL_MEM_PATTERN`.
   * @default false
   */
  memPattern?: boolean;
  /**
   * Before a worker takes calls, run its model once on the largest batches it may ever run
   * (`batchSize` texts of the model's longest input, within `maxBatchTokens`), so onnxruntime's
   * arena holds its peak from the start: RSS stays flat while serving texts of every length, and a
   * machine short of memory fails at load rather than under load. Costs that one run per model
   * load (about 2.5 s for a MiniLM-sized model on one thread) and the peak's memory in every worker
   * even if only short texts ever come. No effect with `cpuMemArena: false`. Either way a worker
   * runs one short text before it reports ready, so its first call is warm.
   * Env: `WARMPOOL_PREALLOCATE`.
   * @default true
   */
  preallocate?: boolean;
  /**
   * The directory that holds the pool's collections (one folder each, created on first use).
   * A relative path is taken from the working directory at `createPool`. Env: `WARMPOOL_STORE_PATH`.
   * @default './.warmpool'
   */
  storePath?: string;
  /**
   * Where environment variables are read from; `false` ignores the environment.
   * @default process.env
   */
  env?: Record<string, string | undefined> | false;
}

/** Options after defaults, environment and validation: what the pool runs with. */
export interface ResolvedOptions {
  readonly model: string;
  readonly dtype: Dtype;
  readonly allowRemoteModels: boolean;
  readonly cacheDir: string | undefined;
  readonly minThreads: number;
  readonly maxThreads: number;
  readonly idleTimeout: number;
  readonly intraOpThreads: number;
  readonly warmup: Warmup;
  readonly concurrentTasksPerWorker: number;
  readonly maxQueue: number;
  readonly queueTimeout: number;
  readonly timeout: number;
  readonly batchSize: number;
  readonly batching: boolean;
  readonly maxBatchSize: number;
  readonly maxBatchTokens: number;
  readonly maxBatchDelay: number;
  readonly cacheBytes: number;
  readonly closeTimeout: number;
  readonly retries: number;
  readonly healthInterval: number;
  readonly healthTimeout: number;
  readonly resourceLimits: ResourceLimits | undefined;
  readonly recycleHeapMb: number;
  readonly cpuMemArena: boolean;
  readonly memPattern: boolean;
  readonly preallocate: boolean;
  /** Absolute path of the collections directory. */
  readonly storePath: string;
}

/** V8 limits of a worker thread (see `worker_threads` `resourceLimits`). */
export interface ResourceLimits {
  maxOldGenerationSizeMb?: number;
  maxYoungGenerationSizeMb?: number;
  codeRangeSizeMb?: number;
  stackSizeMb?: number;
}

/** The environment variable behind each option. */
export const ENV_VARS = {
  model: 'WARMPOOL_MODEL',
  dtype: 'WARMPOOL_DTYPE',
  allowRemoteModels: 'WARMPOOL_ALLOW_REMOTE_MODELS',
  cacheDir: 'WARMPOOL_CACHE_DIR',
  maxThreads: 'WARMPOOL_THREADS',
  minThreads: 'WARMPOOL_MIN_THREADS',
  idleTimeout: 'WARMPOOL_IDLE_TIMEOUT',
  intraOpThreads: 'WARMPOOL_INTRA_OP_THREADS',
  warmup: 'WARMPOOL_WARMUP',
  concurrentTasksPerWorker: 'WARMPOOL_CONCURRENT_TASKS_PER_WORKER',
  maxQueue: 'WARMPOOL_MAX_QUEUE',
  queueTimeout: 'WARMPOOL_QUEUE_TIMEOUT',
  timeout: 'WARMPOOL_TIMEOUT',
  batchSize: 'WARMPOOL_BATCH_SIZE',
  batching: 'WARMPOOL_BATCHING',
  maxBatchSize: 'WARMPOOL_MAX_BATCH_SIZE',
  maxBatchTokens: 'WARMPOOL_MAX_BATCH_TOKENS',
  maxBatchDelay: 'WARMPOOL_MAX_BATCH_DELAY',
  cacheBytes: 'WARMPOOL_CACHE_BYTES',
  closeTimeout: 'WARMPOOL_CLOSE_TIMEOUT',
  retries: 'WARMPOOL_RETRIES',
  healthInterval: 'WARMPOOL_HEALTH_INTERVAL',
  healthTimeout: 'WARMPOOL_HEALTH_TIMEOUT',
  recycleHeapMb: 'WARMPOOL_RECYCLE_HEAP_MB',
  cpuMemArena: 'WARMPOOL_CPU_MEM_ARENA',
  memPattern: 'WARMPOOL_MEM_PATTERN',
  preallocate: 'WARMPOOL_PREALLOCATE',
  storePath: 'WARMPOOL_STORE_PATH',
} as const satisfies Record<Exclude<keyof ResolvedOptions, 'resourceLimits'>, string>;

export const DEFAULTS = Object.freeze({
  model: 'glove-100d',
  dtype: 'fp32' as Dtype,
  allowRemoteModels: false,
  idleTimeout: 30_000,
  warmup: 'eager' as Warmup,
  concurrentTasksPerWorker: 2,
  maxQueue: 1024,
  queueTimeout: Infinity,
  timeout: Infinity,
  batchSize: 32,
  batching: true,
  maxBatchSize: 64,
  maxBatchTokens: 8192,
  maxBatchDelay: 0,
  cacheBytes: 64 * 1024 * 1024,
  closeTimeout: 10_000,
  retries: 1,
  healthInterval: 1000,
  healthTimeout: 10_000,
  recycleHeapMb: Infinity,
  cpuMemArena: true,
  memPattern: false,
  preallocate: true,
  storePath: './.warmpool',
});

/** The default worker count: every core, but no more than 4 (each worker holds its own model). */
export function defaultThreads(cores = availableParallelism()): number {
  return Math.max(1, Math.min(cores, 4));
}

/** Shows a received value in a message. Never throws (a revoked Proxy throws even in Array.isArray). */
const show = (value: unknown): string => {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol') return value.toString();
  if (isArray(value) === true) return 'an array';
  return `a value of type ${typeof value}`;
};

/** Reads caller data: a getter or Proxy trap that throws makes a TypeError naming what was being read. */
const read = <T>(what: string, get: () => T): T => readCallerData(what, get, TypeError);

/** An object literal (or one made with Object.create(null)), not an array, class instance or boxed value. */
function isPlainObject(value: unknown, what: string): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = read(what, () => Object.getPrototypeOf(value) as unknown);
  return proto === Object.prototype || proto === null;
}

type Source = { from: string; value: unknown; fromEnv: boolean };

/** Picks the option's value: explicit option first, then its environment variable. */
function pick(
  options: PoolOptions,
  key: string,
  explicit: unknown,
  env: Record<string, string | undefined> | false,
  envName: string,
): Source | undefined {
  if (explicit !== undefined) return { from: `options.${key}`, value: explicit, fromEnv: false };
  if (env === false) return undefined;
  const from = `environment variable ${envName}`;
  const raw: unknown = read(from, () => env[envName]);
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') throw new TypeError(`${from} must be a string, received ${show(raw)}`);
  if (raw.trim() === '') return undefined;
  return { from, value: raw.trim(), fromEnv: true };
}

function toNumber(src: Source): number {
  if (src.fromEnv) {
    const text = String(src.value).toLowerCase();
    if (text === 'infinity' || text === 'inf') return Infinity;
    const n = Number(text);
    if (Number.isNaN(n)) throw new TypeError(`${src.from} must be a number, received ${show(src.value)}`);
    return n;
  }
  if (typeof src.value !== 'number' || Number.isNaN(src.value)) {
    throw new TypeError(`${src.from} must be a number, received ${show(src.value)}`);
  }
  return src.value;
}

function integer(src: Source | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!src) return fallback;
  const n = toNumber(src);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(`${src.from} must be an integer from ${min} to ${max}, received ${show(src.value)}`);
  }
  return n;
}

/**
 * Node's timers hold a signed 32-bit count of milliseconds (about 24.8 days): a longer delay fires
 * after 1 ms instead, with a warning on stderr. Options that arm a timer stop there (or are Infinity).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A positive finite number of `unit` up to `max`, or Infinity where allowed. */
function millis(src: Source | undefined, fallback: number, allowInfinity: boolean, max = MAX_TIMER_MS, unit = 'milliseconds'): number {
  if (!src) return fallback;
  const n = toNumber(src);
  if (n === Infinity && allowInfinity) return n;
  if (!Number.isFinite(n) || n <= 0 || n > max) {
    const upTo = Number.isFinite(max) ? ` up to ${max}` : '';
    const range = `a positive number of ${unit}${upTo}${allowInfinity ? ' or Infinity' : ''}`;
    throw new RangeError(`${src.from} must be ${range}, received ${show(src.value)}`);
  }
  return n;
}

/**
 * The range each V8 limit may take. Outside them a worker does not just fail: a stack under about
 * a quarter of a MiB, or a code range of 1e8 MiB, aborts the whole process as the worker starts;
 * a stack of 64 GiB makes the Worker constructor throw (EAGAIN). Node's defaults: 4 MiB of stack,
 * heap and code range sized by V8.
 */
const LIMITS = {
  maxOldGenerationSizeMb: { min: 0, max: Infinity },
  maxYoungGenerationSizeMb: { min: 0, max: Infinity },
  codeRangeSizeMb: { min: 0, max: 4096 },
  stackSizeMb: { min: 1, max: 1024 },
} as const;
type LimitKey = keyof typeof LIMITS;

function limits(value: unknown): ResourceLimits | undefined {
  if (value === undefined) return undefined;
  if (!isPlainObject(value, 'options.resourceLimits')) {
    throw new TypeError(`options.resourceLimits must be an object, received ${show(value)}`);
  }
  const out: ResourceLimits = {};
  for (const [key, v] of read('options.resourceLimits', () => Object.entries(value))) {
    if (!Object.hasOwn(LIMITS, key)) {
      throw new TypeError(`options.resourceLimits has unknown resource limit ${JSON.stringify(key)}; valid ones are ${Object.keys(LIMITS).join(', ')}`);
    }
    const { min, max } = LIMITS[key as LimitKey];
    // min 0 is exclusive (a limit of 0 means none to Node); min 1 (the stack) inclusive.
    const ok = typeof v === 'number' && Number.isFinite(v) && (min === 0 ? v > 0 : v >= min) && v <= max;
    if (!ok) {
      const range = min === 0 ? (max === Infinity ? 'a positive finite number' : `a positive number up to ${max}`) : `a number from ${min} to ${max}`;
      throw new RangeError(`options.resourceLimits.${key} must be ${range}, received ${show(v)}`);
    }
    out[key as LimitKey] = v;
  }
  return Object.freeze(out);
}

/** Milliseconds from 0 up to one minute. */
function delay(src: Source | undefined, fallback: number): number {
  if (!src) return fallback;
  const n = toNumber(src);
  if (!Number.isFinite(n) || n < 0 || n > 60_000) {
    throw new RangeError(`${src.from} must be a number of milliseconds from 0 to 60000, received ${show(src.value)}`);
  }
  return n;
}

function bool(src: Source | undefined, fallback: boolean): boolean {
  if (!src) return fallback;
  if (src.fromEnv) {
    const text = String(src.value).toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(text)) return true;
    if (['0', 'false', 'no', 'off'].includes(text)) return false;
    throw new TypeError(`${src.from} must be one of 1, true, yes, on, 0, false, no, off, received ${show(src.value)}`);
  }
  if (typeof src.value !== 'boolean') throw new TypeError(`${src.from} must be a boolean, received ${show(src.value)}`);
  return src.value;
}

function text(src: Source | undefined): string | undefined {
  if (!src) return undefined;
  if (typeof src.value !== 'string' || src.value.trim() === '') {
    throw new TypeError(`${src.from} must be a non-empty string, received ${show(src.value)}`);
  }
  return src.value;
}

function choice<T extends string>(src: Source | undefined, fallback: T, choices: readonly T[]): T {
  if (!src) return fallback;
  if (typeof src.value !== 'string' || !(choices as readonly string[]).includes(src.value)) {
    throw new RangeError(`${src.from} must be one of ${choices.map((c) => `'${c}'`).join(', ')}, received ${show(src.value)}`);
  }
  return src.value as T;
}

const KNOWN_KEYS = new Set([
  'model', 'dtype', 'allowRemoteModels', 'cacheDir', 'threads', 'idleTimeout', 'intraOpThreads', 'warmup',
  'concurrentTasksPerWorker', 'maxQueue', 'queueTimeout', 'timeout', 'batchSize', 'batching', 'maxBatchSize',
  'maxBatchTokens', 'maxBatchDelay', 'cacheBytes', 'closeTimeout', 'retries', 'healthInterval', 'healthTimeout',
  'resourceLimits', 'recycleHeapMb', 'cpuMemArena', 'memPattern', 'preallocate', 'storePath', 'env',
]);

/**
 * Validates options once and fills in environment variables and defaults.
 * Throws `TypeError` for a wrong type and `RangeError` for a value out of range or a conflict.
 */
export function resolveOptions(input: PoolOptions = {}, cores = availableParallelism()): ResolvedOptions {
  if (typeof input !== 'object' || input === null || read('options', () => Array.isArray(input))) {
    throw new TypeError(`options must be an object, received ${show(input)}`);
  }
  for (const key of read('options', () => Object.keys(input))) {
    if (!KNOWN_KEYS.has(key)) {
      throw new TypeError(`unknown option ${JSON.stringify(key)}; valid options are ${[...KNOWN_KEYS].join(', ')}`);
    }
  }
  // Each option is read once: a getter could answer a valid value to the check and another one later.
  const copy: Record<string, unknown> = {};
  for (const key of KNOWN_KEYS) copy[key] = read(`options.${key}`, () => (input as Record<string, unknown>)[key]);
  const options = copy as PoolOptions;
  const env = options.env === undefined ? process.env : options.env;
  if (env !== false && (typeof env !== 'object' || env === null)) {
    throw new TypeError(`options.env must be an object or false, received ${show(env)}`);
  }
  const get = (key: keyof typeof ENV_VARS, explicit: unknown) => pick(options, key, explicit, env, ENV_VARS[key]);

  let explicitMin: unknown;
  let explicitMax: unknown;
  const threads: unknown = options.threads;
  if (typeof threads === 'object' && threads !== null) {
    // Only { min, max }: an array, a Date or a typo'd key would otherwise mean the default silently.
    if (!isPlainObject(threads, 'options.threads')) {
      throw new TypeError(`options.threads must be a number or { min, max }, received ${show(threads)}`);
    }
    for (const key of read('options.threads', () => Object.keys(threads))) {
      if (key !== 'min' && key !== 'max') throw new TypeError(`unknown option ${JSON.stringify(`threads.${key}`)}; options.threads takes min and max`);
    }
    explicitMin = read('options.threads.min', () => threads.min);
    explicitMax = read('options.threads.max', () => threads.max);
  } else if (threads !== undefined) {
    if (typeof threads !== 'number') {
      throw new TypeError(`options.threads must be a number or { min, max }, received ${show(threads)}`);
    }
    explicitMin = threads;
    explicitMax = threads;
  }
  const maxSrc = get('maxThreads', explicitMax);
  const maxThreads = integer(
    maxSrc && { ...maxSrc, from: maxSrc.fromEnv ? maxSrc.from : typeof threads === 'number' ? 'options.threads' : 'options.threads.max' },
    defaultThreads(cores),
    1,
    1024,
  );
  const minSrc = get('minThreads', explicitMin);
  const minThreads = integer(
    minSrc && { ...minSrc, from: minSrc.fromEnv ? minSrc.from : typeof threads === 'number' ? 'options.threads' : 'options.threads.min' },
    maxThreads,
    1,
    1024,
  );
  if (minThreads > maxThreads) {
    throw new RangeError(`threads.min (${minThreads}) must not exceed threads.max (${maxThreads})`);
  }

  const resolved: ResolvedOptions = {
    model: text(get('model', options.model)) ?? DEFAULTS.model,
    dtype: choice(get('dtype', options.dtype), DEFAULTS.dtype, DTYPES),
    allowRemoteModels: bool(get('allowRemoteModels', options.allowRemoteModels), DEFAULTS.allowRemoteModels),
    cacheDir: text(get('cacheDir', options.cacheDir)),
    minThreads,
    maxThreads,
    idleTimeout: millis(get('idleTimeout', options.idleTimeout), DEFAULTS.idleTimeout, true),
    intraOpThreads: integer(get('intraOpThreads', options.intraOpThreads), Math.max(1, Math.floor(cores / maxThreads)), 1, 1024),
    warmup: choice(get('warmup', options.warmup), DEFAULTS.warmup, WARMUPS),
    concurrentTasksPerWorker: integer(get('concurrentTasksPerWorker', options.concurrentTasksPerWorker), DEFAULTS.concurrentTasksPerWorker, 1, 64),
    maxQueue: integer(get('maxQueue', options.maxQueue), DEFAULTS.maxQueue, 0),
    queueTimeout: millis(get('queueTimeout', options.queueTimeout), DEFAULTS.queueTimeout, true),
    timeout: millis(get('timeout', options.timeout), DEFAULTS.timeout, true),
    batchSize: integer(get('batchSize', options.batchSize), DEFAULTS.batchSize, 1, 4096),
    batching: bool(get('batching', options.batching), DEFAULTS.batching),
    maxBatchSize: integer(get('maxBatchSize', options.maxBatchSize), DEFAULTS.maxBatchSize, 1, 65_536),
    maxBatchTokens: integer(get('maxBatchTokens', options.maxBatchTokens), DEFAULTS.maxBatchTokens, 1, 1 << 30),
    maxBatchDelay: delay(get('maxBatchDelay', options.maxBatchDelay), DEFAULTS.maxBatchDelay),
    cacheBytes: integer(get('cacheBytes', options.cacheBytes), DEFAULTS.cacheBytes, 0),
    closeTimeout: millis(get('closeTimeout', options.closeTimeout), DEFAULTS.closeTimeout, true),
    retries: integer(get('retries', options.retries), DEFAULTS.retries, 0, 100),
    healthInterval: millis(get('healthInterval', options.healthInterval), DEFAULTS.healthInterval, false),
    // Compared with a heartbeat's age, never handed to a timer: no timer limit.
    healthTimeout: millis(get('healthTimeout', options.healthTimeout), DEFAULTS.healthTimeout, false, Infinity),
    resourceLimits: limits(options.resourceLimits),
    recycleHeapMb: millis(get('recycleHeapMb', options.recycleHeapMb), DEFAULTS.recycleHeapMb, true, Infinity, 'MiB'),
    cpuMemArena: bool(get('cpuMemArena', options.cpuMemArena), DEFAULTS.cpuMemArena),
    memPattern: bool(get('memPattern', options.memPattern), DEFAULTS.memPattern),
    preallocate: bool(get('preallocate', options.preallocate), DEFAULTS.preallocate),
    storePath: resolvePath(text(get('storePath', options.storePath)) ?? DEFAULTS.storePath),
  };
  return Object.freeze(resolved);
}
