import diagnostics from 'node:diagnostics_channel';

/**
 * Telemetry through `node:diagnostics_channel`: subscribe with
 * `diagnostics_channel.subscribe('warmpool:request:end', fn)`. Publishing is skipped entirely
 * while a channel has no subscriber, so it costs nothing when nobody listens.
 */
export const channels = {
  /** A call entered the pool: {@link RequestStartEvent}. */
  requestStart: diagnostics.channel('warmpool:request:start'),
  /** A call was answered or failed: {@link RequestEndEvent}. */
  requestEnd: diagnostics.channel('warmpool:request:end'),
  /** A worker loaded its model and takes calls: {@link WorkerReadyEvent}. */
  workerReady: diagnostics.channel('warmpool:worker:ready'),
  /** A worker left the pool: {@link WorkerExitEvent}. */
  workerExit: diagnostics.channel('warmpool:worker:exit'),
  /** A worker failed outside of any call (e.g. its model did not load): {@link WorkerErrorEvent}. */
  workerError: diagnostics.channel('warmpool:worker:error'),
} as const;

export const CHANNEL_NAMES = {
  requestStart: 'warmpool:request:start',
  requestEnd: 'warmpool:request:end',
  workerReady: 'warmpool:worker:ready',
  workerExit: 'warmpool:worker:exit',
  workerError: 'warmpool:worker:error',
} as const;

export interface RequestStartEvent {
  poolId: string;
  /** The pool's name for the model that serves the call (`'default'` for the `model` option). */
  model: string;
  /** Request ids count per model. */
  requestId: number;
  op: 'embed' | 'rerank' | 'classify' | 'custom';
  /** Texts (documents for rerank, inputs for a custom task) of the call. */
  texts: number;
  /** The call's lane (`request:start` only). */
  priority?: 'interactive' | 'batch';
}

export interface RequestEndEvent extends RequestStartEvent {
  /** Milliseconds spent waiting for a worker. */
  queueMs: number;
  /** Milliseconds from dispatch to answer (0 when the call never ran). */
  runMs: number;
  /** The error's code when the call failed. */
  error?: string;
}

export interface WorkerReadyEvent {
  poolId: string;
  /** The pool's name for the worker's model. */
  model: string;
  threadId: number;
  loadMs: number;
}

export interface WorkerExitEvent {
  poolId: string;
  /** The pool's name for the worker's model. */
  model: string;
  threadId: number;
}

export interface WorkerErrorEvent {
  poolId: string;
  /** The pool's name for the worker's model. */
  model: string;
  threadId: number | undefined;
  error: Error;
}
