import { createHash } from 'node:crypto';

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
