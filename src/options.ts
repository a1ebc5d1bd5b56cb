import { availableParallelism } from 'node:os';
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
  /** Milliseconds an idle worker above `threads.min` lives. Env: `WARMPOOL_IDLE_TIMEOUT`. @default 30000 */
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
  /** Calls a worker runs at the same time. Env: `WARMPOOL_CONCURRENT_TASKS_PER_WORKER`. @default 1 */
  concurrentTasksPerWorker?: number;
  /**
   * Most calls waiting for a worker; one more is rejected at once with `QueueFullError`.
   * Env: `WARMPOOL_MAX_QUEUE`.
   * @default 1024
   */
  maxQueue?: number;
  /**
   * Milliseconds a call may wait for a worker before it fails with `QueueTimeoutError`
   * (`Infinity`: no limit). Env: `WARMPOOL_QUEUE_TIMEOUT`.
   * @default Infinity
   */
  queueTimeout?: number;
  /**
   * Default per-call run-time limit in milliseconds (`Infinity`: none); a call past it fails with
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
  /** Milliseconds `close()` waits for running calls before it stops the workers. Env: `WARMPOOL_CLOSE_TIMEOUT`. @default 10000 */
  closeTimeout?: number;
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
  readonly closeTimeout: number;
  /** Absolute path of the collections directory. */
  readonly storePath: string;
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
  closeTimeout: 'WARMPOOL_CLOSE_TIMEOUT',
  storePath: 'WARMPOOL_STORE_PATH',
} as const satisfies Record<keyof ResolvedOptions, string>;

export const DEFAULTS = Object.freeze({
  model: 'glove-100d',
  dtype: 'fp32' as Dtype,
  allowRemoteModels: false,
  idleTimeout: 30_000,
  warmup: 'eager' as Warmup,
  concurrentTasksPerWorker: 1,
  maxQueue: 1024,
  queueTimeout: Infinity,
  timeout: Infinity,
  batchSize: 32,
  closeTimeout: 10_000,
  storePath: './.warmpool',
});

/** The default worker count: every core, but no more than 4 (each worker holds its own model). */
export function defaultThreads(cores = availableParallelism()): number {
  return Math.max(1, Math.min(cores, 4));
}

const show = (value: unknown): string => {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (Array.isArray(value)) return 'an array';
  return `a value of type ${typeof value}`;
};

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
  const raw = env[envName];
  if (raw === undefined || raw.trim() === '') return undefined;
  return { from: `environment variable ${envName}`, value: raw.trim(), fromEnv: true };
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

/** Milliseconds: a non-negative finite number or Infinity. */
function millis(src: Source | undefined, fallback: number, allowInfinity: boolean): number {
  if (!src) return fallback;
  const n = toNumber(src);
  if (n === Infinity && allowInfinity) return n;
  if (!Number.isFinite(n) || n <= 0) {
    const range = allowInfinity ? 'a positive number of milliseconds or Infinity' : 'a positive number of milliseconds';
    throw new RangeError(`${src.from} must be ${range}, received ${show(src.value)}`);
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
  'concurrentTasksPerWorker', 'maxQueue', 'queueTimeout', 'timeout', 'batchSize', 'closeTimeout', 'storePath', 'env',
]);

/**
 * Validates options once and fills in environment variables and defaults.
 * Throws `TypeError` for a wrong type and `RangeError` for a value out of range or a conflict.
 */
export function resolveOptions(options: PoolOptions = {}, cores = availableParallelism()): ResolvedOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`options must be an object, received ${show(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_KEYS.has(key)) {
      throw new TypeError(`unknown option ${JSON.stringify(key)}; valid options are ${[...KNOWN_KEYS].join(', ')}`);
    }
  }
  const env = options.env === undefined ? process.env : options.env;
  if (env !== false && (typeof env !== 'object' || env === null)) {
    throw new TypeError(`options.env must be an object or false, received ${show(env)}`);
  }
  const get = (key: keyof typeof ENV_VARS, explicit: unknown) => pick(options, key, explicit, env, ENV_VARS[key]);

  let explicitMin: unknown;
  let explicitMax: unknown;
  const threads = options.threads;
  if (typeof threads === 'object' && threads !== null) {
    explicitMin = threads.min;
    explicitMax = threads.max;
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
    closeTimeout: millis(get('closeTimeout', options.closeTimeout), DEFAULTS.closeTimeout, true),
    storePath: resolvePath(text(get('storePath', options.storePath)) ?? DEFAULTS.storePath),
  };
  return Object.freeze(resolved);
}
