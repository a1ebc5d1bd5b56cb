/**
 * Generated text with topical structure, from the default model's own vocabulary (ordered by
 * frequency): each document mixes words of a main topic, a second topic and common words, so its
 * embeddings cluster the way real documents' do (unlike random vectors, the worst case for graph
 * indexes). Deterministic for a seed.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const TOKENIZER = fileURLToPath(new URL('../models/glove-100d/tokenizer.json', import.meta.url));

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface TextGenerator {
  /** The i-th document of the stream (the same text for the same seed and i). */
  doc(i: number): string;
}

export function textGenerator(seed: number, topics = 400, wordsPerTopic = 40): TextGenerator {
  const vocab = Object.keys((JSON.parse(readFileSync(TOKENIZER, 'utf8')) as { model: { vocab: Record<string, number> } }).model.vocab)
    .filter((w) => /^[a-z]{3,}$/.test(w));
  const common = vocab.slice(0, 150);
  const pool = vocab.slice(150, 20_000);
  const r = rng(seed);
  const topicWords = Array.from({ length: topics }, () => Array.from({ length: wordsPerTopic }, () => pool[Math.floor(r() * pool.length)]!));
  return {
    doc(i: number): string {
      const d = rng(seed * 1_000_003 + i);
      const main = topicWords[Math.floor(d() * topics)]!;
      const second = topicWords[Math.floor(d() * topics)]!;
      const n = 10 + Math.floor(d() * 16);
      const words: string[] = [];
      for (let w = 0; w < n; w++) {
        const x = d();
        const from = x < 0.6 ? main : x < 0.8 ? second : common;
        words.push(from[Math.floor(d() * from.length)]!);
      }
      return words.join(' ');
    },
  };
}
