import { createHash } from 'node:crypto';
import type { CheckedEmbedOptions } from './inputs.js';
import type { PoolStats } from './stats.js';
import type { PackedVectors } from './types.js';

/** Bytes a cache entry costs beyond its key and vector (Map slot, objects, pointers). */
const ENTRY_OVERHEAD = 96;
/** Texts longer than this are keyed by a SHA-256 digest instead of themselves. */
const HASH_FROM = 256;

/** A cached vector and the number of tokens its text makes (for usage reports). */
export interface CachedVector {
  vector: Float32Array;
  tokens: number;
}

/**
 * A bounded LRU cache of vectors, shared by every caller of a pool. Keys are (options, text):
 * short texts key by themselves (V8 caches a string's hash, so a lookup costs one Map probe),
 * long ones by a digest so the key does not cost more memory than the vector.
 */
export class VectorCache {
  readonly maxBytes: number;
  #bytes = 0;
  // Map keeps insertion order: the first entry is the least recently used.
  readonly #entries = new Map<string, CachedVector>();

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The key of `text` under the given options prefix (e.g. `m1n1t1`). */
  key(prefix: string, text: string): string {
    return text.length <= HASH_FROM ? `${prefix}\u0000${text}` : `${prefix}\u0001${createHash('sha256').update(text).digest('base64')}`;
  }

  /** The cached vector (the cache's own copy: do not hand it out without copying), or undefined. */
  get(key: string): CachedVector | undefined {
    const hit = this.#entries.get(key);
    if (hit !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, hit);
    }
    return hit;
  }

  /** Stores a copy of `vector` (and its text's token count), evicting the least recently used entries to stay within bounds. */
  set(key: string, vector: Float32Array, tokens: number): void {
    const cost = key.length * 2 + vector.byteLength + ENTRY_OVERHEAD;
    if (cost > this.maxBytes || this.#entries.has(key)) return;
    this.#bytes += cost;
    this.#entries.set(key, { vector: vector.slice(), tokens });
    for (const [oldKey, old] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#entries.delete(oldKey);
      this.#bytes -= oldKey.length * 2 + old.vector.byteLength + ENTRY_OVERHEAD;
    }
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}

/** One call's texts looked up in the cache: their keys, the vectors found, and the texts left to embed. */
export interface CacheLookup {
  keys: string[];
  /** By text, in order: the cached vector, or undefined for a miss. */
  hits: (CachedVector | undefined)[];
  /** The texts not found, in order: what the call sends to a worker. */
  misses: string[];
  /** The cache's epoch when it was looked up (see {@link CallCache.current}). */
  epoch: number;
}

/**
 * The pool's cache as calls use it: looked up before a call is queued, filled with its answer
 * after. It also holds the rule of a rolling reload: while workers of two models serve, nothing is
 * cached, and a call whose cached vectors may come from the other model runs again whole.
 */
export class CallCache {
  readonly #vectors: VectorCache;
  readonly #stats: PoolStats;
  /** Moves when a reload starts and ends: a call's cached vectors belong to the model of its epoch. */
  #epoch = 0;
  /** True while a rolling reload runs: workers of both models serve, so no vector is cached. */
  #rolling = false;

  constructor(maxBytes: number, stats: PoolStats) {
    this.#vectors = new VectorCache(maxBytes);
    this.#stats = stats;
  }

  /** Looks a call's texts up, counting hits and misses. */
  lookup(texts: readonly string[], opts: CheckedEmbedOptions): CacheLookup {
    const cache = this.#vectors;
    const prefix = `${opts.normalize ? 'n' : 'r'}${opts.pooling}${opts.truncate ? 't' : 'f'}`;
    const keys: string[] = [];
    const hits: (CachedVector | undefined)[] = [];
    const misses: string[] = [];
    for (const text of texts) {
      const key = cache.key(prefix, text);
      const hit = cache.get(key);
      keys.push(key);
      hits.push(hit);
      if (hit === undefined) misses.push(text);
    }
    this.#stats.inc('cacheHits', texts.length - misses.length);
    if (misses.length > 0) this.#stats.inc('cacheMisses', misses.length);
    return { keys, hits, misses, epoch: this.#epoch };
  }

  /** Whether no reload began or ended since `found` was looked up: its vectors come from the model that answers now. */
  current(found: CacheLookup): boolean {
    return found.epoch === this.#epoch;
  }

  /**
   * Stores the vectors a worker answered for the misses of `found` (row by row in `result`, the
   * `i`-th miss's token count from `tokens.textTokens(i)`), unless a reload moved the epoch or runs.
   */
  fill(found: CacheLookup, result: PackedVectors, tokens: { textTokens(i: number): number }): void {
    if (result.dims[0] === 0 || found.epoch !== this.#epoch || this.#rolling) return;
    const width = result.dims[1];
    const { keys, hits } = found;
    for (let i = 0, m = 0; i < keys.length; i++) {
      if (hits[i] !== undefined) continue;
      this.#vectors.set(keys[i]!, result.data.subarray(m * width, (m + 1) * width), tokens.textTokens(m));
      m++;
    }
  }

  /** A rolling reload starts: the cache empties and caches nothing until it ends. */
  beginRoll(): void {
    this.#vectors.clear();
    this.#rolling = true;
    this.#epoch++;
  }

  endRoll(): void {
    this.#rolling = false;
    this.#epoch++;
  }
}
