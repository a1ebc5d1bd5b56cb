/**
 * What crosses the thread boundary between the pool and its workers. Plain data only: classes
 * and their prototypes do not survive `postMessage`.
 */
import type { WireError } from './errors.js';
import type { Dtype, ModelTask, Pooling } from './types.js';
import type { WeightsInfo } from './weights.js';

/** Where and how a worker loads its model. */
export interface ModelSpec {
  /** The pool's name for the model (`'default'` for the `model` option). */
  name: string;
  /** What the model does: each task has its own engine in the worker. */
  task: ModelTask;
  /** A `custom` task's module (a file URL): its default export loads the model. */
  module: string | undefined;
  /** A `custom` task's options, passed to its loader as they are (structured-cloned). */
  moduleOptions: unknown;
  /** Model id as transformers.js sees it: a folder name under `localModelPath`, or a hub id. */
  id: string;
  /** Folder that holds the model folder, or null for a hub model. */
  localModelPath: string | null;
  /** How the model is named in messages: its absolute path, or its hub id. */
  label: string;
  dtype: Dtype;
  allowRemoteModels: boolean;
  cacheDir: string | undefined;
  /** What the folder's sentence-transformers files say (pooling `'mean'` and no prompts without them). */
  pooling: Pooling;
  prompts: Record<string, string>;
  defaultPrompt: string | undefined;
  /** A model folder whose config.json declares no layers: averaged word vectors, not a transformer. */
  wordVectors: boolean;
}

/** `workerData` of every embedding worker. */
export interface WorkerConfig {
  poolId: string;
  /**
   * The number of the worker's host (its one-thread Piscina), never reused within a pool: a
   * thread Piscina starts again after a crash has the same one. Names the host's broadcast channel.
   */
  generation: number;
  model: ModelSpec;
  intraOpThreads: number;
  /** The weights cache (`weightsCache`), or false: each worker loads its own copy of the weights. */
  weightsCache: string | false;
  /** onnxruntime session memory settings. */
  memory: { cpuMemArena: boolean; memPattern: boolean };
  /** The run limits of every task, and whether to reach the arena's peak at load (see `preallocate`). */
  warmup: { batchSize: number; maxBatchTokens: number; peak: boolean };
  statsBuffer: SharedArrayBuffer;
  /**
   * Int32 flags the pool raises to stop work a caller no longer waits for: index 0 stops every
   * task (close past its deadline), index `task.cancelSlot` stops one task. Workers check them
   * between model runs; a native run is never interrupted (terminating a thread inside
   * onnxruntime aborts the whole process).
   */
  control: SharedArrayBuffer;
  /** URL of the piscina module the pool runs, so the worker marks results with the same one. */
  piscinaUrl: string;
  /** How often the worker proves its event loop runs (a heartbeat counter in the stats buffer). */
  heartbeatMs: number;
  /**
   * `loadTimeout`: a load still inside onnxruntime past it fails as soon as it leaves (the pool
   * never ends a thread there); one stuck in JavaScript the pool ends itself.
   */
  loadTimeout: number;
}

export const CONTROL_ALL = 0;

/** Bits of a call's entry in `EmbedTask.calls`: how it wants its vectors. */
export const CALL_NORMALIZE = 1;
export const CALL_TRUNCATE = 2;
export const CALL_CLS = 4;
export const CALL_LASTTOKEN = 8;

/** The bits for a call's pooling, normalize and truncate settings. */
export function callFlags(pooling: Pooling, normalize: boolean, truncate: boolean): number {
  return (normalize ? CALL_NORMALIZE : 0) | (truncate ? CALL_TRUNCATE : 0) | (pooling === 'cls' ? CALL_CLS : pooling === 'lasttoken' ? CALL_LASTTOKEN : 0);
}

/**
 * A task carries one or more callers' calls, coalesced so that they share model runs. Each call
 * gets its own outcome: one caller's bad input never fails another's.
 *
 * Packed flat, because structured cloning cost grows with the number of objects, not bytes:
 * `texts` holds every call's texts one call after another, and `calls` two numbers per call, its
 * text count and its flags (`CALL_*`).
 */
export interface EmbedTask {
  op: ModelTask;
  /** Every call's texts (for `custom`, none: see `inputs`). */
  texts: string[];
  /** `rerank`: each call's query, paired with each of its texts. */
  pairs?: string[];
  /** `custom`: every call's inputs, one after another. */
  inputs?: unknown[];
  calls: Int32Array;
  /** Most texts in one model run. */
  batchSize: number;
  /** Most padded tokens (rows x longest row) in one model run. */
  maxBatchTokens: number;
  /** Batch lane: milliseconds a model run aims to last (0: no limit; see `batchRunMs`). */
  batchRunMs: number;
  /** This task's flag in `WorkerConfig.control`. */
  cancelSlot: number;
  /**
   * 0: interactive, 1: batch. A worker runs a waiting interactive task before any batch task, and
   * between two model runs of a batch task it is running.
   */
  lane: 0 | 1;
}

/**
 * Calls whose vectors take at most this many bytes share one buffer per task (`packed`, in call
 * order, failed calls' places included); larger ones cross in a buffer of their own. One transfer
 * per task costs less than one per call, and the pool copies each small call out into a buffer of
 * its own, so no caller ever holds memory that another caller's vectors live in.
 */
export const PACKED_CALL_BYTES = 16 * 1024;

/** Whether a call of `count` texts goes in the task's shared buffer. */
export const isPackedCall = (count: number, width: number): boolean => count * width * 4 <= PACKED_CALL_BYTES;

/**
 * A task's answer when the model ran: each call's vectors (large calls in a buffer of their own,
 * small ones in `packed`), the token count of every text of the task in order, and the calls that
 * failed alone (their input was bad), by index. `maxTokens` repeats the model's limit: a result
 * can arrive before the worker's `ready` message.
 */
export interface TaskAnswer {
  /** Each call's vectors: a buffer of its own for a large call; null for a packed or failed one. */
  vectors: (Float32Array | null)[];
  /** The packed calls' vectors one after another (see {@link isPackedCall}), or null when none were packed. */
  packed: Float32Array | null;
  width: number;
  maxTokens: number;
  tokens: Int32Array;
  errors: [number, WireError][];
  /** A `classify` or `rerank` model's labels, in the order of each vector's components. */
  labels?: string[];
  /** Whether its labels are independent (`problem_type: multi_label_classification`): a sigmoid each, not a softmax over them. */
  multiLabel?: boolean;
}

/**
 * A `custom` task's answer: one output per input, in order (`null` where the input's call failed
 * alone), and the calls that failed alone, by index.
 */
export interface ValueAnswer {
  values: unknown[];
  errors: [number, WireError][];
}

/** A task either fails as a whole (the model could not run) or answers each call. */
export type TaskResult = TaskAnswer | ValueAnswer | { error: WireError };

/** Messages a worker posts to the pool outside of tasks (through Piscina's `message` event). */
export const MESSAGE_TAG = '__warmpool';

export type WorkerMessage =
  | { [MESSAGE_TAG]: 'hello'; threadId: number }
  | { [MESSAGE_TAG]: 'ready'; threadId: number; slot: number; loadMs: number; dims: number; maxTokens: number; labels: string[] | undefined; multiLabel: boolean; weights?: WeightsInfo }
  | { [MESSAGE_TAG]: 'load-error'; threadId: number; error: WireError }
  | { [MESSAGE_TAG]: 'disposed'; threadId: number };

/** Messages the pool broadcasts to its workers. */
export type PoolBroadcast = { type: 'dispose' };

export const broadcastName = (poolId: string, generation: number): string => `warmpool:${poolId}:${generation}`;
