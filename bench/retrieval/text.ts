/**
 * The reference keyword side: a tokenizer for real text and Okapi BM25.
 *
 * Tokens: NFKC, lower-case, runs of Unicode letters/digits (`[\p{L}\p{N}]+`), except that each
 * Han, Hiragana or Katakana character is a token of its own (no word spaces in those scripts).
 * Optional: a small English stop-word list, and stemming with `stemmer` (Porter, by wooorm) where
 * it is installed (`npm install --no-save stemmer@2.0.1`; it is not a dependency of the package).
 */
const CJK = '\\p{Script=Han}\\p{Script=Hiragana}\\p{Script=Katakana}';
const TOKEN = new RegExp(`[${CJK}]|(?:(?![${CJK}])[\\p{L}\\p{N}])+`, 'gu');

/** Lucene's English stop set (33 words). */
export const STOP_WORDS = new Set(
  'a an and are as at be but by for if in into is it no not of on or such that the their then there these they this to was will with'.split(' '),
);

export interface AnalyzerOptions {
  stem: boolean;
  stop: boolean;
}

export type Stemmer = (word: string) => string;

/** The `stemmer` package where installed, else undefined. */
export async function loadStemmer(): Promise<Stemmer | undefined> {
  try {
    const mod = (await import('stemmer' as string)) as { stemmer: Stemmer };
    return mod.stemmer;
  } catch {
    return undefined;
  }
}

export function tokenize(text: string): string[] {
  return text.normalize('NFKC').toLowerCase().match(TOKEN) ?? [];
}

export function analyzer(opts: AnalyzerOptions, stemmer: Stemmer | undefined): (text: string) => string[] {
  if (opts.stem && !stemmer) throw new Error('stemming asked for, but the stemmer package is not installed');
  const cache = new Map<string, string>();
  const stem = (t: string) => {
    let s = cache.get(t);
    if (s === undefined) cache.set(t, (s = /^\p{Script=Latin}+$/u.test(t) ? stemmer!(t) : t));
    return s;
  };
  return (text) => {
    let toks = tokenize(text);
    if (opts.stop) toks = toks.filter((t) => !STOP_WORDS.has(t));
    return opts.stem ? toks.map(stem) : toks;
  };
}

/** Okapi BM25 over a fixed corpus; idf = ln(1 + (N - df + 0.5) / (df + 0.5)) (never negative). */
export class Bm25 {
  readonly #postings = new Map<string, { doc: number; tf: number }[]>();
  readonly #len: Float64Array;
  readonly #avg: number;
  constructor(
    docs: readonly string[][],
    readonly k1 = 1.2,
    readonly b = 0.75,
  ) {
    this.#len = new Float64Array(docs.length);
    docs.forEach((toks, d) => {
      this.#len[d] = toks.length;
      const tf = new Map<string, number>();
      for (const t of toks) tf.set(t, (tf.get(t) ?? 0) + 1);
      for (const [t, n] of tf) {
        let list = this.#postings.get(t);
        if (!list) this.#postings.set(t, (list = []));
        list.push({ doc: d, tf: n });
      }
    });
    this.#avg = this.#len.reduce((a, x) => a + x, 0) / Math.max(1, docs.length);
  }

  /** Every document's score for the query's tokens (each occurrence of a query term counts). */
  scores(query: readonly string[]): Float64Array {
    const n = this.#len.length;
    const out = new Float64Array(n);
    for (const t of query) {
      const list = this.#postings.get(t);
      if (!list) continue;
      const idf = Math.log(1 + (n - list.length + 0.5) / (list.length + 0.5));
      for (const { doc, tf } of list) {
        const norm = this.k1 * (1 - this.b + (this.b * (this.#len[doc] ?? 0)) / this.#avg);
        out[doc] = (out[doc] ?? 0) + (idf * tf * (this.k1 + 1)) / (tf + norm);
      }
    }
    return out;
  }
}
