/** Messages between the main thread's collections client and the index worker. */
import type { WireError } from '../errors.js';
import type { MetadataFilter } from './filter.js';
import type { CollectionSettings, JsonValue } from './types.js';

export interface IndexWorkerData {
  root: string;
  statsBuffer: SharedArrayBuffer;
}

export type IndexRequest =
  | { op: 'upsert'; collection: string; settings: CollectionSettings; ids: string[]; texts: string[]; metadata: (JsonValue | undefined)[]; vectors: Float32Array; dims: number }
  | { op: 'delete'; collection: string; ids: string[] }
  | { op: 'get'; collection: string; ids: string[]; includeVectors: boolean }
  | { op: 'count'; collection: string }
  | { op: 'search'; collection: string; vector: Float32Array; k: number; filter: MetadataFilter | undefined; includeVectors: boolean; exact: boolean }
  | { op: 'list' }
  | { op: 'create'; settings: CollectionSettings }
  | { op: 'drop'; collection: string }
  | { op: 'info'; collection: string }
  | { op: 'close' };

export type IndexMessage = IndexRequest & { id: number };

export type IndexResponse = { id: number; result: unknown } | { id: number; error: WireError };
