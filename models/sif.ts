/**
 * SIF re-weighting (Arora, Liang & Ma 2017, "A Simple but Tough-to-Beat
 * Baseline for Sentence Embeddings"), baked into a word-vector table.
 *
 * SIF embeds a sentence as the average of a/(a + p(w)) * v(w), then removes
 * the projection on a common component u. Both steps are linear per word, so
 * they can be applied to each table row once and mean pooling at run time
 * gives the same direction as SIF (the final L2 normalisation removes the
 * 1/length factor).
 */

/**
 * Unigram probability of the word at 0-based frequency `rank` among `total`
 * words, by Zipf's law (p ∝ 1/rank). The source gives ranks, not counts.
 */
export function zipfProbability(rank: number, total: number): number {
  return 1 / ((rank + 1) * harmonic(total));
}

const harmonicCache = new Map<number, number>();
function harmonic(n: number): number {
  let h = harmonicCache.get(n);
  if (h === undefined) {
    h = 0;
    for (let k = n; k >= 1; k--) h += 1 / k; // smallest terms first for accuracy
    harmonicCache.set(n, h);
  }
  return h;
}

export function sifWeight(probability: number, a: number): number {
  return a / (a + probability);
}

/**
 * Estimates the common component as the dominant eigenvector of
 * Σ p(w) x(w) x(w)ᵀ over the table rows: the uncentred second moment of
 * weighted word vectors under the unigram distribution. The paper takes the
 * first singular vector of a corpus's sentence embeddings; no corpus ships
 * with the vectors, and this direction is what those sentence embeddings
 * share. `table` is row-major [rows, dim]; rows with probability 0 are ignored.
 */
export function commonComponent(table: Float64Array, dim: number, probabilities: Float64Array): Float64Array {
  const m = new Float64Array(dim * dim);
  for (let r = 0; r < probabilities.length; r++) {
    const p = probabilities[r] ?? 0;
    if (p === 0) continue;
    const o = r * dim;
    for (let i = 0; i < dim; i++) {
      const pi = p * (table[o + i] ?? 0);
      for (let j = 0; j < dim; j++) m[i * dim + j] = (m[i * dim + j] ?? 0) + pi * (table[o + j] ?? 0);
    }
  }
  return dominantEigenvector(m, dim);
}

function dominantEigenvector(m: Float64Array, dim: number): Float64Array {
  let u = new Float64Array(dim).fill(1 / Math.sqrt(dim));
  for (let iter = 0; iter < 1000; iter++) {
    const next = new Float64Array(dim);
    for (let i = 0; i < dim; i++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += (m[i * dim + j] ?? 0) * (u[j] ?? 0);
      next[i] = s;
    }
    const norm = Math.hypot(...next);
    for (let i = 0; i < dim; i++) next[i] = (next[i] ?? 0) / norm;
    const delta = Math.hypot(...next.map((x, i) => x - (u[i] ?? 0)));
    u = next;
    if (delta < 1e-12) break;
  }
  return u;
}

/** Subtracts each row's projection on the unit vector `u`, in place. */
export function removeComponent(table: Float64Array, dim: number, u: Float64Array): void {
  for (let o = 0; o < table.length; o += dim) {
    let dot = 0;
    for (let i = 0; i < dim; i++) dot += (table[o + i] ?? 0) * (u[i] ?? 0);
    for (let i = 0; i < dim; i++) table[o + i] = (table[o + i] ?? 0) - dot * (u[i] ?? 0);
  }
}
