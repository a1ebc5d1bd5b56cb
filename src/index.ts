export { createPool, WarmPool } from './pool.js';
export type { PackedVectors, ModelInfo, PoolState, CloseOptions } from './pool.js';
export { embed, getDefaultPool, closeDefaultPool } from './default-pool.js';
export type { EmbedOptions } from './inputs.js';
export { DEFAULTS, ENV_VARS, DTYPES, POOLINGS, defaultThreads, resolveOptions } from './options.js';
export type { PoolOptions, ResolvedOptions, Dtype, Pooling, Warmup } from './options.js';
export {
  WarmpoolError,
  InvalidInputError,
  QueueFullError,
  QueueTimeoutError,
  TaskTimeoutError,
  AbortError,
  PoolClosedError,
  ModelLoadError,
  WorkerExitedError,
  InferenceError,
  ErrorCodes,
} from './errors.js';
export type { ErrorCode } from './errors.js';
export { readStats } from './stats.js';
export type { StatsSnapshot, LatencySummary, WorkerStats, WorkerStateName } from './stats.js';
export { CHANNEL_NAMES } from './events.js';
export type { RequestStartEvent, RequestEndEvent, WorkerReadyEvent, WorkerExitEvent, WorkerErrorEvent } from './events.js';
export { BUNDLED_MODELS_DIR } from './model.js';
export { unpackedPath, preferUnpacked } from './asar-path.js';
