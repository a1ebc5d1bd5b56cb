/**
 * Shared public types, and the few constant lists they are derived from. A leaf: this module
 * imports nothing, so any file may import it without forming an import circle.
 */

/** Model precisions transformers.js can load (`onnx/model.onnx`, `onnx/model_quantized.onnx`, ...). */
export const DTYPES = ['auto', 'fp32', 'fp16', 'q8', 'int8', 'uint8', 'q4', 'bnb4', 'q4f16'] as const;
export type Dtype = (typeof DTYPES)[number];

export const POOLINGS = ['mean', 'cls', 'lasttoken'] as const;
/** How token vectors become one text vector: their mean (masked), or the first token's (`[CLS]`). */
export type Pooling = (typeof POOLINGS)[number];

/**
 * A call's lane in the admission queue and on the workers: a waiting `interactive` call goes ahead
 * of waiting `batch` work, and a running batch task lets it run between its model runs.
 */
export const PRIORITIES = ['interactive', 'batch'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** What a model in the pool does. */
export const MODEL_TASKS = ['embed', 'rerank', 'classify', 'custom'] as const;
/**
 * `embed`: texts to vectors (feature extraction); `rerank`: a cross-encoder that scores (query,
 * document) pairs; `classify`: a sequence classifier (labels from its `id2label`); `custom`: a
 * module of your own that loads a model and runs batches of inputs.
 */
export type ModelTask = (typeof MODEL_TASKS)[number];

/** Vectors in one row-major block: `dims[0]` vectors of `dims[1]` floats. */
export interface PackedVectors {
  data: Float32Array;
  dims: [number, number];
  /**
   * Tokens of this call's texts, special tokens included, after truncation (e.g. for usage
   * reports); texts answered from the cache count the tokens they made when first embedded.
   */
  tokens: number;
}

/** How a model's weights are held by its workers (`pool.model.weights`). */
export interface WeightsInfo {
  /**
   * True: the workers map one copy of the weights (prepacked for this machine) from a prepared
   * file in the weights cache, so each extra worker adds little memory. False: each worker holds
   * its own copy, as transformers.js loads it; `reason` says why.
   */
  shared: boolean;
  /** Why the weights are not shared (the cache is off or not writable, the model cannot be prepared, ...). */
  reason?: string;
  /** What preparing the model cost, once per machine (ms, measured when it was prepared). */
  preparedMs?: number;
  /** Whether this worker prepared it (the first start on this machine), rather than finding it cached. */
  preparedNow?: boolean;
  /** The prepared model's folder in the weights cache. */
  cachePath?: string;
}

/** What the pool knows of its model once a worker has loaded it. */
export interface ModelInfo {
  /** The pool's name for the model (`'default'` for the `model` option). */
  name: string;
  task: ModelTask;
  /** The model's path on disk, or its hub id. */
  model: string;
  dtype: string;
  /** Vector length. */
  dims: number;
  /** Longest input in tokens (special tokens included); longer texts are truncated by default. */
  maxTokens: number;
  /** The pooling of a call that names none: the folder's `1_Pooling/config.json`, else `'mean'`. */
  pooling: Pooling;
  /** The model's prompts by name (`config_sentence_transformers.json`); `{}` when it has none. */
  prompts: Readonly<Record<string, string>>;
  /** The prompt applied when a call names none (`default_prompt_name`), if the model has one. */
  defaultPrompt: string | undefined;
  /** A `classify` or `rerank` model's labels in output order (its `id2label`); undefined for other tasks. */
  labels: readonly string[] | undefined;
  /**
   * A classify model whose labels are independent (its config's `problem_type` is
   * `multi_label_classification`): each label's score is its own sigmoid, not a share of a softmax.
   */
  multiLabel: boolean | undefined;
  /**
   * Whether the model is averaged word vectors rather than a transformer: its `config.json`
   * declares no layers (the bundled `glove-100d`). Hybrid search leans on keywords more for it.
   */
  wordVectors: boolean;
  /**
   * How the workers hold the model's weights: `shared: true` when they map one prepared copy from
   * the weights cache (`weightsCache`); otherwise each holds its own and `reason` says why.
   * Undefined for a custom task, and until a worker has said.
   */
  weights?: WeightsInfo;
}

export type PoolState = 'idle' | 'starting' | 'ready' | 'failed' | 'closing' | 'closed';


export interface CloseOptions {
  /** Milliseconds to let running calls finish (at most 2147483647, or Infinity); defaults to the pool's `closeTimeout`. */
  timeout?: number;
}

/** What the pool knows of one worker thread. */
export type WorkerPhase = 'loading' | 'ready' | 'failed' | 'hung' | 'recycling' | 'retiring';

/** What `pool.health()` reports. */
export interface HealthReport {
  /** `healthy`: every wanted worker is warm; `degraded`: some are; `unhealthy`: none (or the pool is failed or closed). */
  status: 'healthy' | 'degraded' | 'unhealthy';
  state: PoolState;
  /** Warm workers wanted (`threads.min`) and warm now. */
  wanted: number;
  warm: number;
  /** Workers replaced after a crash, a hang or a failed model load, since the pool started. */
  restarts: number;
  /** The last model-load error of a replacement worker, while no worker has loaded since. */
  lastError?: string;
  /** The index worker, once a collection call was made; `down` makes the pool at most `degraded`. */
  index?: IndexHealth;
  /** How the model's workers hold its weights, once a worker has loaded it: shared, or each its own and why. */
  weights?: WeightsInfo;
  /**
   * In a pool of several models, each model's own report, by name. The top-level figures are the
   * embedding model's; `status` is `healthy` only when every model is, and `unhealthy` only when
   * the embedding model is.
   */
  models?: Record<string, HealthReport>;
  workers: {
    threadId: number;
    /** What the supervisor knows of it (not the shared-stats slot state of `stats().workers[].state`). */
    phase: WorkerPhase;
    busy: number;
    /** Tasks it ran (one task carries one or more coalesced calls). */
    tasks: number;
    errors: number;
    lastMs: number;
    loadMs: number;
  }[];
}

export type IndexWorkerState = 'not-started' | 'starting' | 'warm' | 'down' | 'closed';

/** The index worker in `pool.health()`. */
export interface IndexHealth {
  /** `starting`: opening the store; `down`: the last start failed, the next waits for a backoff. */
  state: IndexWorkerState;
  /** Index workers that died or could not open the store, since the pool started. */
  restarts: number;
  /** Why the last one failed, until a replacement is warm. */
  lastError?: string;
  /** While `down`: milliseconds until a call may start the next attempt. */
  retryInMs?: number;
  /** Collections whose opening found damage since the pool started: what was dropped and where it was kept. */
  recoveries?: { collection: string; recovery: CollectionRecovery }[];
}

/**
 * What opening a collection found wrong on disk and what it did about it. Damaged files are never
 * destroyed: each is copied as found into the collection's `damaged/` folder (`keptAs`, relative
 * to the collection's folder) before recovery repairs it.
 */
export interface CollectionRecovery {
  /** When the collection was opened (ISO 8601). */
  at: string;
  /**
   * Whether documents that were acknowledged may be missing: a log segment was cut short or
   * deleted from outside. False when only a write torn by a crash (never acknowledged) was dropped,
   * or a damaged snapshot was rebuilt from the log.
   */
  acknowledgedLoss: boolean;
  /** Log records dropped from the files (a record torn by a crash counts as one). */
  recordsDropped: number;
  /** Bytes of those records. */
  bytesDropped: number;
  /**
   * Bytes of log found missing before opening (segments cut short or deleted): an upper bound on
   * the data lost, since a segment is allocated ahead of its records.
   */
  bytesMissing: number;
  /** Copies of the damaged files as found, relative to the collection's folder. */
  keptAs: string[];
  /** One sentence per problem found. */
  problems: string[];
  /** The problems in one message. */
  message: string;
}
