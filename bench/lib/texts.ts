/**
 * Benchmark texts of a given length. Every word here is a single token in BERT's uncased
 * vocabulary (and in glove-100d's), so a text of n words is n + 2 tokens with [CLS] and [SEP].
 * Each call gets a different text (seeded), so nothing can be served from a cache.
 */
const WORDS = ('the river market music light stone garden doctor storm winter ocean train coffee camera bridge ' +
  'school forest planet court engine people city water house night story world money power family ' +
  'table window street summer morning letter dinner friend country village mountain island field').split(' ');

export const TEXT_LENGTHS = { short: 10, medium: 60, long: 250 } as const;
export type TextLength = keyof typeof TEXT_LENGTHS;

/** A text of `tokens` tokens (special tokens included), different for each seed. */
export function textOf(tokens: number, seed: number): string {
  const words = Math.max(1, tokens - 2);
  const out = new Array<string>(words);
  let x = (seed * 2654435761 + 12345) >>> 0;
  for (let i = 0; i < words; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = WORDS[(x >>> 8) % WORDS.length]!;
  }
  return out.join(' ');
}

/** A pool of distinct texts to cycle through. */
export function textSet(tokens: number, count = 256): string[] {
  return Array.from({ length: count }, (_, i) => textOf(tokens, i + 1));
}
