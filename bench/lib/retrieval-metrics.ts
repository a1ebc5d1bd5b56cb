/**
 * Retrieval metrics for sets with one relevant document per query: recall@1, recall@10 and
 * MRR@10 from the relevant document's 1-based rank (Infinity where it was not retrieved).
 */
export interface RankMetrics {
  queries: number;
  r1: number;
  r10: number;
  mrr10: number;
}

export function rankMetrics(ranks: readonly number[]): RankMetrics {
  let r1 = 0;
  let r10 = 0;
  let mrr = 0;
  for (const rank of ranks) {
    if (rank === 1) r1++;
    if (rank <= 10) {
      r10++;
      mrr += 1 / rank;
    }
  }
  const n = Math.max(1, ranks.length);
  return { queries: ranks.length, r1: r1 / n, r10: r10 / n, mrr10: mrr / n };
}

/** The 1-based rank of `target` among `scores` (higher is better); ties count against it. */
export function rankOf(scores: ArrayLike<number>, target: number): number {
  const t = scores[target] ?? -Infinity;
  let rank = 1;
  for (let i = 0; i < scores.length; i++) if (i !== target && (scores[i] ?? -Infinity) >= t) rank++;
  return rank;
}

/** Indexes of the `k` highest scores, best first (ties by index); `keep` filters candidates. */
export function topK(scores: ArrayLike<number>, k: number, keep: (score: number) => boolean = () => true): number[] {
  const idx: number[] = [];
  for (let i = 0; i < scores.length; i++) if (keep(scores[i] ?? -Infinity)) idx.push(i);
  idx.sort((a, b) => (scores[b] ?? 0) - (scores[a] ?? 0) || a - b);
  return idx.slice(0, k);
}
