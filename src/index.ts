/**
 * `warmpool`: what an app that embeds, indexes and searches needs. The HTTP server
 * (`warmpool/server`), the bridge to other threads and processes (`warmpool/bridge`), the queue
 * across machines (`warmpool/queue`) and packaged-Electron paths (`warmpool/electron`) have
 * entry points of their own.
 */
export { createPool, WarmPool } from './pool.js';
export type { ReloadOptions } from './pool.js';
export { DTYPES, MODEL_TASKS, POOLINGS } from './types.js';
export type {
  PackedVectors,
  ModelInfo,
  WeightsInfo,
  ModelTask,
  PoolState,
  CloseOptions,
  HealthReport,
  WorkerPhase,
  Dtype,
  Pooling,
  IndexHealth,
  IndexWorkerState,
  CollectionRecovery,
} from './types.js';
export { embed, index, search, getDefaultPool, closeDefaultPool } from './default-pool.js';
export type { CollectionsApi } from './collections/client.js';
export type {
  Doc,
  JsonValue,
  VectorInput,
  CollectionOption,
  IndexDocsOptions,
  IndexResult,
  IndexStreamOptions,
  IndexProgress,
  SearchOptions,
  SearchHit,
  StoredDoc,
  GetOptions,
  CreateCollectionOptions,
  HnswSettings,
  CollectionInfo,
  Metric,
  IndexKind,
  ModelFingerprint,
  MigrateOptions,
  MigrationProgress,
  MigrationResult,
} from './collections/types.js';
export { COLLECTION_DEFAULTS } from './collections/types.js';
export type { MetadataFilter, FieldCondition, Scalar } from './collections/filter.js';
export { chunkText, readCorpus } from './collections/ingest.js';
export type { Passage, ChunkOptions } from './collections/ingest.js';
export type { EmbedOptions } from './inputs.js';
export { DEFAULTS, ENV_VARS } from './options.js';
export type { PoolOptions, ResolvedOptions, ResourceLimits, Warmup, ModelEntry, ModelStatus } from './options.js';
export type { RerankOptions, RerankResult, ClassifyOptions, LabelScore, RunOptions } from './task-inputs.js';
export type { TaskLoader, TaskHandler, LoadContext, RunContext } from './custom-task.js';
export {
  WarmpoolError,
  InvalidInputError,
  QueueFullError,
  QueueTimeoutError,
  TaskTimeoutError,
  AbortError,
  PoolClosedError,
  ModelLoadError,
  LoadTimeoutError,
  WorkerExitedError,
  JobLostError,
  InferenceError,
  CollectionNotFoundError,
  CollectionExistsError,
  CollectionCorruptError,
  CollectionLockedError,
  UnknownModelError,
  ModelMismatchError,
  MigrationRunningError,
  ErrorCodes,
  ERROR_CLASSES,
} from './errors.js';
export type { ErrorCode, WarmpoolErrorOf } from './errors.js';
export { readStats } from './stats.js';
export type { StatsSnapshot, LatencySummary, WorkerStats, WorkerStateName } from './stats.js';
export type { MemorySnapshot } from './memory.js';
export { CHANNEL_NAMES } from './events.js';
export type { RequestStartEvent, RequestEndEvent, WorkerReadyEvent, WorkerExitEvent, WorkerErrorEvent } from './events.js';
export { BUNDLED_MODELS_DIR } from './model.js';
