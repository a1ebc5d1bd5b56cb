/** Messages between the main thread's collections client and the index worker. */
import type { WireError } from '../errors.js';
import type { SearchPlan } from './hybrid.js';
import type { CollectionRecovery } from '../types.js';
import type { MetadataFilter } from './filter.js';
import type { CollectionSettings, JsonValue } from './types.js';
import type { ModelFingerprint } from './fingerprint.js';

export interface IndexWorkerData {
  root: string;
  statsBuffer: SharedArrayBuffer;
  /** Collections to open (recover) before the worker reports ready: those the previous worker served. */
  reopen: string[];
}

export type IndexRequest =
  /** `model`: the model that embedded the texts, or null when every vector was the caller's own. */
  | { op: 'upsert'; collection: string; settings: CollectionSettings; model: ModelFingerprint | null; ids: string[]; texts: string[]; metadata: (JsonValue | undefined)[]; vectors: Float32Array; dims: number }
  | { op: 'delete'; collection: string; ids: string[] }
  | { op: 'get'; collection: string; ids: string[]; includeVectors: boolean }
  | { op: 'count'; collection: string }
  | { op: 'ids'; collection: string }
  /** `model`: the model that embedded the query text (none for a vector of one's own or a keyword search). */
  | ({ op: 'search'; collection: string; model?: ModelFingerprint } & SearchPlan)
  /** Re-embed migration, step by step (see migration.ts): begin, read the old documents, write the new, commit or abort. */
  | { op: 'migrate-begin'; collection: string; model: ModelFingerprint }
  | { op: 'migrate-read'; collection: string; offset: number; limit: number }
  | { op: 'migrate-write'; collection: string; ids: string[]; texts: string[]; metadata: (JsonValue | undefined)[]; vectors: Float32Array; dims: number }
  /** `model`: the migration's, so that a commit sent again to a replacement worker (the first one died mid-swap, which the new one finished) is known as done. */
  | { op: 'migrate-commit'; collection: string; model: ModelFingerprint }
  | { op: 'migrate-abort'; collection: string }
  | { op: 'list' }
  | { op: 'create'; settings: CollectionSettings }
  | { op: 'drop'; collection: string }
  | { op: 'info'; collection: string }
  | { op: 'close' };

export type IndexMessage = IndexRequest & { id: number };

export type IndexResponse = { id: number; result: unknown } | { id: number; error: WireError };

/**
 * The worker's first message: the store is open, with the collections to reopen that could be
 * recovered (`open`; one that was dropped meanwhile is not there), or it cannot be opened.
 */
export type IndexStartEvent = { event: 'ready'; open: string[] } | { event: 'load-error'; error: WireError };

/** Sent whenever opening a collection found damage: what it found and did, for `pool.health()`. */
export type IndexRecoveryEvent = { event: 'recovery'; collection: string; recovery: CollectionRecovery };

export type IndexReply = IndexResponse | IndexStartEvent | IndexRecoveryEvent;
