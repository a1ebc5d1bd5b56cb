/**
 * What crosses the bridge. Results are wrapped rather than thrown: comlink sends a thrown error
 * as a plain `Error`, losing its class and `code`; a wrapped `WireError` is rebuilt on the
 * caller's side as the same warmpool error class.
 */
import type { CollectionInfo, CreateCollectionOptions, MigrateOptions, MigrationResult, Doc, GetOptions, IndexDocsOptions, IndexResult, SearchHit, SearchOptions, StoredDoc, VectorInput, CollectionOption } from '../collections/types.js';
import type { WireError } from '../errors.js';
import type { StatsSnapshot } from '../stats.js';
import type { ClassifyOptions, LabelScore, RerankOptions, RerankResult } from '../task-inputs.js';
import type { ModelInfo, PackedVectors, Pooling, Priority } from '../types.js';

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: WireError };

/** Rerank and classify options that can be cloned: an `AbortSignal` stays on the caller's side. */
export type BridgeRerankOptions = Omit<RerankOptions, 'signal'>;
export type BridgeClassifyOptions = Omit<ClassifyOptions, 'signal'>;

/** Embed options that can be cloned: an `AbortSignal` stays on the caller's side. */
export interface BridgeEmbedOptions {
  model?: string;
  priority?: Priority;
  normalize?: boolean;
  pooling?: Pooling;
  truncate?: boolean;
  dimensions?: number;
  prompt?: string;
  timeout?: number;
}

/**
 * Options of the collection calls as they cross: `signal` and `onProgress` cannot be cloned and
 * stay on the caller's side (an `indexStream`'s batching, progress and abort all happen there).
 */
export type BridgeIndexOptions = IndexDocsOptions;
export type BridgeSearchOptions = SearchOptions;
export type BridgeGetOptions = GetOptions;

/** One call of `pool.collections()`, by name. */
export type CollectionsCall =
  | { op: 'list' }
  | { op: 'create'; name: string; options?: CreateCollectionOptions }
  | { op: 'info'; name: string }
  | { op: 'drop'; name: string }
  | { op: 'ids'; name: string }
  /** `onProgress` and `signal` stay with the caller: the migration runs to its end in the owner. */
  | { op: 'migrate'; name: string; options?: Omit<MigrateOptions, 'onProgress' | 'signal'> };

/** The object `exposePool` serves. */
export interface BridgeApi {
  embedPacked(input: string | readonly string[], options: BridgeEmbedOptions | undefined, callId: number): Promise<Outcome<PackedVectors>>;
  rerank(query: string, documents: readonly string[], options: BridgeRerankOptions | undefined, callId: number): Promise<Outcome<RerankResult[]>>;
  classify(input: string | readonly string[], options: BridgeClassifyOptions | undefined, callId: number): Promise<Outcome<LabelScore[] | LabelScore[][]>>;
  abort(callId: number): void;
  index(docs: readonly (Doc | string)[] | Doc | string, options: BridgeIndexOptions | undefined): Promise<Outcome<IndexResult>>;
  /**
   * One batch of a caller's `indexStream`. The batches of one stream are indexed one after
   * another, in the order they arrive; once one fails, or the stream is ended, the batches still
   * waiting are not indexed (they answer `AbortError`, or the failure).
   */
  indexBatch(streamId: number, docs: readonly (Doc | string)[], options: BridgeIndexOptions | undefined): Promise<Outcome<IndexResult>>;
  /** The caller is done with a stream (finished, failed or aborted): its waiting batches are dropped. */
  endStream(streamId: number): void;
  search(query: string | VectorInput, options: BridgeSearchOptions | undefined): Promise<Outcome<SearchHit[]>>;
  get(ids: string | readonly string[], options: BridgeGetOptions | undefined): Promise<Outcome<(StoredDoc | null)[]>>;
  delete(ids: string | readonly string[], options: CollectionOption | undefined): Promise<Outcome<number>>;
  count(options: CollectionOption | undefined): Promise<Outcome<number>>;
  collections(call: CollectionsCall): Promise<Outcome<CollectionInfo[] | CollectionInfo | boolean | string[] | MigrationResult>>;
  ready(): Promise<Outcome<ModelInfo | undefined>>;
  stats(): StatsSnapshot;
}
