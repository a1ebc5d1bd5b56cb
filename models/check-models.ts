/**
 * Verifies both model folders through the ordinary, offline transformers.js
 * feature-extraction pipeline.
 *
 *   npx tsx models/check-models.ts
 *
 * glove-100d: 100-d unit vectors, equal to a reference computed here straight
 * from the table inside model.onnx, and every semantic triple passes.
 * minilm-shape (if built): 384-d, finite, mask respected, and timed on one
 * intra-op thread.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { env, pipeline } from '@huggingface/transformers';
import type { Triple } from './glove-triples.js';
import { readInitializers } from './onnx-reader.js';

const MODELS_DIR = dirname(fileURLToPath(import.meta.url));
env.allowRemoteModels = false;
env.localModelPath = MODELS_DIR;

type Extractor = Awaited<ReturnType<typeof load>>['extractor'];
let failures = 0;

function check(ok: boolean, message: string): void {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${message}`);
  if (!ok) failures++;
}

async function load(name: string) {
  const started = performance.now();
  const extractor = await pipeline('feature-extraction', name, {
    dtype: 'fp32',
    session_options: { intraOpNumThreads: 1, interOpNumThreads: 1 },
  });
  const loadMs = performance.now() - started;
  console.log(`\n${name}: loaded in ${loadMs.toFixed(0)} ms`);
  return { extractor, loadMs };
}

/** Rows of the [n, dim] sentence-embedding output. */
async function embed(extractor: Extractor, texts: string[]): Promise<Float32Array[]> {
  const out = await extractor(texts, { pooling: 'mean', normalize: true });
  const [n, dim] = out.dims as [number, number];
  const data = out.data as Float32Array;
  return Array.from({ length: n }, (_, i) => data.subarray(i * dim, (i + 1) * dim));
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] ?? 0) * (b[i] ?? 0);
  return s;
};
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  return m;
};

async function checkGlove(): Promise<void> {
  const dir = join(MODELS_DIR, 'glove-100d');
  const triples = JSON.parse(readFileSync(join(dir, 'triples.json'), 'utf8')) as Triple[];
  const { extractor } = await load('glove-100d');
  const table = readInitializers(join(dir, 'onnx', 'model.onnx')).get('embeddings');
  if (!table) throw new Error('no embeddings initializer in glove-100d/onnx/model.onnx');
  const [rows, dim] = table.dims as [number, number];

  // Tokenizer sanity against the vocabulary file itself.
  const vocab = (JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } }).model.vocab;
  const ids = (text: string): number[] => Array.from(extractor.tokenizer(text).input_ids.data as BigInt64Array, Number);
  const expected = ['[CLS]', 'the', 'cat', 'sat', '.', '[SEP]'].map((t) => vocab[t]);
  check(JSON.stringify(ids('The CAT sat.')) === JSON.stringify(expected), `tokenizer: "The CAT sat." -> ${ids('The CAT sat.').join(' ')}`);

  // Reference: mean of table rows over all tokens ([CLS]/[SEP] are zero rows), then L2-normalised.
  const reference = (text: string): Float64Array => {
    const sum = new Float64Array(dim);
    const tokenIds = ids(text);
    for (const id of tokenIds) for (let d = 0; d < dim; d++) sum[d] = (sum[d] ?? 0) + (table.data[id * dim + d] ?? 0);
    const mean = sum.map((x) => x / tokenIds.length);
    const norm = Math.sqrt(dot(mean, mean));
    return mean.map((x) => x / norm);
  };

  const sentences = triples.flatMap((t) => [t.anchor, t.positive, t.negative]);
  const batched = await embed(extractor, sentences); // padded batch: exercises the mask in pooling
  let worstRef = 0;
  let worstNorm = 0;
  for (const [i, text] of sentences.entries()) {
    const [single] = await embed(extractor, [text]);
    const vec = batched[i] ?? new Float32Array();
    worstRef = Math.max(worstRef, maxAbsDiff(vec, reference(text)), maxAbsDiff(single ?? [], vec));
    worstNorm = Math.max(worstNorm, Math.abs(Math.sqrt(dot(vec, vec)) - 1));
  }
  check(rows === Object.keys(vocab).length, `table has one row per vocabulary entry (${rows} x ${dim})`);
  check(batched.length === sentences.length && batched.every((v) => v.length === 100), 'output is 100-d');
  check(worstNorm < 1e-5, `unit norm: max |norm - 1| = ${worstNorm.toExponential(2)}`);
  check(worstRef < 1e-5, `equals table reference (single and batched): max abs diff = ${worstRef.toExponential(2)}`);

  const row = (i: number): Float32Array => batched[i] ?? new Float32Array();
  const margins = triples.map((t, i) => ({ t, pos: dot(row(3 * i), row(3 * i + 1)), neg: dot(row(3 * i), row(3 * i + 2)) }));
  for (const { t, pos, neg } of margins) {
    check(pos > neg, `margin ${(pos - neg).toFixed(3)} (pos ${pos.toFixed(3)}, neg ${neg.toFixed(3)}): ${t.anchor}`);
  }
  const values = margins.map((m) => m.pos - m.neg);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  console.log(`triples: ${values.filter((v) => v > 0).length}/${values.length} pass, min margin ${Math.min(...values).toFixed(3)}, mean ${mean.toFixed(3)}`);
}

async function time(fn: () => Promise<unknown>, runs: number): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return ms[Math.floor(ms.length / 2)] ?? NaN; // median
}

async function checkMinilmShape(): Promise<void> {
  if (!existsSync(join(MODELS_DIR, 'minilm-shape', 'onnx', 'model.onnx'))) {
    console.log('\nminilm-shape: not built, skipped (npx tsx models/build-minilm-shape.ts)');
    return;
  }
  const { extractor } = await load('minilm-shape');
  const short = 'A man is playing a guitar.';
  const triples = JSON.parse(readFileSync(join(MODELS_DIR, 'glove-100d', 'triples.json'), 'utf8')) as Triple[];
  const batch = triples.flatMap((t) => [t.anchor, t.positive]).slice(0, 32);

  const [one] = await embed(extractor, [short]);
  const many = await embed(extractor, batch);
  const finite = [one ?? [], ...many].every((v) => Array.from(v).every(Number.isFinite));
  check(one?.length === 384 && many.length === 32 && many.every((v) => v.length === 384), 'output is 384-d');
  check(finite, 'no NaN/Infinity');
  // Padding keys must be masked out: a short text padded inside a batch gives the same vector.
  const padded = await embed(extractor, [short, `${short} ${batch.join(' ')}`]);
  const diff = maxAbsDiff(one ?? [], padded[0] ?? []);
  check(diff < 1e-4, `attention mask respected: padded vs alone max abs diff = ${diff.toExponential(2)}`);

  for (let i = 0; i < 5; i++) await embed(extractor, [short]);
  const singleMs = await time(() => embed(extractor, [short]), 50);
  await embed(extractor, batch);
  const batchMs = await time(() => embed(extractor, batch), 10);
  console.log(`timing (1 intra-op thread): one short text ${singleMs.toFixed(2)} ms (median of 50)`);
  console.log(`timing (1 intra-op thread): batch of 32 ${batchMs.toFixed(1)} ms = ${((32 / batchMs) * 1000).toFixed(0)} texts/s (median of 10)`);
}

await checkGlove();
await checkMinilmShape();
console.log(failures === 0 ? '\nall checks passed' : `\n${failures} check(s) FAILED`);
process.exitCode = failures === 0 ? 0 : 1;
