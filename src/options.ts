/**
 * The pool's options: their public types (with TSDoc), and their table, from which the defaults,
 * the environment variables, the known keys, the reloadable keys, resolution and
 * `docs/options.md` are derived (see `option-table.ts`).
 */
import { availableParallelism } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  boolean,
  defaultsOf,
  envVarsOf,
  integer,
  isPlainObject,
  knownKeysOf,
  MAX_TIMER_MS,
  millis,
  numberOf,
  oneOf,
  parser,
  path,
  read,
  received,
  reloadableOf,
  resolveWith,
  text,
  type Family,
  type OptionRow,
  type Equal,
  type Resolved,
  type Source,
} from './option-table.js';
import { DTYPES, MODEL_TASKS, POOLINGS, type Dtype, type ModelInfo, type ModelTask, type Pooling, type PoolState } from './types.js';
import { defaultWeightsCache } from './weights.js';

export { MAX_TIMER_MS, DTYPES, MODEL_TASKS, POOLINGS };
export type { Dtype, ModelTask, Pooling };

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
  /**
   * What `model` does: `embed` (texts to vectors), `rerank` (a cross-encoder scoring query and
   * document pairs), `classify` (a sequence classifier with labels). Env: `WARMPOOL_TASK`.
   * @default 'embed'
   */
  task?: Exclude<ModelTask, 'custom'>;
  /**
   * More models in the same pool, by name, each with its own workers, queue, stats and health:
   * e.g. `{ rerank: { task: 'rerank', model: 'glove-rerank' } }`. Options an entry leaves out
   * come from the pool's. The pool's own `model` joins them as `'default'`, unless `models`
   * already holds an embedding model and `model` is not set. `threads` is then the budget of the
   * whole pool: at most that many workers, of every model together, run at once (each entry's
   * own `threads` defaults to `{ min: 1, max: budget }`). See docs/models.md.
   * @default none
   */
  models?: Record<string, ModelEntry>;
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
   * demand and stopped after `idleTimeout`). `min: 0` scales to zero: no worker (and no model in
   * memory) while idle, and the next call warms one again. Env: `WARMPOOL_THREADS` (max) and
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
   * Milliseconds a model run of batch work aims to last: the worker cuts batch-lane tasks into runs
   * of about this long (learned from its own runs; never under 1,024 padded tokens), so an
   * interactive call that arrives meanwhile waits about this long for the run under way. `0`: no
   * limit (runs as large as `batchSize` and `maxBatchTokens` allow). Interactive work always runs
   * in runs as large as those allow. Env: `WARMPOOL_BATCH_RUN_MS`.
   * @default 250
   */
  batchRunMs?: number;
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
   * Milliseconds a worker may take to load its model before it is ended and replaced (after the
   * supervisor's backoff), with a `LoadTimeoutError`. A worker stuck in JavaScript (reading files,
   * building the tokenizer, a custom loader that never resolves) is ended at once; one stuck inside
   * onnxruntime's session creation is reported at once and ended as soon as it leaves it (ending
   * a thread inside native code can abort the process). `Infinity`: no deadline.
   * Env: `WARMPOOL_LOAD_TIMEOUT`.
   * @default 120000
   */
  loadTimeout?: number;
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
   * Once a worker is ready, run its model on the largest batches it may ever run (`batchSize`
   * texts of the model's longest input, within `maxBatchTokens`), so onnxruntime's arena reaches
   * its peak early: RSS then stays flat while serving texts of every length. The runs are batch
   * work done after the worker reports ready, so they never delay ready, and calls made meanwhile go
   * first (an interactive call waits one of those runs at most). Off by default: they cost about
   * 2.5 s of one thread per worker for a MiniLM-sized model, and the peak's memory in every worker
   * even if only short texts ever come, which a desktop app pays all day. No effect with
   * `cpuMemArena: false`. Either way a worker runs one short text before it reports ready, so its
   * first call is warm. Env: `WARMPOOL_PREALLOCATE`.
   * @default false
   */
  preallocate?: boolean;
  /**
   * Where models prepared for shared weights are kept, one folder per model and machine: the
   * workers of a model then map one copy of its weights instead of each holding its own (see
   * docs/model.md, "One copy of the weights"). Prepared once per machine, on the first start.
   * `false` turns sharing off: every worker loads its own copy, as transformers.js does. A
   * folder that cannot be written (and does not hold the model already) falls back to that, and
   * `pool.model.weights.reason` says why. Env: `WARMPOOL_WEIGHTS_CACHE` (a path, or `false`).
   * @default `$XDG_CACHE_HOME/warmpool/weights`, else `~/.cache/warmpool/weights`
   */
  weightsCache?: string | false;
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

/**
 * One model of a pool's `models`. Every pool option that is about one model may be set here;
 * what an entry leaves out comes from the pool's options.
 */
export interface ModelEntry
  extends Pick<
    PoolOptions,
    | 'model'
    | 'dtype'
    | 'allowRemoteModels'
    | 'cacheDir'
    | 'threads'
    | 'idleTimeout'
    | 'intraOpThreads'
    | 'concurrentTasksPerWorker'
    | 'maxQueue'
    | 'queueTimeout'
    | 'timeout'
    | 'batchSize'
    | 'batching'
    | 'maxBatchSize'
    | 'maxBatchTokens'
    | 'maxBatchDelay'
    | 'batchRunMs'
    | 'cacheBytes'
    | 'retries'
    | 'resourceLimits'
    | 'recycleHeapMb'
    | 'loadTimeout'
    | 'cpuMemArena'
    | 'memPattern'
    | 'preallocate'
  > {
  /** What the model does. @default 'embed' */
  task?: ModelTask;
  /**
   * `custom` only: the module (a path, taken from the working directory, or a `file:` URL) whose
   * default export loads the model in each worker (see `TaskLoader`).
   */
  module?: string;
  /** `custom` only: passed to the module's loader as `context.options` (structured-cloned). */
  options?: unknown;
}

/** The keys a `models` entry may hold. */
export const MODEL_ENTRY_KEYS = Object.freeze([
  'task',
  'model',
  'module',
  'options',
  'dtype',
  'allowRemoteModels',
  'cacheDir',
  'threads',
  'idleTimeout',
  'intraOpThreads',
  'concurrentTasksPerWorker',
  'maxQueue',
  'queueTimeout',
  'timeout',
  'batchSize',
  'batching',
  'maxBatchSize',
  'maxBatchTokens',
  'maxBatchDelay',
  'batchRunMs',
  'cacheBytes',
  'retries',
  'resourceLimits',
  'recycleHeapMb',
  'loadTimeout',
  'cpuMemArena',
  'memPattern',
  'preallocate',
] as const satisfies readonly (keyof ModelEntry)[]);

/** A model's name: what calls, routes and metrics name it by. */
export const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

const modelEntries = parser('an object of model entries by name', (src): Readonly<Record<string, Readonly<ModelEntry>>> => {
  const value = src.value;
  if (!isPlainObject(value, src.from)) throw new TypeError(`${src.from} must be an object of model entries by name, received ${received(value)}`);
  const out: Record<string, Readonly<ModelEntry>> = {};
  const names = read(src.from, () => Object.keys(value));
  if (names.length === 0) throw new RangeError(`${src.from} must name at least one model (or leave it out)`);
  for (const name of names) {
    if (!MODEL_NAME.test(name)) {
      throw new RangeError(`${src.from} has a model named ${JSON.stringify(name)}; a name is 1 to 64 letters, digits, '.', '_', ':' or '-', starting with a letter or digit`);
    }
    const from = `${src.from}.${name}`;
    const entry = read(from, () => value[name]);
    if (!isPlainObject(entry, from)) throw new TypeError(`${from} must be an object (a model entry), received ${received(entry)}`);
    const copy: Record<string, unknown> = {};
    for (const key of read(from, () => Object.keys(entry))) {
      if (!(MODEL_ENTRY_KEYS as readonly string[]).includes(key)) {
        throw new TypeError(`unknown option ${JSON.stringify(key)} in ${from}; a model entry takes ${MODEL_ENTRY_KEYS.join(', ')}`);
      }
      copy[key] = read(`${from}.${key}`, () => entry[key]);
    }
    const task = copy.task ?? 'embed';
    if (typeof task !== 'string' || !(MODEL_TASKS as readonly string[]).includes(task)) {
      throw new RangeError(`${from}.task must be one of ${MODEL_TASKS.map((t) => `'${t}'`).join(', ')}, received ${received(copy.task)}`);
    }
    if (task === 'custom') {
      if (typeof copy.module !== 'string' || copy.module.trim() === '') {
        throw new TypeError(`${from}.module must name the module that loads a custom model (a path or a file: URL), received ${received(copy.module)}`);
      }
    } else {
      if (copy.module !== undefined || copy.options !== undefined) {
        throw new TypeError(`${from}: module and options are for task 'custom' only (this entry's task is '${task}')`);
      }
      if (typeof copy.model !== 'string' || copy.model.trim() === '') {
        throw new TypeError(`${from}.model must name the model (bundled name, folder or hub id), received ${received(copy.model)}`);
      }
    }
    out[name] = Object.freeze(copy as ModelEntry);
  }
  return Object.freeze(out);
});

/**
 * Options after defaults, environment and validation: what the pool runs with. Written out for its
 * docs; a compile-time check below the table holds it to what the table resolves to.
 */
export interface ResolvedOptions {
  readonly model: string;
  readonly task: Exclude<ModelTask, 'custom'>;
  /** The `models` option as given (checked); see {@link resolveModels} for each entry's options. */
  readonly models: Readonly<Record<string, Readonly<ModelEntry>>> | undefined;
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
  readonly batchRunMs: number;
  readonly cacheBytes: number;
  readonly closeTimeout: number;
  readonly retries: number;
  readonly healthInterval: number;
  readonly healthTimeout: number;
  readonly loadTimeout: number;
  readonly resourceLimits: ResourceLimits | undefined;
  readonly recycleHeapMb: number;
  readonly cpuMemArena: boolean;
  readonly memPattern: boolean;
  readonly preallocate: boolean;
  /** Absolute path of the weights cache, or false (sharing off). */
  readonly weightsCache: string | false;
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


/** The default worker count: every core, but no more than 4 (each worker holds its own model). */
export function defaultThreads(cores = availableParallelism()): number {
  return Math.max(1, Math.min(cores, 4));
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

const limits = parser('an object of V8 limits in MiB', (src): ResourceLimits => {
  const value = src.value;
  if (!isPlainObject(value, src.from)) throw new TypeError(`${src.from} must be an object, received ${received(value)}`);
  const out: ResourceLimits = {};
  for (const [key, v] of read(src.from, () => Object.entries(value))) {
    if (!Object.hasOwn(LIMITS, key)) {
      throw new TypeError(`${src.from} has unknown resource limit ${JSON.stringify(key)}; valid ones are ${Object.keys(LIMITS).join(', ')}`);
    }
    const { min, max } = LIMITS[key as LimitKey];
    // min 0 is exclusive (a limit of 0 means none to Node); min 1 (the stack) inclusive.
    const ok = typeof v === 'number' && Number.isFinite(v) && (min === 0 ? v > 0 : v >= min) && v <= max;
    if (!ok) {
      const range = min === 0 ? (max === Infinity ? 'a positive finite number' : `a positive number up to ${max}`) : `a number from ${min} to ${max}`;
      throw new RangeError(`${src.from}.${key} must be ${range}, received ${received(v)}`);
    }
    out[key as LimitKey] = v;
  }
  return Object.freeze(out);
});

/** `weightsCache`: a folder (made absolute) or false; from the environment, `false`/`0`/`off`/`no` is false. */
const weightsCachePath = parser('a folder path or false', (src): string | false => {
  if (src.value === false) return false;
  if (src.fromEnv && ['0', 'false', 'no', 'off'].includes(String(src.value).toLowerCase())) return false;
  if (typeof src.value !== 'string' || src.value.trim() === '') throw new TypeError(`${src.from} must be a folder path or false, received ${received(src.value)}`);
  return resolvePath(src.value);
});

/**
 * `threads` is a number (min = max) or `{ min, max }`: each of the two rows finds its part. Only
 * those two keys: an array, a Date or a typo'd key would otherwise mean the default silently.
 */
const threadsPart =
  (part: 'min' | 'max') =>
  (options: Readonly<Record<string, unknown>>): Source | undefined => {
    const threads = options.threads;
    if (threads === undefined) return undefined;
    if (typeof threads === 'number') return { from: 'options.threads', value: threads, fromEnv: false };
    if (!isPlainObject(threads, 'options.threads')) {
      throw new TypeError(`options.threads must be a number or { min, max }, received ${received(threads)}`);
    }
    for (const key of read('options.threads', () => Object.keys(threads))) {
      if (key !== 'min' && key !== 'max') throw new TypeError(`unknown option ${JSON.stringify(`threads.${key}`)}; options.threads takes min and max`);
    }
    const from = `options.threads.${part}`;
    const value = read(from, () => threads[part]);
    return value === undefined ? undefined : { from, value, fromEnv: false };
  };

type Cores = number;

/**
 * Every option of the pool, once. The TSDoc of {@link PoolOptions} is the long form of each `doc`;
 * `test/unit/option-table.test.ts` checks that the two agree on keys, defaults and variables.
 */
export const POOL_OPTIONS = {
  model: {
    parse: text,
    env: 'WARMPOOL_MODEL',
    flag: '--model <name|path|hub-id>',
    default: 'glove-100d',
    reload: true,
    doc: 'The embedding model: a model bundled in `models/`, a transformers.js model folder, or a Hugging Face hub id (needs `allowRemoteModels`).',
  },
  task: {
    parse: oneOf(['embed', 'rerank', 'classify'] as const),
    env: 'WARMPOOL_TASK',
    flag: '--task <embed|rerank|classify>',
    default: 'embed',
    doc: 'What `model` does: `embed` (vectors), `rerank` (a cross-encoder scoring query-document pairs), `classify` (labels from its `id2label`).',
  },
  models: {
    parse: modelEntries,
    flag: '--with <name=task:model>',
    doc: "More models in the same pool, by name (`{ rerank: { task: 'rerank', model: 'glove-rerank' } }`), each with its own workers, queue, stats and health; an entry's options default to the pool's. `threads` is then the whole pool's budget of running workers. See docs/models.md.",
  },
  dtype: {
    parse: oneOf(DTYPES),
    env: 'WARMPOOL_DTYPE',
    flag: '--dtype <dtype>',
    default: 'fp32',
    reload: true,
    doc: 'Model precision.',
  },
  allowRemoteModels: {
    parse: boolean,
    env: 'WARMPOOL_ALLOW_REMOTE_MODELS',
    flag: '--allow-remote-models',
    default: false,
    reload: true,
    doc: 'Let transformers.js download a hub model that is not on disk; warmpool never reaches the network unless asked to.',
  },
  cacheDir: {
    parse: text,
    env: 'WARMPOOL_CACHE_DIR',
    flag: '--cache-dir <path>',
    none: "transformers.js' own",
    reload: true,
    doc: 'Where downloaded hub models are cached.',
  },
  maxThreads: {
    parse: integer(1, 1024),
    env: 'WARMPOOL_THREADS',
    flag: '--threads <n>',
    option: 'threads',
    given: threadsPart('max'),
    name: '`threads`, `threads.max`',
    computed: { doc: 'min(available cores, 4)', of: (_r, cores: Cores) => defaultThreads(cores) },
    doc: 'Worker threads: a number (a fixed pool), or `{ min, max }`: workers above `min` are started on demand and stopped after `idleTimeout`.',
  },
  minThreads: {
    parse: integer(0, 1024),
    env: 'WARMPOOL_MIN_THREADS',
    flag: '--min-threads <n>',
    option: 'threads',
    given: threadsPart('min'),
    name: '`threads.min`',
    computed: { doc: '`threads.max`', of: (r) => r.maxThreads as number },
    doc: 'Workers kept warm when idle. `0` scales to zero: every worker leaves after `idleTimeout` idle, and the next call warms one again.',
  },
  idleTimeout: {
    parse: millis({ infinity: true }),
    env: 'WARMPOOL_IDLE_TIMEOUT',
    default: 30_000,
    doc: 'Milliseconds an idle worker above `threads.min` lives.',
  },
  intraOpThreads: {
    parse: integer(1, 1024),
    env: 'WARMPOOL_INTRA_OP_THREADS',
    flag: '--intra-op-threads <n>',
    computed: { doc: 'max(1, floor(cores / threads.max))', of: (r, cores: Cores) => Math.max(1, Math.floor(cores / (r.maxThreads as number))) },
    doc: 'onnxruntime intra-op threads per worker; the default keeps workers x threads within the cores.',
  },
  warmup: {
    parse: oneOf(WARMUPS),
    env: 'WARMPOOL_WARMUP',
    default: 'eager',
    doc: '`eager` starts and warms `threads.min` workers at `createPool`; `lazy` waits for the first call (or `ready()`).',
  },
  concurrentTasksPerWorker: {
    parse: integer(1, 64),
    env: 'WARMPOOL_CONCURRENT_TASKS_PER_WORKER',
    default: 2,
    doc: 'Tasks a worker holds at once; it runs them one after another, in order, so the next is already there when one ends. Idle workers get waiting calls first.',
  },
  maxQueue: {
    parse: integer(0),
    env: 'WARMPOOL_MAX_QUEUE',
    flag: '--max-queue <n>',
    default: 1024,
    doc: 'Most calls waiting for a worker; one more is rejected at once with `QueueFullError`.',
  },
  queueTimeout: {
    parse: millis({ infinity: true }),
    env: 'WARMPOOL_QUEUE_TIMEOUT',
    flag: '--queue-timeout <ms>',
    default: Infinity,
    doc: 'Milliseconds a call may wait for a worker before `QueueTimeoutError` (a collection call: for the index worker to open the store).',
  },
  timeout: {
    parse: millis({ infinity: true }),
    env: 'WARMPOOL_TIMEOUT',
    flag: '--timeout <ms>',
    default: Infinity,
    doc: 'Default milliseconds a call may run before `TaskTimeoutError`; the worker keeps its model.',
  },
  batchSize: {
    parse: integer(1, 4096),
    env: 'WARMPOOL_BATCH_SIZE',
    flag: '--batch-size <n>',
    default: 32,
    doc: "Most texts in one model run (a task's texts are sorted by length first, so padding stays small).",
  },
  batching: {
    parse: boolean,
    env: 'WARMPOOL_BATCHING',
    default: true,
    doc: 'Coalesce concurrent calls into shared tasks; each caller still gets exactly its own vectors.',
  },
  maxBatchSize: {
    parse: integer(1, 65_536),
    env: 'WARMPOOL_MAX_BATCH_SIZE',
    default: 64,
    doc: 'Most texts in one coalesced task (a single larger call still runs whole).',
  },
  maxBatchTokens: {
    parse: integer(1, 1 << 30),
    env: 'WARMPOOL_MAX_BATCH_TOKENS',
    default: 8192,
    doc: "Most padded tokens (texts x longest) in one model run; a single longer text still runs alone. Bounds a run's memory.",
  },
  maxBatchDelay: {
    parse: numberOf({ min: 0, max: 60_000, unit: 'milliseconds' }),
    env: 'WARMPOOL_MAX_BATCH_DELAY',
    default: 0,
    doc: 'Milliseconds a call may wait for others to join its task while a worker is free (`0`: calls of the same tick still share a task).',
  },
  batchRunMs: {
    parse: numberOf({ min: 0, max: 60_000, unit: 'milliseconds' }),
    env: 'WARMPOOL_BATCH_RUN_MS',
    default: 250,
    doc: 'Milliseconds a model run of batch work aims to last (learned from the worker\'s runs; at least 1,024 padded tokens), so an interactive call waits about that long for it; `0`: no limit.',
  },
  cacheBytes: {
    parse: integer(0),
    env: 'WARMPOOL_CACHE_BYTES',
    default: 64 * 1024 * 1024,
    doc: 'Bytes of the vector cache shared by all callers; `0` turns it off.',
  },
  closeTimeout: {
    parse: millis({ infinity: true }),
    env: 'WARMPOOL_CLOSE_TIMEOUT',
    default: 10_000,
    doc: '`close()` lets running calls finish for this many milliseconds before it stops the workers.',
  },
  retries: {
    parse: integer(0, 100),
    env: 'WARMPOOL_RETRIES',
    default: 1,
    doc: "Times a call whose worker died runs again on another worker before `WorkerExitedError` (the index worker's calls too).",
  },
  healthInterval: {
    parse: millis({ infinity: false }),
    env: 'WARMPOOL_HEALTH_INTERVAL',
    default: 1000,
    doc: 'Milliseconds between health checks of the workers.',
  },
  healthTimeout: {
    // Compared with a heartbeat's age, never handed to a timer: no timer limit.
    parse: millis({ infinity: false, max: Infinity }),
    env: 'WARMPOOL_HEALTH_TIMEOUT',
    default: 10_000,
    doc: "Milliseconds a worker's event loop may stay blocked before the worker is ended and replaced.",
  },
  loadTimeout: {
    // Compared with a load's age, never handed to a timer: no timer limit.
    parse: millis({ infinity: true, max: Infinity }),
    env: 'WARMPOOL_LOAD_TIMEOUT',
    default: 120_000,
    doc: 'Milliseconds a worker may take to load its model before it is ended (at once in JavaScript, on leaving onnxruntime otherwise) and replaced after a backoff, with `LoadTimeoutError`. `Infinity`: no deadline.',
  },
  resourceLimits: {
    parse: limits,
    doc: 'V8 limits per worker (`maxOldGenerationSizeMb`, `maxYoungGenerationSizeMb`, `codeRangeSizeMb`, `stackSizeMb`); a worker over them dies and is replaced. Positive finite MiB; `stackSizeMb` from 1 to 1024 and `codeRangeSizeMb` at most 4096 (past those, starting a worker aborts the process).',
  },
  recycleHeapMb: {
    parse: millis({ infinity: true, max: Infinity, unit: 'MiB' }),
    env: 'WARMPOOL_RECYCLE_HEAP_MB',
    default: Infinity,
    doc: 'MiB of V8 heap past which a worker is replaced: its replacement loads first, then it takes no new task and ends once idle.',
  },
  cpuMemArena: {
    parse: boolean,
    env: 'WARMPOOL_CPU_MEM_ARENA',
    default: true,
    doc: "onnxruntime's CPU memory arena: faster allocation, but it keeps the peak of every run's buffers.",
  },
  memPattern: {
    parse: boolean,
    env: 'WARMPOOL_MEM_PATTERN',
    default: false,
    doc: "onnxruntime's memory-pattern planning; it plans, and keeps memory, for each input shape.",
  },
  preallocate: {
    parse: boolean,
    env: 'WARMPOOL_PREALLOCATE',
    default: false,
    doc: "Once a worker is ready, run the largest batches it may ever run (as batch work: calls go first), so onnxruntime's arena reaches its peak early and RSS stays flat while serving. Costs that memory at rest. No effect with `cpuMemArena: false`.",
  },
  weightsCache: {
    parse: weightsCachePath,
    env: 'WARMPOOL_WEIGHTS_CACHE',
    flag: '--weights-cache <dir>',
    computed: { doc: '`$XDG_CACHE_HOME/warmpool/weights`, else `~/.cache/warmpool/weights`', of: () => defaultWeightsCache() },
    doc: "Where models prepared for shared weights are kept (one folder per model and machine), so a model's workers map one copy of its weights; `false`: each worker loads its own copy.",
  },
  storePath: {
    parse: path(resolvePath),
    env: 'WARMPOOL_STORE_PATH',
    flag: '--store <dir>',
    default: './.warmpool',
    doc: "The directory of the pool's collections, resolved against the working directory at `createPool`.",
  },
} as const satisfies Record<string, OptionRow<any>>;

const POOL_FAMILY: Family<typeof POOL_OPTIONS> = { table: POOL_OPTIONS, label: 'options', env: true };

/** The defaults of the options that have a fixed one. */
export const DEFAULTS = defaultsOf(POOL_OPTIONS);

/** The environment variable behind each option. */
export const ENV_VARS = envVarsOf(POOL_OPTIONS);

/** The keys `createPool` takes; any other is a TypeError. */
export const POOL_OPTION_KEYS = knownKeysOf(POOL_FAMILY);

/** The options a rolling reload (`pool.reload()`) may change. */
export const RELOADABLE_OPTIONS = reloadableOf(POOL_OPTIONS);

/** Compile-time: {@link ResolvedOptions} (hand-written, for its docs) is exactly what the table resolves to. */
const resolvedMatchesTable: Equal<ResolvedOptions, Resolved<typeof POOL_OPTIONS>> = true;
void resolvedMatchesTable;

/**
 * Validates options once and fills in environment variables and defaults.
 * Throws `TypeError` for a wrong type and `RangeError` for a value out of range or a conflict.
 */
export function resolveOptions(input: PoolOptions = {}, cores = availableParallelism()): ResolvedOptions {
  const resolved = resolveWith(POOL_FAMILY, input, cores) as Resolved<typeof POOL_OPTIONS>;
  if (resolved.minThreads > resolved.maxThreads) {
    throw new RangeError(`threads.min (${resolved.minThreads}) must not exceed threads.max (${resolved.maxThreads})`);
  }
  return Object.freeze(resolved);
}

/** Checks `pool.reload()`'s argument: an object of reloadable options, nothing else. */
export function checkReloadOptions(changes: unknown): void {
  if (typeof changes !== 'object' || changes === null) throw new TypeError(`reload options must be an object, received ${received(changes)}`);
  const keys: readonly string[] = RELOADABLE_OPTIONS;
  for (const key of read('reload options', () => Object.keys(changes))) {
    if (!keys.includes(key)) {
      throw new TypeError(`reload takes ${keys.slice(0, -1).join(', ')} and ${keys.at(-1)}; received ${JSON.stringify(key)}`);
    }
  }
}

/** The options after a reload: the pool's reloadable ones with `changes` over them (the environment is not read again). */
export function reloadedOptions(current: ResolvedOptions, changes: object): ResolvedOptions {
  const base = Object.fromEntries(RELOADABLE_OPTIONS.map((key) => [key, current[key]]));
  return resolveOptions({ ...base, ...changes, env: false });
}

/** One model of a pool, as `pool.models` lists it. */
export interface ModelStatus {
  /** The pool's name for it (`'default'` for the `model` option). */
  name: string;
  task: ModelTask;
  /** What it loads: the model's folder or hub id, or a custom task's module. */
  source: string;
  state: PoolState;
  /** The options it runs with: the pool's, with its entry's over them. */
  options: ResolvedOptions;
  /** What a worker found once it loaded the model. */
  info: ModelInfo | undefined;
  /** Why it failed, when its state is `failed`. */
  error: string | undefined;
}

/** Model settings a rolling reload (`pool.reload()`) may change. */
export type ReloadOptions = Pick<PoolOptions, 'model' | 'dtype' | 'allowRemoteModels' | 'cacheDir'>;

/** One model of the pool, with the options it runs with. */
export interface ResolvedModel {
  readonly name: string;
  readonly task: ModelTask;
  /** The pool's options with the entry's over them: what this model's workers and queue run with. */
  readonly options: ResolvedOptions;
  /** `custom`: the loader module, as a file URL. */
  readonly module: string | undefined;
  readonly moduleOptions: unknown;
}

/** The pool's model entries' keys that are not pool options. */
const ENTRY_ONLY = new Set(['task', 'module', 'options']);

/**
 * Every model of a pool, in order: the pool's own `model` as `'default'` (unless `models` already
 * holds an embedding model and `model` was not set), then the `models` entries. Each entry's
 * options are the pool's (as given, with the environment) with the entry's over them, checked
 * the same way. With several models, `threads` is the pool's budget: each entry's `threads`
 * defaults to `{ min: 1, max: budget }` and its `intraOpThreads` to the cores shared by the budget.
 */
export function resolveModels(input: PoolOptions, resolved: ResolvedOptions, cores = availableParallelism(), cwdUrl?: (p: string) => string): ResolvedModel[] {
  const entries = resolved.models;
  if (!entries) return [{ name: 'default', task: resolved.task, options: resolved, module: undefined, moduleOptions: undefined }];
  const env = input.env === undefined ? process.env : input.env;
  const modelGiven = input.model !== undefined || (env !== false && (env.WARMPOOL_MODEL ?? '').trim() !== '');
  const hasEmbedder = Object.values(entries).some((e) => (e.task ?? 'embed') === 'embed');
  const list: [string, Readonly<ModelEntry>][] = [];
  if (!Object.hasOwn(entries, 'default') && (modelGiven || !hasEmbedder)) list.push(['default', { task: resolved.task, model: resolved.model }]);
  list.push(...Object.entries(entries));
  const budget = resolved.maxThreads;
  const { models: _models, task: _task, ...base } = input;
  const out: ResolvedModel[] = [];
  for (const [name, entry] of list) {
    const own: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(entry)) if (!ENTRY_ONLY.has(key) && value !== undefined) own[key] = value;
    const task = entry.task ?? 'embed';
    if (task === 'custom') own.model ??= entry.module;
    own.threads ??= { min: 1, max: budget };
    own.intraOpThreads ??= input.intraOpThreads ?? Math.max(1, Math.floor(cores / budget));
    let options: ResolvedOptions;
    try {
      options = resolveOptions({ ...base, ...own } as PoolOptions, cores);
    } catch (error) {
      const e = error as Error;
      const Class = e instanceof RangeError ? RangeError : TypeError;
      throw new Class(`options.models.${name}: ${e.message}`, { cause: error });
    }
    if (options.maxThreads > budget) {
      throw new RangeError(`options.models.${name}.threads.max (${options.maxThreads}) must not exceed the pool's threads (${budget}): threads is the budget of the whole pool`);
    }
    const module = task === 'custom' ? (cwdUrl ?? defaultModuleUrl)(entry.module!) : undefined;
    out.push(Object.freeze({ name, task, options, module, moduleOptions: entry.options }));
  }
  return out;
}

function defaultModuleUrl(module: string): string {
  return module.startsWith('file:') ? module : pathToFileURL(resolvePath(module)).href;
}
