export { createPool, WarmPool } from './pool.js';
export type { PackedVectors, ModelInfo, PoolState, CloseOptions, HealthReport, ReloadOptions } from './pool.js';
export type { WorkerPhase } from './supervisor.js';
export { embed, index, search, getDefaultPool, closeDefaultPool } from './default-pool.js';
export type { CollectionsApi } from './collections/client.js';
export type { IndexHealth, IndexWorkerState } from './collections/index-supervisor.js';
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
  CollectionRecovery,
  Metric,
  IndexKind,
} from './collections/types.js';
export { COLLECTION_DEFAULTS } from './collections/types.js';
export type { MetadataFilter, FieldCondition, Scalar } from './collections/filter.js';
export { chunkText, readCorpus } from './collections/ingest.js';
export type { Passage, ChunkOptions } from './collections/ingest.js';
export type { EmbedOptions } from './inputs.js';
export { DEFAULTS, ENV_VARS, DTYPES, MAX_TIMER_MS, POOLINGS, defaultThreads, resolveOptions } from './options.js';
export type { PoolOptions, ResolvedOptions, ResourceLimits, Dtype, Pooling, Warmup } from './options.js';
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
  JobLostError,
  InferenceError,
  CollectionNotFoundError,
  CollectionExistsError,
  CollectionCorruptError,
  CollectionLockedError,
  ErrorCodes,
  ERROR_CLASSES,
} from './errors.js';
export type { ErrorCode, WarmpoolErrorOf } from './errors.js';
export { readStats } from './stats.js';
export type { StatsSnapshot, LatencySummary, WorkerStats, WorkerStateName } from './stats.js';
export { CHANNEL_NAMES } from './events.js';
export type { RequestStartEvent, RequestEndEvent, WorkerReadyEvent, WorkerExitEvent, WorkerErrorEvent } from './events.js';
export { BUNDLED_MODELS_DIR } from './model.js';
export { unpackedPath, preferUnpacked } from './asar-path.js';
export { createQueueClient, QueueClient } from './queue/client.js';
export type { QueueIndexOptions } from './queue/client.js';
export type { QueueClientStats } from './queue/client.js';
export type { EmbedManyOptions, EmbedProgress } from './queue/embed-many.js';
export { createQueueWorker } from './queue/worker.js';
export type { QueueWorker } from './queue/worker.js';
export { runQueueWorker } from './queue/run-worker.js';
export type { RunQueueWorkerOptions, RunningQueueWorker } from './queue/run-worker.js';
export { BUILTIN_HANDLERS } from './queue/handlers.js';
export type { JobHandler, JobHandlers, JobContext } from './queue/handlers.js';
export { QUEUE_DEFAULTS } from './queue/queue-options.js';
export type { QueueClientOptions, QueueWorkerOptions, QueueConnection } from './queue/queue-options.js';
export { encodeVectors, decodeVectors } from './queue/codec.js';
export type { EmbedJobData, EmbedJobResult } from './queue/codec.js';
