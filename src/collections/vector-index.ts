/**
 * Vectors of one collection in slots of one growable matrix, searched exactly (a scan) or through
 * a usearch HNSW graph whose keys are the slot numbers.
 */
import { createRequire } from 'node:module';
import type { Index as UsearchIndex } from 'usearch';
import type { CollectionSettings, Metric } from './types.js';

// usearch's ESM entry fails to load on Node 20 (its build-dir lookup recurses); its CommonJS entry works.
const usearch = createRequire(import.meta.url)('usearch') as typeof import('usearch');

export interface Scored {
  slot: number;
  score: number;
}

export class VectorIndex {
  readonly dims: number;
  readonly metric: Metric;
  readonly #settings: CollectionSettings;
  #data: Float32Array;
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
    this.#data = new Float32Array(1024 * this.dims);
    this.#alive = new Uint8Array(1024);
  }

  get size(): number {
    return this.#size;
  }

  get hnswActive(): boolean {
    return this.#hnsw !== undefined;
  }

  /** The stored vector of a slot (a view: copy it before it leaves the thread). */
  vector(slot: number): Float32Array {
    return this.#data.subarray(slot * this.dims, (slot + 1) * this.dims);
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
    const target = this.vector(slot);
    target.set(vector);
    if (this.metric === 'cosine') normalizeInPlace(target);
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

  /** Adds the vectors written since the last commit to the graph, in one batch on all cores. */
  commit(): void {
    const graph = this.#hnsw;
    if (!graph || this.#graphPending.size === 0) return;
    const keys = new BigUint64Array(this.#graphPending.size);
    const rows = new Float32Array(keys.length * this.dims);
    let n = 0;
    for (const slot of this.#graphPending) {
      keys[n] = BigInt(slot);
      rows.set(this.vector(slot), n * this.dims);
      n++;
    }
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
      const want = accept ? Math.min(this.#size, Math.max(k * 10, 100)) : Math.min(k, this.#size);
      const m = this.#hnsw.search(q, want, 1);
      const out: Scored[] = [];
      for (let i = 0; i < m.keys.length && out.length < k; i++) {
        const slot = Number(m.keys[i]);
        if (accept && !accept(slot)) continue;
        const d = m.distances[i]!;
        out.push({ slot, score: this.metric === 'l2' ? Math.sqrt(Math.max(0, d)) : 1 - d });
      }
      if (!accept || out.length >= k || want >= this.#size) return out;
    }
    return this.#scan(q, k, accept);
  }

  #scan(q: Float32Array, k: number, accept?: (slot: number) => boolean): Scored[] {
    const dims = this.dims;
    const data = this.#data;
    const l2 = this.metric === 'l2';
    // Kept sorted best first; "better" is a higher similarity, or a smaller distance for l2.
    const top: Scored[] = [];
    for (let slot = 0; slot < this.#slots; slot++) {
      if (!this.#alive[slot] || (accept && !accept(slot))) continue;
      let s = 0;
      const base = slot * dims;
      if (l2) {
        for (let j = 0; j < dims; j++) {
          const d = data[base + j]! - q[j]!;
          s += d * d;
        }
      } else {
        for (let j = 0; j < dims; j++) s += data[base + j]! * q[j]!;
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
    return new usearch.Index({
      dimensions: this.dims,
      metric: this.metric === 'l2' ? usearch.MetricKind.L2sq : usearch.MetricKind.IP,
      quantization: usearch.ScalarKind.F32,
      connectivity,
      expansion_add: expansionAdd,
      expansion_search: expansionSearch,
      multi: false,
    });
  }

  /** Builds the graph from every live slot at once (batch insertion uses all cores). */
  #buildGraph(): void {
    const graph = this.#newGraph();
    const keys = new BigUint64Array(this.#size);
    const rows = new Float32Array(this.#size * this.dims);
    let n = 0;
    for (let slot = 0; slot < this.#slots; slot++) {
      if (!this.#alive[slot]) continue;
      keys[n] = BigInt(slot);
      rows.set(this.vector(slot), n * this.dims);
      n++;
    }
    if (n > 0) graph.add(keys, rows, 0);
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
    const data = new Float32Array(cap * this.dims);
    data.set(this.#data);
    this.#data = data;
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
