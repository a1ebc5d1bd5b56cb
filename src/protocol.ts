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
  /**
   * The number of the worker's host (its one-thread Piscina), never reused within a pool: a
   * thread Piscina starts again after a crash has the same one. Names the host's broadcast channel.
   */
  generation: number;
  model: ModelSpec;
  intraOpThreads: number;
  /** onnxruntime session memory settings. */
  memory: { cpuMemArena: boolean; memPattern: boolean };
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
  /** Test-only fault injection; null in normal use. */
  faults: FaultInjection | null;
}

/**
 * Probabilities, per task, that a worker fails on purpose: `crash` throws an uncaught error,
 * `exit` calls process.exit() in the worker, `hang` spins its event loop forever. The point is
 * random: before the first model run, between runs, or after the last. Never inside a run.
 */
export interface FaultInjection {
  crash?: number;
  exit?: number;
  hang?: number;
}

export const CONTROL_ALL = 0;

/** One caller's part of a task: its texts and how it wants them pooled. */
export interface CallSpec {
  texts: string[];
  pooling: Pooling;
  normalize: boolean;
  truncate: boolean;
}

/**
 * A task carries one or more callers' calls, coalesced so that they share model runs. Each call
 * gets its own outcome: one caller's bad input never fails another's.
 */
export interface EmbedTask {
  op: 'embed';
  calls: CallSpec[];
  /** Most texts in one model run. */
  batchSize: number;
  /** Most padded tokens (rows x longest row) in one model run. */
  maxBatchTokens: number;
  /** This task's flag in `WorkerConfig.control`. */
  cancelSlot: number;
}

export interface EmbedResult {
  /** Row-major vectors, `dims[0]` rows of `dims[1]` floats, in a buffer of its own (transferred, not copied). */
  data: Float32Array;
  dims: [number, number];
  /** Tokens the model saw, special tokens included, after truncation. */
  tokens: number;
  /** The same, text by text. */
  textTokens: number[];
}

export type CallOutcome = EmbedResult | { error: WireError };

/** A task either fails as a whole (the model could not run) or answers each call. */
export type TaskResult = { outcomes: CallOutcome[] } | { error: WireError };

/** Messages a worker posts to the pool outside of tasks (through Piscina's `message` event). */
export const MESSAGE_TAG = '__warmpool';

export type WorkerMessage =
  | { [MESSAGE_TAG]: 'hello'; threadId: number }
  | { [MESSAGE_TAG]: 'ready'; threadId: number; slot: number; loadMs: number; dims: number; maxTokens: number }
  | { [MESSAGE_TAG]: 'load-error'; threadId: number; error: WireError }
  | { [MESSAGE_TAG]: 'disposed'; threadId: number };

/** Messages the pool broadcasts to its workers. */
export type PoolBroadcast = { type: 'dispose' };

export const broadcastName = (poolId: string, generation: number): string => `warmpool:${poolId}:${generation}`;
