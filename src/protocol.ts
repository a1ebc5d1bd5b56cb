/**
 * What crosses the thread boundary between the pool and its workers. Plain data only: classes
 * and their prototypes do not survive `postMessage`.
 */
import type { WireError } from './errors.js';
import type { Dtype, Pooling } from './options.js';

/** Where and how a worker loads its model. */
export interface ModelSpec {
  /** Model id as transformers.js sees it: a folder name under `localModelPath`, or a hub id. */
  id: string;
  /** Folder that holds the model folder, or null for a hub model. */
  localModelPath: string | null;
  /** How the model is named in messages: its absolute path, or its hub id. */
  label: string;
  dtype: Dtype;
  allowRemoteModels: boolean;
  cacheDir: string | undefined;
}

/** `workerData` of every embedding worker. */
export interface WorkerConfig {
  poolId: string;
  model: ModelSpec;
  intraOpThreads: number;
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
}

export const CONTROL_ALL = 0;

export interface EmbedTask {
  op: 'embed';
  texts: string[];
  pooling: Pooling;
  normalize: boolean;
  truncate: boolean;
  batchSize: number;
  /** This task's flag in `WorkerConfig.control`. */
  cancelSlot: number;
}

export interface EmbedResult {
  /** Row-major vectors, `dims[0]` rows of `dims[1]` floats; its buffer is transferred, not copied. */
  data: Float32Array;
  dims: [number, number];
  /** Tokens the model saw, special tokens included, after truncation. */
  tokens: number;
}

export type TaskResult = EmbedResult | { error: WireError };

/** Messages a worker posts to the pool outside of tasks (through Piscina's `message` event). */
export const MESSAGE_TAG = '__warmpool';

export type WorkerMessage =
  | { [MESSAGE_TAG]: 'ready'; threadId: number; slot: number; loadMs: number; dims: number; maxTokens: number }
  | { [MESSAGE_TAG]: 'load-error'; threadId: number; error: WireError }
  | { [MESSAGE_TAG]: 'disposed'; threadId: number };

/** Messages the pool broadcasts to its workers. */
export type PoolBroadcast = { type: 'dispose' };

export const broadcastName = (poolId: string): string => `warmpool:${poolId}`;
