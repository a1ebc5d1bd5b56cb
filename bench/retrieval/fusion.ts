/**
 * Fusions of a dense and a keyword ranking, each side given as its top candidates (best first)
 * plus, where a normalization needs it, every document's score on that side.
 *
 * - `rrf`: w / (60 + dense rank) + (1 - w) / (60 + keyword rank), a side's term 0 where the
 *   document is not among its candidates (w = 0.5 is plain reciprocal-rank fusion, halved).
 * - `minmax`: each side's scores min-max scaled over the union of both candidate lists (a
 *   document found by one side gets its real score on the other), then w * dense + (1 - w) * keyword.
 * - `zscore`: the same with (score - mean) / standard deviation over the union.
 * - `minmax-own`: each side scaled over its own candidates only, 0 where a document is missing
 *   from a side (what a library can do without scoring the other side's finds).
 */
export const FUSIONS = ['rrf', 'minmax', 'zscore', 'minmax-own'] as const;
export type Fusion = (typeof FUSIONS)[number];
export const RRF_K = 60;

export interface Side {
  /** Candidate document indexes, best first. */
  top: readonly number[];
  /** Every document's score on this side. */
  all: ArrayLike<number>;
}

/** The fused candidates with their scores, best first (ties by index). */
export function fuse(method: Fusion, w: number, dense: Side, keyword: Side): { doc: number; score: number }[] {
  const union = [...new Set([...dense.top, ...keyword.top])];
  let score: (d: number) => number;
  if (method === 'rrf') {
    const dr = new Map(dense.top.map((d, i) => [d, i + 1]));
    const kr = new Map(keyword.top.map((d, i) => [d, i + 1]));
    const term = (r: number | undefined) => (r === undefined ? 0 : 1 / (RRF_K + r));
    score = (d) => w * term(dr.get(d)) + (1 - w) * term(kr.get(d));
  } else if (method === 'minmax-own') {
    const scale = (s: Side) => {
      const vals = s.top.map((d) => s.all[d] ?? 0);
      const min = Math.min(...vals);
      const span = Math.max(...vals) - min;
      return new Map(s.top.map((d) => [d, span > 0 ? ((s.all[d] ?? 0) - min) / span : 1]));
    };
    const dn = scale(dense);
    const kn = scale(keyword);
    score = (d) => w * (dn.get(d) ?? 0) + (1 - w) * (kn.get(d) ?? 0);
  } else {
    const scale = (s: Side): ((d: number) => number) => {
      const vals = union.map((d) => s.all[d] ?? 0);
      if (method === 'minmax') {
        const min = Math.min(...vals);
        const span = Math.max(...vals) - min;
        return (d) => (span > 0 ? ((s.all[d] ?? 0) - min) / span : 0);
      }
      const mean = vals.reduce((a, x) => a + x, 0) / vals.length;
      const sd = Math.sqrt(vals.reduce((a, x) => a + (x - mean) ** 2, 0) / vals.length);
      return (d) => (sd > 0 ? ((s.all[d] ?? 0) - mean) / sd : 0);
    };
    const dn = scale(dense);
    const kn = scale(keyword);
    score = (d) => w * dn(d) + (1 - w) * kn(d);
  }
  return union.map((doc) => ({ doc, score: score(doc) })).sort((a, b) => b.score - a.score || a.doc - b.doc);
}

/** The 1-based rank of `target` in a fused list (ties count against it); Infinity if absent. */
export function fusedRank(list: readonly { doc: number; score: number }[], target: number): number {
  const hit = list.find((x) => x.doc === target);
  if (!hit) return Infinity;
  return 1 + list.filter((x) => x.doc !== target && x.score >= hit.score).length;
}
