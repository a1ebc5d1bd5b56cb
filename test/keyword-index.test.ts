/**
 * The keyword index's posting lists (typed arrays, dead entries skipped by generation and
 * compacted) against a plain BM25 computed from scratch, through random puts, re-puts and removes
 * that reuse slots.
 */
import { describe, expect, it } from 'vitest';
import { KeywordIndex, terms } from '../dist/src/collections/keyword-index.js';

/** BM25 over the live texts, written the obvious way. */
function reference(docs: Map<number, string>, query: string, k: number): { slot: number; score: number }[] {
  const parsed = new Map<number, string[]>();
  for (const [slot, text] of docs) {
    const t = terms(text);
    if (t.length) parsed.set(slot, t);
  }
  const n = parsed.size;
  if (n === 0) return [];
  const avg = [...parsed.values()].reduce((s, t) => s + t.length, 0) / n;
  const scores = new Map<number, number>();
  for (const term of new Set(terms(query))) {
    const df = [...parsed.values()].filter((t) => t.includes(term)).length;
    if (df === 0) continue;
    const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
    for (const [slot, t] of parsed) {
      const tf = t.filter((x) => x === term).length;
      if (tf === 0) continue;
      scores.set(slot, (scores.get(slot) ?? 0) + (idf * tf * 2.2) / (tf + 1.2 * (0.25 + (0.75 * t.length) / avg)));
    }
  }
  return [...scores].map(([slot, score]) => ({ slot, score })).sort((a, b) => b.score - a.score || a.slot - b.slot).slice(0, k);
}

describe('KeywordIndex posting lists', () => {
  it('agrees with BM25 from scratch through random puts, re-puts and removes in reused slots', () => {
    const words = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda'.split(' ');
    let x = 12345;
    const rand = (n: number) => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return (x >>> 8) % n;
    };
    const text = () => Array.from({ length: 1 + rand(12) }, () => words[rand(words.length)]).join(' ');
    const kw = new KeywordIndex();
    const docs = new Map<number, string>();
    for (let step = 0; step < 3_000; step++) {
      const slot = rand(60);
      if (rand(3) === 0) {
        kw.remove(slot);
        docs.delete(slot);
      } else {
        const t = text();
        kw.put(slot, t);
        docs.set(slot, t);
      }
      if (step % 50 === 0) {
        const q = `${words[rand(words.length)]} ${words[rand(words.length)]}`;
        const got = kw.search(q, 7);
        const want = reference(docs, q, 7);
        expect(got.map((h) => h.slot)).toEqual(want.map((h) => h.slot));
        got.forEach((h, i) => expect(h.score).toBeCloseTo(want[i]!.score, 9));
        expect(kw.size).toBe(docs.size);
      }
    }
  });

  it('keeps ties in slot order and applies the filter before taking k', () => {
    const kw = new KeywordIndex();
    for (const slot of [5, 3, 9, 1]) kw.put(slot, 'same words here');
    expect(kw.search('words', 3).map((h) => h.slot)).toEqual([1, 3, 5]);
    expect(kw.search('words', 2, (slot) => slot > 3).map((h) => h.slot)).toEqual([5, 9]);
    kw.put(3000, 'far slot words words');
    expect(kw.search('words', 1).map((h) => h.slot)).toEqual([3000]);
  });
});
