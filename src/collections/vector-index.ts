/**
 * Vectors of one collection in slots of one growable matrix, searched exactly (a scan) or through
 * a usearch HNSW graph whose keys are the slot numbers. The matrix holds the vectors in the
 * collection's {@link Quantization}: f32 and binary as given (binary's graph holds bits, and its
 * candidates are scored again against these), f16 as half-precision bits, i8 as bytes with a
 * scale per slot.
 */
import { createRequire } from 'node:module';
import type { Index as UsearchIndex } from 'usearch';
import { HALF_TO_FLOAT, toBytes, toHalf } from './quantize.js';
import type { CollectionSettings, Metric, Quantization } from './types.js';

// usearch's ESM entry fails to load on Node 20 (its build-dir lookup recurses); its CommonJS entry works.
const usearch = createRequire(import.meta.url)('usearch') as typeof import('usearch');

/**
 * Candidates taken from the graph per hit wanted, then scored again exactly against the stored
 * vectors: i8's graph compares byte vectors with a byte query, binary's compares bits (a coarse
 * first stage). While the candidates stay under the graph's `expansionSearch` (128 by default),
 * more of them cost only the rescoring. Measured at 100,000 vectors in bench/compress.ts (which
 * sets other values to sweep them).
 */
export const OVERSAMPLE: Record<Quantization, number> = { f32: 1, f16: 1, i8: 2, binary: 10 };

export interface Scored {
  slot: number;
  score: number;
}

export class VectorIndex {
  readonly dims: number;
  readonly metric: Metric;
  readonly quantization: Quantization;
  readonly #settings: CollectionSettings;
  /** f32 and binary: the vectors; f16: their half-precision bits; i8: their bytes (see #scales). */
  #data: Float32Array | Uint16Array | Int8Array;
  /** i8 only: the factor that turns a slot's bytes back into its vector. */
  #scales: Float32Array;
  #alive: Uint8Array;
  #free: number[] = [];
  #slots = 0;
  #size = 0;
  #hnsw: UsearchIndex | undefined;
  /** Slots written but not yet in the graph: added in one multi-threaded batch by {@link commit}. */
  readonly #graphPending = new Set<number>();
  /** Until {@link finishLoad}: recovery stores everything first and builds the graph once. */
  #loading = true;

  constructor(settings: CollectionSettings) {
    this.#settings = settings;
    this.dims = settings.dims;
    this.metric = settings.metric;
    this.quantization = settings.quantization ?? 'f32';
    this.#data = this.#matrix(1024);
    this.#scales = new Float32Array(this.quantization === 'i8' ? 1024 : 0);
    this.#alive = new Uint8Array(1024);
  }

  get size(): number {
    return this.#size;
  }

  get hnswActive(): boolean {
    return this.#hnsw !== undefined;
  }

  /** Bytes the stored vectors take (the matrix at its capacity), not counting the graph's own copy. */
  get vectorBytes(): number {
    return this.#data.byteLength + this.#scales.byteLength;
  }

  /** Writes the graph in usearch's file format (for measurements: the file's size is about what the graph holds in memory). */
  saveGraph(file: string): boolean {
    this.commit();
    this.#hnsw?.save(file);
    return this.#hnsw !== undefined;
  }

  #matrix(slots: number): Float32Array | Uint16Array | Int8Array {
    const n = slots * this.dims;
    return this.quantization === 'f16' ? new Uint16Array(n) : this.quantization === 'i8' ? new Int8Array(n) : new Float32Array(n);
  }

  /**
   * The stored vector of a slot: for f32 and binary a view (copy it before it leaves the thread),
   * for f16 and i8 a new array of the values as stored (rounded).
   */
  vector(slot: number): Float32Array {
    const from = slot * this.dims;
    const data = this.#data;
    if (data instanceof Float32Array) return data.subarray(from, from + this.dims);
    const out = new Float32Array(this.dims);
    if (data instanceof Uint16Array) for (let j = 0; j < this.dims; j++) out[j] = HALF_TO_FLOAT[data[from + j]!]!;
    else {
      const scale = this.#scales[slot]!;
      for (let j = 0; j < this.dims; j++) out[j] = data[from + j]! * scale;
    }
    return out;
  }

  #write(slot: number, v: Float32Array): void {
    const from = slot * this.dims;
    const data = this.#data;
    if (data instanceof Float32Array) data.set(v, from);
    else if (data instanceof Uint16Array) for (let j = 0; j < this.dims; j++) data[from + j] = toHalf(v[j]!);
    else this.#scales[slot] = toBytes(v, data, from);
  }

  /** Stores a vector in a new slot, or over `slot`; returns the slot. Cosine vectors are stored unit length. */
  put(vector: Float32Array, slot?: number): number {
    if (slot === undefined) {
      slot = this.#free.pop() ?? this.#slots++;
      this.#grow(slot + 1);
      this.#alive[slot] = 1;
      this.#size++;
    } else if (this.#hnsw && !this.#graphPending.has(slot)) {
      this.#hnsw.remove(BigInt(slot));
    }
    if (this.metric === 'cosine') {
      const v = vector.slice();
      normalizeInPlace(v);
      this.#write(slot, v);
    } else {
      this.#write(slot, vector);
    }
    if (this.#hnsw) this.#graphPending.add(slot);
    else if (!this.#loading && this.#settings.index === 'auto' && this.#size >= this.#settings.autoThreshold) this.#buildGraph();
    return slot;
  }

  remove(slot: number): void {
    if (!this.#alive[slot]) return;
    this.#alive[slot] = 0;
    this.#free.push(slot);
    this.#size--;
    if (!this.#graphPending.delete(slot)) this.#hnsw?.remove(BigInt(slot));
  }

  /** Rows for the graph: i8's own bytes (usearch's i8 graph compares them by cosine, which ignores the scale), else floats. */
  #rows(slots: Iterable<number>, n: number): { keys: BigUint64Array; rows: Float32Array | Int8Array } {
    const keys = new BigUint64Array(n);
    const data = this.#data;
    const rows = data instanceof Int8Array ? new Int8Array(n * this.dims) : new Float32Array(n * this.dims);
    let i = 0;
    for (const slot of slots) {
      keys[i] = BigInt(slot);
      if (data instanceof Int8Array) rows.set(data.subarray(slot * this.dims, (slot + 1) * this.dims), i * this.dims);
      else rows.set(this.vector(slot), i * this.dims);
      i++;
    }
    return { keys, rows };
  }

  /** Adds the vectors written since the last commit to the graph, in one batch on all cores. */
  commit(): void {
    const graph = this.#hnsw;
    if (!graph || this.#graphPending.size === 0) return;
    const { keys, rows } = this.#rows(this.#graphPending, this.#graphPending.size);
    this.#graphPending.clear();
    graph.add(keys, rows, keys.length > 64 ? 0 : 1);
  }

  /**
   * The `k` best slots for `query`, best first. `accept` limits the candidates (a metadata filter):
   * with a graph, it is searched for a wider candidate list first and the scan is the fallback
   * when too few candidates pass.
   */
  search(query: Float32Array, k: number, accept?: (slot: number) => boolean, exact = false): Scored[] {
    if (this.#size === 0) return [];
    this.commit();
    const q = query.slice();
    if (this.metric === 'cosine') normalizeInPlace(q);
    if (this.#hnsw && !exact) {
      const over = OVERSAMPLE[this.quantization];
      const want = Math.min(this.#size, (accept ? Math.max(k * 10, 100) : k) * over);
      let graphQuery: Float32Array | Int8Array = q;
      if (this.quantization === 'i8') {
        graphQuery = new Int8Array(this.dims);
        toBytes(q, graphQuery, 0);
      }
      const m = this.#hnsw.search(graphQuery, want, 1);
      const out: Scored[] = [];
      const l2 = this.metric === 'l2';
      for (let i = 0; i < m.keys.length && (over > 1 || out.length < k); i++) {
        const slot = Number(m.keys[i]);
        if (accept && !accept(slot)) continue;
        if (over > 1) out.push({ slot, score: this.#score(slot, q) });
        else {
          const d = m.distances[i]!;
          out.push({ slot, score: l2 ? Math.sqrt(Math.max(0, d)) : 1 - d });
        }
      }
      if (over > 1) out.sort(l2 ? (a, b) => a.score - b.score : (a, b) => b.score - a.score).splice(k);
      if (!accept || out.length >= k || want >= this.#size) return out;
    }
    return this.#scan(q, k, accept);
  }

  /** `q` against one stored vector: the dot product, or the L2 distance. */
  #score(slot: number, q: Float32Array): number {
    const v = this.vector(slot);
    let s = 0;
    if (this.metric === 'l2') {
      for (let j = 0; j < this.dims; j++) {
        const d = v[j]! - q[j]!;
        s += d * d;
      }
      return Math.sqrt(s);
    }
    for (let j = 0; j < this.dims; j++) s += v[j]! * q[j]!;
    return s;
  }

  #scan(q: Float32Array, k: number, accept?: (slot: number) => boolean): Scored[] {
    const dims = this.dims;
    const data = this.#data;
    const l2 = this.metric === 'l2';
    // Compressed rows are decoded into this one buffer (f16), or scored on their bytes and scaled (i8).
    const row = new Float32Array(dims);
    // Kept sorted best first; "better" is a higher similarity, or a smaller distance for l2.
    const top: Scored[] = [];
    for (let slot = 0; slot < this.#slots; slot++) {
      if (!this.#alive[slot] || (accept && !accept(slot))) continue;
      let s = 0;
      const base = slot * dims;
      if (data instanceof Float32Array) {
        if (l2) {
          for (let j = 0; j < dims; j++) {
            const d = data[base + j]! - q[j]!;
            s += d * d;
          }
        } else {
          for (let j = 0; j < dims; j++) s += data[base + j]! * q[j]!;
        }
      } else if (data instanceof Int8Array) {
        // i8 is cosine only: a dot product.
        for (let j = 0; j < dims; j++) s += data[base + j]! * q[j]!;
        s *= this.#scales[slot]!;
      } else {
        for (let j = 0; j < dims; j++) row[j] = HALF_TO_FLOAT[data[base + j]!]!;
        if (l2) {
          for (let j = 0; j < dims; j++) {
            const d = row[j]! - q[j]!;
            s += d * d;
          }
        } else {
          for (let j = 0; j < dims; j++) s += row[j]! * q[j]!;
        }
      }
      const key = l2 ? -s : s;
      if (top.length === k && key <= (l2 ? -top[k - 1]!.score : top[k - 1]!.score)) continue;
      let lo = 0;
      let hi = top.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const other = l2 ? -top[mid]!.score : top[mid]!.score;
        if (other >= key) lo = mid + 1;
        else hi = mid;
      }
      top.splice(lo, 0, { slot, score: s });
      if (top.length > k) top.pop();
    }
    if (l2) for (const t of top) t.score = Math.sqrt(t.score);
    return top;
  }

  #newGraph(): UsearchIndex {
    const { connectivity, expansionAdd, expansionSearch } = this.#settings.hnsw;
    const q = this.quantization;
    return new usearch.Index({
      dimensions: this.dims,
      // Binary: one bit a dimension (its sign), compared by Hamming distance; i8: cosine on the bytes.
      metric: q === 'binary' ? usearch.MetricKind.Hamming : q === 'i8' ? usearch.MetricKind.Cos : this.metric === 'l2' ? usearch.MetricKind.L2sq : usearch.MetricKind.IP,
      quantization: q === 'binary' ? usearch.ScalarKind.B1 : q === 'i8' ? usearch.ScalarKind.I8 : q === 'f16' ? usearch.ScalarKind.F16 : usearch.ScalarKind.F32,
      connectivity,
      expansion_add: expansionAdd,
      expansion_search: expansionSearch,
      multi: false,
    });
  }

  /** Builds the graph from every live slot at once (batch insertion uses all cores). */
  #buildGraph(): void {
    const graph = this.#newGraph();
    const live = function* (alive: Uint8Array, slots: number): Generator<number> {
      for (let slot = 0; slot < slots; slot++) if (alive[slot]) yield slot;
    };
    const { keys, rows } = this.#rows(live(this.#alive, this.#slots), this.#size);
    if (keys.length > 0) graph.add(keys, rows, 0);
    this.#graphPending.clear();
    this.#hnsw = graph;
  }

  /** Ends the bulk load: builds the graph when the settings call for one. */
  finishLoad(): void {
    this.#loading = false;
    if (this.#settings.index === 'hnsw' || (this.#settings.index === 'auto' && this.#size >= this.#settings.autoThreshold)) {
      this.#buildGraph();
    }
  }

  #grow(slots: number): void {
    if (slots <= this.#alive.length) return;
    const cap = Math.max(slots, this.#alive.length * 2);
    const data = this.#matrix(cap);
    data.set(this.#data as never);
    this.#data = data;
    if (this.quantization === 'i8') {
      const scales = new Float32Array(cap);
      scales.set(this.#scales);
      this.#scales = scales;
    }
    const alive = new Uint8Array(cap);
    alive.set(this.#alive);
    this.#alive = alive;
  }
}

function normalizeInPlace(v: Float32Array): void {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  if (s === 0) return;
  const inv = 1 / Math.sqrt(s);
  for (let i = 0; i < v.length; i++) v[i]! *= inv;
}
