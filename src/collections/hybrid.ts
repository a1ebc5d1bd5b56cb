/**
 * Hybrid search: the dense (vector) and keyword (BM25) candidates of a query fused into one
 * ranking. Each side's scores are brought to [0, 1] over its own candidates (min-max), so that a
 * cosine and a BM25 score can be added, then combined with the dense side's weight:
 * `score = w * dense + (1 - w) * keyword`, a document missing from one side scoring 0 there. The
 * weight depends on the model (see `denseWeightFor`): averaged word vectors rank far below BM25
 * on real text, a transformer sentence model far less so. Chosen by measurement: see
 * docs/performance.md ("Search quality").
 */
import type { MetadataFilter } from './filter.js';

export const SEARCH_MODES = ['hybrid', 'dense', 'keyword'] as const;
export type SearchMode = (typeof SEARCH_MODES)[number];

/** What the index worker needs to answer one search. */
export interface SearchPlan {
  /** The query's vector (absent for a keyword search). */
  vector: Float32Array | undefined;
  /** The query's text (absent for a query given as a vector). */
  text: string | undefined;
  mode: SearchMode;
  k: number;
  filter: MetadataFilter | undefined;
  includeVectors: boolean;
  exact: boolean;
  /** Hybrid: the dense side's weight, from 0 (keyword only) to 1 (dense only). */
  denseWeight: number;
  /** Hybrid: candidates taken from each side before fusing (at least k). */
  candidates: number;
}

interface Scored {
  slot: number;
  score: number;
}

/** Scores brought to [0, 1] over the candidates; `lowerIsBetter` for L2 distances. All equal: all 1. */
function normalize(hits: readonly Scored[], lowerIsBetter: boolean): Map<number, number> {
  const out = new Map<number, number>();
  if (hits.length === 0) return out;
  let min = Infinity;
  let max = -Infinity;
  for (const h of hits) {
    if (h.score < min) min = h.score;
    if (h.score > max) max = h.score;
  }
  const span = max - min;
  for (const h of hits) out.set(h.slot, span > 0 ? (lowerIsBetter ? max - h.score : h.score - min) / span : 1);
  return out;
}

/** The two sides fused, best first (ties by slot). */
export function fuse(dense: readonly Scored[], keyword: readonly Scored[], plan: Pick<SearchPlan, 'denseWeight'>, lowerIsBetter: boolean): Scored[] {
  const w = plan.denseWeight;
  const d = normalize(dense, lowerIsBetter);
  const kw = normalize(keyword, false);
  const slots = new Set([...d.keys(), ...kw.keys()]);
  const out: Scored[] = [];
  for (const slot of slots) out.push({ slot, score: w * (d.get(slot) ?? 0) + (1 - w) * (kw.get(slot) ?? 0) });
  out.sort((a, b) => b.score - a.score || a.slot - b.slot);
  return out;
}

/**
 * Hybrid search's default dense weight for a model. Averaged word vectors (the bundled
 * glove-100d: no attention layers, so no word order) rank well below BM25 on real text (MRR@10
 * 0.19 and 0.30 against 0.45 and 0.71 on bench/retrieval's two sets), and fusion must lean on the
 * keyword side: 0.1 was the best of 181 fusions chosen on one half of each set and confirmed on the
 * other, where 0.3 fell below keyword alone. A transformer sentence model is trusted more; 0.5 is
 * not measured here (no transformer model can be loaded offline).
 */
export const DENSE_WEIGHT = { wordVectors: 0.1, transformer: 0.5 } as const;

export function denseWeightFor(model: { wordVectors?: boolean } | undefined): number {
  return model?.wordVectors === true ? DENSE_WEIGHT.wordVectors : DENSE_WEIGHT.transformer;
}
