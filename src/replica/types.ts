/** Public types of replicated collections (see replica.ts). */
import type { CollectionOption, CreateCollectionOptions } from '../collections/types.js';
import type { Priority } from '../types.js';

export interface ReplicaOptions {
  /** The Redis holding the log, as a `redis://` or `rediss://` URL. */
  redis: string;
  /** The log's name: replicas of one log share it. Letters, digits, '.', '_', '-'. @default 'default' */
  log?: string;
  /** How long a write waits for this replica to apply it, and a read for `after`, by default (ms). @default 10000 */
  waitMs?: number;
  /**
   * Applied entries after which this replica uploads a snapshot of its store to Redis and trims the
   * log behind it (when no other replica uploaded a newer one meanwhile). 0: only on `snapshot()`.
   * @default 10000
   */
  snapshotEvery?: number;
}

/** Options every replicated write takes. */
export interface ReplicaWriteOptions {
  /** Wait until this replica applied the write (read-your-writes on the writing replica). @default true */
  waitApplied?: boolean;
  /** How long to wait for that (ms). @default the replica's `waitMs` */
  waitMs?: number;
}

export interface ReplicaIndexOptions extends CollectionOption, ReplicaWriteOptions {
  priority?: Priority;
  /** Settings of the collection, used by the first write that creates it (on every replica). No `ttl`. */
  create?: Omit<CreateCollectionOptions, 'ttl'>;
}

/** Read-your-writes: `after` is a position a write returned; the read waits until this replica applied it. */
export interface ReplicaReadOptions {
  after?: number;
  /** @default the replica's `waitMs` */
  waitMs?: number;
}

/** Where a replica stands, for `health()` and metrics. */
export interface ReplicaHealth {
  log: string;
  /** `following` the log; `joining` it (at start, after Redis came back, or installing a snapshot); `unreachable`: Redis is down (searches still answer); `halted` at a log entry it cannot apply; `closed`. */
  state: 'following' | 'joining' | 'unreachable' | 'halted' | 'closed';
  epoch: string | undefined;
  /** The position (sequence number) of the last entry applied here. */
  applied: number;
  /** The last position the log had when this replica last asked. */
  head: number;
  /** Entries behind the log (`head - applied`, as of the last answer from Redis). */
  behind: number;
  /** Seconds since Redis last answered this replica (null: never). How stale the local copy may be. */
  secondsSinceHeard: number | null;
  /** Set when `state` is `halted`: the entry (stream id) and why. */
  halted?: { entry: string; message: string };
  /** The last failure talking to Redis or applying, while it lasts. */
  lastError?: string;
}
