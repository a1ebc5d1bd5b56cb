/**
 * Reference (plain TypeScript) scoring for glove-rerank, the same arithmetic
 * its ONNX graph performs. eval-rerank.ts measures variants with it and
 * check-models.ts compares the model's logits against it.
 *
 * Rows are the glove-100d table rows (SIF-weighted, common component removed);
 * zero rows ([PAD] [UNK] [CLS] [SEP] [MASK]) are ignored on both sides.
 */
import { fromFloat16Bits, toFloat16Bits } from './onnx-writer.js';

export type QueryWeight = 'uniform' | 'norm' | 'norm2' | 'norm3' | 'sif' | 'idf';

export interface Variant {
  name: string;
  /** Weight of the segment cosine; 1 - cosine goes to MaxSim. */
  cosine: number;
  /** How MaxSim averages over query tokens. */
  weight: QueryWeight;
}

export interface Table {
  rows: number;
  dim: number;
  /** Row-major [rows, dim]. */
  data: Float32Array;
  /** L2 norm of each row. */
  norms: Float32Array;
  /** Each row divided by its norm (zero rows stay zero). */
  unit: Float32Array;
}

/** Vocabulary id of the first ordinary word (ids 0..4 are special tokens). */
export const FIRST_WORD_ID = 5;
/** SIF a used by build-glove.ts; 'sif' query weights reuse it. */
export const SIF_A = 1e-3;

export function makeTable(data: Float32Array, rows: number, dim: number): Table {
  const norms = new Float32Array(rows);
  const unit = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += (data[r * dim + d] ?? 0) ** 2;
    const n = Math.sqrt(s);
    norms[r] = n;
    if (n > 0) for (let d = 0; d < dim; d++) unit[r * dim + d] = (data[r * dim + d] ?? 0) / n;
  }
  return { rows, dim, data, norms, unit };
}

/**
 * Per-row query-token weight for MaxSim. 'norm' is the SIF table row norm, 'norm2' / 'norm3' its square / cube;
 * 'sif' and 'idf' estimate p(w) from the vocabulary position by Zipf's law
 * (the vocabulary is in frequency order), p = 1 / (k * H), k = id - 4.
 */
export function queryWeights(table: Table, weight: QueryWeight): Float32Array {
  const out = new Float32Array(table.rows);
  const words = table.rows - FIRST_WORD_ID;
  let harmonic = 0;
  for (let k = words; k >= 1; k--) harmonic += 1 / k;
  for (let r = 0; r < table.rows; r++) {
    if (!((table.norms[r] ?? 0) > 0)) continue;
    const p = 1 / ((r - FIRST_WORD_ID + 1) * harmonic);
    const norm = table.norms[r] ?? 0;
    out[r] = weight === 'uniform' ? 1 : weight === 'norm' ? norm : weight === 'norm2' ? norm ** 2 : weight === 'norm3' ? norm ** 3 : weight === 'sif' ? SIF_A / (SIF_A + p) : -Math.log(p);
  }
  return out;
}

function dotRows(a: Float32Array, i: number, b: Float32Array, j: number, dim: number): number {
  let s = 0;
  for (let d = 0; d < dim; d++) s += (a[i * dim + d] ?? 0) * (b[j * dim + d] ?? 0);
  return s;
}

/** Cosine of the summed rows of the two segments (0 if either is empty). */
export function segmentCosine(table: Table, query: readonly number[], doc: readonly number[]): number {
  const { dim, data } = table;
  const sum = (ids: readonly number[]) => {
    const v = new Float64Array(dim);
    for (const id of ids) for (let d = 0; d < dim; d++) v[d] = (v[d] ?? 0) + (data[id * dim + d] ?? 0);
    return v;
  };
  const q = sum(query);
  const v = sum(doc);
  let qq = 0;
  let vv = 0;
  let qv = 0;
  for (let d = 0; d < dim; d++) {
    qq += (q[d] ?? 0) ** 2;
    vv += (v[d] ?? 0) ** 2;
    qv += (q[d] ?? 0) * (v[d] ?? 0);
  }
  return qv / (Math.sqrt(qq) * Math.sqrt(vv) + 1e-9);
}

/**
 * For each query token with a non-zero row, the best cosine to any doc token
 * with a non-zero row (-1 if there is none), averaged with `weights`; 0 if the
 * query has no usable token.
 */
export function maxSim(table: Table, weights: Float32Array, query: readonly number[], doc: readonly number[]): number {
  const { dim, unit, norms } = table;
  const docIds = doc.filter((id) => (norms[id] ?? 0) > 0);
  let num = 0;
  let den = 0;
  for (const q of query) {
    const w = weights[q] ?? 0;
    if (w === 0) continue;
    let best = -1;
    for (const d of docIds) best = Math.max(best, dotRows(unit, q, unit, d, dim));
    num += w * best;
    den += w;
  }
  return num / (den + 1e-9);
}

export function score(table: Table, weights: Float32Array, v: Variant, query: readonly number[], doc: readonly number[]): number {
  const c = v.cosine > 0 ? segmentCosine(table, query, doc) : 0;
  const m = v.cosine < 1 ? maxSim(table, weights, query, doc) : 0;
  return v.cosine * c + (1 - v.cosine) * m;
}

/**
 * int8 per-row symmetric quantization with a float16 scale per row (what
 * glove-rerank stores), also returned dequantized (what its graph computes with).
 */
export function quantizeRows(data: Float32Array, rows: number, dim: number): { q: Int8Array; scale: Float32Array; scaleBits: Uint16Array; dequantized: Float32Array } {
  const q = new Int8Array(rows * dim);
  const scale = new Float32Array(rows);
  const scaleBits = new Uint16Array(rows);
  const dequantized = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let d = 0; d < dim; d++) max = Math.max(max, Math.abs(data[r * dim + d] ?? 0));
    // Round the scale up to the next float16 so that |x| / s never exceeds 127.
    let bits = toFloat16Bits(max / 127);
    if (fromFloat16Bits(bits) < max / 127) bits += 1;
    const s = fromFloat16Bits(bits);
    scale[r] = s;
    scaleBits[r] = bits;
    if (s === 0) continue;
    for (let d = 0; d < dim; d++) {
      const v = Math.max(-127, Math.min(127, Math.round((data[r * dim + d] ?? 0) / s)));
      q[r * dim + d] = v;
      dequantized[r * dim + d] = Math.fround(v * s);
    }
  }
  return { q, scale, scaleBits, dequantized };
}
