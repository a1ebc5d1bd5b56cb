/**
 * `warmpool/queue`: embedding and indexing across machines through a BullMQ queue on Redis. A
 * subpath of its own, so `import 'warmpool'` never loads the queue's code (BullMQ itself is
 * loaded only when a client or worker is created).
 */
export { createQueueClient, QueueClient } from './client.js';
export type { QueueIndexOptions, QueueClientStats } from './client.js';
export type { EmbedManyOptions, EmbedProgress } from './embed-many.js';
export { createQueueWorker } from './worker.js';
export type { QueueWorker } from './worker.js';
export { runQueueWorker } from './run-worker.js';
export type { RunQueueWorkerOptions, RunningQueueWorker } from './run-worker.js';
export { BUILTIN_HANDLERS } from './handlers.js';
export type { JobHandler, JobHandlers, JobContext } from './handlers.js';
export { QUEUE_DEFAULTS } from './queue-options.js';
export type { QueueClientOptions, QueueWorkerOptions, QueueConnection } from './queue-options.js';
export { encodeVectors, decodeVectors } from './codec.js';
export type { EmbedJobData, EmbedJobResult } from './codec.js';
