/** Public types of collections. */
import type { CollectionRecovery, Priority } from '../types.js';
import type { MetadataFilter } from './filter.js';
import type { SearchMode } from './hybrid.js';
import type { ModelFingerprint } from './fingerprint.js';

export type { ModelFingerprint };

export type Metric = 'cosine' | 'dot' | 'l2';
export const METRICS: readonly Metric[] = ['cosine', 'dot', 'l2'];
export type IndexKind = 'exact' | 'hnsw' | 'auto';
export const INDEX_KINDS: readonly IndexKind[] = ['exact', 'hnsw', 'auto'];
/** How the collection holds its vectors in memory (see {@link CreateCollectionOptions.quantization}). */
export type Quantization = 'f32' | 'f16' | 'i8' | 'binary';
export const QUANTIZATIONS: readonly Quantization[] = ['f32', 'f16', 'i8', 'binary'];

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type VectorInput = Float32Array | readonly number[];

/** A document to index. A plain string is a document whose id is generated. */
export interface Doc {
  id: string;
  text: string;
  metadata?: JsonValue;
  /** A vector to store instead of embedding `text` (it must have the collection's dimension). */
  vector?: VectorInput;
}

export interface CollectionOption {
  /** The collection's name: letters, digits, `.`, `_`, `-` (1-128 characters). @default 'default' */
  collection?: string;
}

export interface IndexDocsOptions extends CollectionOption {
  /**
   * The lane of the call's embeddings (see `EmbedOptions.priority`).
   * @default 'batch' for more than 64 documents (and always for `indexStream`), else 'interactive'
   */
  priority?: Priority;
  /**
   * Settings used when `index()` creates the collection (it does when it does not exist yet);
   * ignored for an existing one.
   */
  create?: CreateCollectionOptions;
}

export interface IndexResult {
  /** The ids written (generated ones included), in input order. */
  ids: string[];
  count: number;
}

export interface IndexStreamOptions extends IndexDocsOptions {
  /** Documents embedded and written together; at most two batches are held at once. @default 256 */
  batchSize?: number;
  /** Called after each batch is durable. */
  onProgress?: (progress: IndexProgress) => void;
  signal?: AbortSignal;
}

export interface IndexProgress {
  indexed: number;
  batches: number;
  elapsedMs: number;
}

export interface SearchOptions extends CollectionOption {
  /** How many hits. @default 10 */
  k?: number;
  /** Metadata conditions every hit must meet. */
  filter?: MetadataFilter;
  /** Return each hit's stored vector. @default false */
  includeVectors?: boolean;
  /** Force exact (brute-force) search even where the collection has an HNSW index. @default false */
  exact?: boolean;
  /**
   * `hybrid`: the vector and keyword (BM25) rankings fused; `dense`: by vector only; `keyword`: by
   * BM25 over the stored texts only. A query given as a vector searches dense.
   * @default 'hybrid'
   */
  mode?: SearchMode;
  /** Hybrid search's balance (see docs/collections.md#hybrid-search). */
  hybrid?: {
    /** The dense side's weight, 0 (keyword only) to 1 (dense only). @default the model's: see the docs */
    denseWeight?: number;
    /** Candidates taken from each side before fusing. @default 100 */
    candidates?: number;
  };
  /**
   * A rerank stage: the best `candidates` hits (of the mode above) are scored again by one of the
   * pool's rerank models (a cross-encoder) against the query text, and the best `k` of them
   * returned, their `score` the reranker's. `true`: the pool's first rerank model, 50 candidates.
   */
  rerank?: true | { model?: string; candidates?: number };
}

export interface SearchHit {
  id: string;
  /**
   * `dense`: cosine similarity or dot product (higher is better), or L2 distance (lower is
   * better); `keyword`: the BM25 score; `hybrid`: the fused score, from 0 to 1 (higher is better);
   * with `rerank`, the reranker's score.
   */
  score: number;
  text?: string;
  metadata?: JsonValue;
  vector?: Float32Array;
}

export interface StoredDoc {
  id: string;
  text: string;
  metadata?: JsonValue;
  vector?: Float32Array;
}

export interface GetOptions extends CollectionOption {
  includeVectors?: boolean;
}

export interface HnswSettings {
  /** Graph degree (M). @default 32 */
  connectivity?: number;
  /** Candidate list size while inserting (efConstruction). @default 128 */
  expansionAdd?: number;
  /** Candidate list size while searching (ef). @default 128 */
  expansionSearch?: number;
}

export interface CreateCollectionOptions {
  /** @default 'cosine' */
  metric?: Metric;
  /**
   * `exact` scans every vector; `hnsw` keeps a graph index; `auto` scans until the collection
   * reaches `autoThreshold` vectors, then builds the graph.
   * @default 'auto'
   */
  index?: IndexKind;
  /** Vectors at which `auto` switches to HNSW. @default 20000 */
  autoThreshold?: number;
  hnsw?: HnswSettings;
  /** Seconds since last use after which the collection is dropped (a session collection). @default none */
  ttl?: number;
  /** Vector length; defaults to the pool's model. */
  dims?: number;
  /**
   * How vectors are held in memory, fixed when the collection is created. `f32`: as given. `f16`:
   * half precision (half the bytes, recall unchanged in practice). `i8`: one byte a dimension with a
   * scale per vector (a quarter of the bytes; needs metric `cosine`). `binary`: the graph holds one
   * bit a dimension (searched by Hamming distance) and its candidates are scored again against the
   * full-precision vectors, which are kept: it saves graph memory and search time, not memory
   * overall. Vectors read back (`includeVectors`, `get`) are the stored ones: rounded for `f16` and
   * `i8`. See docs/collections.md#compressed-vectors for the measured memory and recall.
   * @default 'f32'
   */
  quantization?: Quantization;
}

export interface CollectionInfo {
  name: string;
  dims: number;
  metric: Metric;
  index: IndexKind;
  quantization: Quantization;
  /** Whether searches use the HNSW graph now (false for exact, and for `auto` below the threshold). */
  hnswActive: boolean;
  ttl: number | undefined;
  count: number;
  createdAt: string;
  /**
   * The model that made the vectors (see docs/collections.md#the-model-of-a-collection); `null`:
   * vectors of one's own, no model; absent: not recorded yet (the next model to embed into or
   * search it is recorded).
   */
  model?: ModelFingerprint | null;
  /** Set while a re-embed migration runs: documents written to the new collection so far, of `total`. */
  migration?: MigrationProgress;
  /** Set when opening the collection found damage and dropped or set aside something (see {@link CollectionRecovery}). */
  recovery?: CollectionRecovery;
}

/** Settings stored in a collection's folder. */
export interface CollectionSettings {
  name: string;
  dims: number;
  metric: Metric;
  index: IndexKind;
  /** Absent in collections made before the setting existed: those are `f32`. */
  quantization: Quantization;
  autoThreshold: number;
  hnsw: Required<HnswSettings>;
  ttl: number | undefined;
  createdAt: string;
  /** The model that made the vectors; `null`: vectors of one's own; absent: not recorded (a collection made before fingerprints, or created with explicit dims and empty). */
  model?: ModelFingerprint | null;
}

export interface MigrateOptions {
  /** Called after each batch of re-embedded documents is durable in the new collection. */
  onProgress?: (progress: MigrationProgress) => void;
  /** Aborts the migration: the new collection is removed and the old one stays. */
  signal?: AbortSignal;
  /** Documents re-embedded and written together. @default 256 */
  batchSize?: number;
}

export interface MigrationProgress {
  /** Documents re-embedded and written to the new collection so far. */
  migrated: number;
  /** Documents in the collection when the migration began. */
  total: number;
  elapsedMs: number;
}

export interface MigrationResult {
  name: string;
  /** False when the collection was already the pool's model's: nothing was done. */
  migrated: boolean;
  count: number;
  /** The model the vectors were made with before (`undefined`: not recorded), and now. */
  from: ModelFingerprint | undefined;
  to: ModelFingerprint;
  elapsedMs: number;
}

export const COLLECTION_DEFAULTS = Object.freeze({
  collection: 'default',
  metric: 'cosine' as Metric,
  index: 'auto' as IndexKind,
  quantization: 'f32' as Quantization,
  autoThreshold: 20_000,
  connectivity: 32,
  /**
   * An i8 collection's graph degree: i8 is chosen to save memory, and at connectivity 32 the graph's
   * links (the same bytes in every format) outweigh 100-dimension i8 vectors. Measured at 100,000
   * real embeddings: 30% of f32's memory at recall@10 0.956 (32: 45% at 0.968).
   */
  i8Connectivity: 12,
  expansionAdd: 128,
  expansionSearch: 128,
  k: 10,
  streamBatchSize: 256,
});
