/**
 * `warmpool/replica`: collections replicated across processes and machines through one log in
 * Redis (see docs/scaling-out.md#replicated-collections). A subpath of its own, so `import
 * 'warmpool'` never loads ioredis.
 */
export { createReplica, Replica } from './replica.js';
export type { ReplicaOptions, ReplicaHealth, ReplicaWriteOptions, ReplicaIndexOptions, ReplicaReadOptions } from './replica.js';
export { ReplicaUnavailableError, ReplicaTimeoutError, ReplicaLogError } from '../errors.js';
