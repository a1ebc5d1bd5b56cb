/**
 * Verifies the model folders the way a user loads them, offline: the
 * embedders through the feature-extraction pipeline, the cross-encoders through
 * AutoTokenizer + AutoModelForSequenceClassification with text pairs.
 *
 *   npx tsx models/check-models.ts
 *
 * glove-100d: 100-d unit vectors, equal to a reference computed here straight
 * from the table inside model.onnx, and every semantic triple passes.
 * minilm-shape (if built): 384-d, finite, mask respected, and timed on one
 * intra-op thread.
 * glove-rerank: tokenizer gives token_type_ids and truncates long pairs, logits
 * [batch, 1] equal a reference computed from the int8 table inside model.onnx,
 * and obvious relevant/irrelevant pairs are ranked right.
 * minilm-cross-shape (if built): logits [batch, num_labels], finite, mask
 * respected, timed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AutoModelForSequenceClassification, AutoTokenizer, env, pipeline } from '@huggingface/transformers';
import type { Triple } from './glove-triples.js';
import { type QueryWeight, makeTable, queryWeights, score } from './glove-rerank-score.js';
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

// ---------------------------------------------------------------------------
// Cross-encoders

async function loadCrossEncoder(name: string) {
  const started = performance.now();
  const tokenizer = await AutoTokenizer.from_pretrained(name);
  const model = await AutoModelForSequenceClassification.from_pretrained(name, {
    dtype: 'fp32',
    session_options: { intraOpNumThreads: 1, interOpNumThreads: 1 },
  });
  console.log(`\n${name}: loaded in ${(performance.now() - started).toFixed(0)} ms`);
  const encode = (queries: string[], docs: string[], options: { max_length?: number } = {}): Encoded =>
    tokenizer(queries, { text_pair: docs, padding: true, truncation: true, ...options }) as unknown as Encoded;
  const run = async (inputs: Encoded): Promise<{ dims: number[]; data: Float32Array }> => {
    const { logits } = (await model(inputs)) as { logits: { dims: number[]; data: Float32Array } };
    return logits;
  };
  return { tokenizer, model, encode, run };
}

interface TensorLike {
  dims: number[];
  data: ArrayLike<number | bigint>;
}
interface Encoded {
  input_ids: TensorLike;
  attention_mask: TensorLike;
  token_type_ids: TensorLike;
}

const rows2d = (t: { dims: readonly number[]; data: ArrayLike<number | bigint> }): number[][] => {
  const [n, m] = t.dims as [number, number];
  return Array.from({ length: n }, (_, i) => Array.from({ length: m }, (_, j) => Number(t.data[i * m + j])));
};

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Query, relevant document, irrelevant document. */
const OBVIOUS_PAIRS: [string, string, string][] = [
  ['how to bake bread', 'Mix flour, water and yeast, let the dough rise, then bake it in a hot oven.', 'The stock market fell sharply after the interest rate announcement.'],
  ['symptoms of the flu', 'Fever, cough, sore throat and muscle aches are common signs of influenza.', 'The football team won the championship in overtime.'],
  ['sort a list of numbers', 'Returns a new list containing all the items in ascending order.', 'The cathedral was built in the twelfth century.'],
  ['cheap flights to Paris', 'Airlines offer discount tickets from London to the French capital.', 'Photosynthesis turns light into chemical energy in plants.'],
  ['how do vaccines work', 'A vaccine trains the immune system to recognise a virus and produce antibodies.', 'She painted the kitchen walls a bright yellow.'],
  ['guitar lessons for beginners', 'Learn your first chords and strumming patterns on an acoustic guitar.', 'The committee approved the annual budget for road repairs.'],
];

async function checkGloveRerank(): Promise<void> {
  const dir = join(MODELS_DIR, 'glove-rerank');
  if (!existsSync(join(dir, 'onnx', 'model.onnx'))) {
    check(false, 'glove-rerank is missing: npx tsx models/build-glove-rerank.ts');
    return;
  }
  const { encode, run } = await loadCrossEncoder('glove-rerank');
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as {
    architectures: string[];
    num_labels: number;
    id2label: Record<string, string>;
    warmpool: { cosine: number; query_weight: QueryWeight; logit_scale: number; logit_center: number };
  };
  const tokConfig = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as { model_max_length: number };
  check(
    config.architectures[0] === 'BertForSequenceClassification' && config.num_labels === 1 && config.id2label['0'] === 'LABEL_0',
    'config: BertForSequenceClassification, num_labels 1, id2label {0: LABEL_0}',
  );

  // Reference scorer over the int8 table + float16 row scales stored in the graph.
  const stored = readInitializers(join(dir, 'onnx', 'model.onnx'));
  const q8 = stored.get('table_int8');
  const rowScale = stored.get('row_scale');
  if (!q8 || !rowScale) throw new Error('glove-rerank/onnx/model.onnx lacks table_int8 or row_scale');
  const [rows, dim] = q8.dims as [number, number];
  const table = makeTable(q8.data.map((v, i) => v * (rowScale.data[Math.floor(i / dim)] ?? 0)), rows, dim);
  const { cosine, query_weight: weight, logit_scale: logitScale, logit_center: logitCenter } = config.warmpool;
  const weights = queryWeights(table, weight);
  const referenceLogits = (inputs: ReturnType<typeof encode>): number[] => {
    const ids = rows2d(inputs.input_ids);
    const mask = rows2d(inputs.attention_mask);
    const types = rows2d(inputs.token_type_ids);
    return ids.map((row, i) => {
      const pick = (type: number) => row.filter((_, j) => mask[i]?.[j] === 1 && types[i]?.[j] === type);
      return logitScale * (score(table, weights, { name: 'ref', cosine, weight }, pick(0), pick(1)) - logitCenter);
    });
  };

  const queries = OBVIOUS_PAIRS.flatMap(([q]) => [q, q]);
  const docs = OBVIOUS_PAIRS.flatMap(([, rel, irr]) => [rel, irr]);
  const inputs = encode(queries, docs);
  check('token_type_ids' in inputs, 'tokenizer returns token_type_ids for text pairs');
  const types = rows2d(inputs.token_type_ids);
  const ids0 = rows2d(inputs.input_ids)[0] ?? [];
  const sepAt = ids0.indexOf(3);
  check(
    types[0]?.slice(0, sepAt + 1).every((t) => t === 0) === true && types[0]?.[sepAt + 1] === 1,
    `pair layout: [CLS] query [SEP] (type 0) then doc (type 1)`,
  );
  const logits = await run(inputs);
  check(logits.dims.join() === `${queries.length},1`, `logits dims [${logits.dims.join(', ')}]`);
  const ref = referenceLogits(inputs);
  const diff = maxAbsDiff(logits.data, ref);
  check(diff < 1e-4, `equals reference from the stored table: max abs diff = ${diff.toExponential(2)}`);
  const singles: number[] = [];
  for (let i = 0; i < queries.length; i++) singles.push((await run(encode([queries[i] ?? ''], [docs[i] ?? '']))).data[0] ?? NaN);
  const padDiff = maxAbsDiff(singles, logits.data);
  check(padDiff < 1e-5, `padding ignored: batched vs alone max abs diff = ${padDiff.toExponential(2)}`);
  OBVIOUS_PAIRS.forEach(([q], i) => {
    const rel = logits.data[2 * i] ?? NaN;
    const irr = logits.data[2 * i + 1] ?? NaN;
    check(rel > irr, `"${q}": relevant ${sigmoid(rel).toFixed(2)} > irrelevant ${sigmoid(irr).toFixed(2)} (sigmoid)`);
  });
  const rel = OBVIOUS_PAIRS.map((_, i) => sigmoid(logits.data[2 * i] ?? NaN));
  const irr = OBVIOUS_PAIRS.map((_, i) => sigmoid(logits.data[2 * i + 1] ?? NaN));
  check(Math.min(...rel) > 0.5 && Math.max(...irr) < 0.5, `sigmoid: relevant all > 0.5 (min ${Math.min(...rel).toFixed(2)}), irrelevant all < 0.5 (max ${Math.max(...irr).toFixed(2)})`);

  // Truncation: the tokenizer caps the pair at model_max_length, or a smaller max_length.
  check(tokConfig.model_max_length === 512, `tokenizer_config model_max_length = ${tokConfig.model_max_length}`);
  const longDoc = Array.from({ length: 120 }, () => 'The oven bakes bread from flour and yeast dough.').join(' ');
  const long = encode(['how to bake bread', 'how to bake bread'], [longDoc, 'short doc']);
  check(long.input_ids.dims[1] === 512, `long pair truncated to ${long.input_ids.dims[1]} tokens (model_max_length)`);
  const short = encode(['how to bake bread', 'how to bake bread'], [longDoc, 'short doc'], { max_length: 64 });
  const shortTypes = rows2d(short.token_type_ids)[0] ?? [];
  check(
    short.input_ids.dims[1] === 64 && shortTypes.includes(1),
    `max_length 64: ${short.input_ids.dims[1]} tokens, doc segment kept (${shortTypes.filter((t) => t === 1).length} doc tokens, its tail and last [SEP] cut)`,
  );
  for (const [label, enc] of [['512', long], ['64', short]] as const) {
    const out = await run(enc);
    const d = maxAbsDiff(out.data, referenceLogits(enc));
    check(Number.isFinite(out.data[0]) && d < 1e-4, `truncated pairs (${label}) run and equal the reference: diff ${d.toExponential(2)}, long pair ${sigmoid(out.data[0] ?? NaN).toFixed(2)}`);
  }
  for (let i = 0; i < 3; i++) await run(inputs);
  const batchMs = await time(() => run(inputs), 20);
  const longMs = await time(() => run(long), 10);
  console.log(`timing (1 intra-op thread): batch of ${queries.length} short pairs ${batchMs.toFixed(2)} ms, 2 pairs of 512 tokens ${longMs.toFixed(1)} ms (medians)`);
}

async function checkMinilmCrossShape(): Promise<void> {
  const dir = join(MODELS_DIR, 'minilm-cross-shape');
  if (!existsSync(join(dir, 'onnx', 'model.onnx'))) {
    console.log('\nminilm-cross-shape: not built, skipped (npx tsx models/build-minilm-cross-shape.ts)');
    return;
  }
  const labels = (JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { num_labels: number }).num_labels;
  const { encode, run } = await loadCrossEncoder('minilm-cross-shape');
  const triples = JSON.parse(readFileSync(join(MODELS_DIR, 'glove-100d', 'triples.json'), 'utf8')) as Triple[];
  const queries = triples.map((t) => t.anchor).slice(0, 16).flatMap((q) => [q, q]);
  const docs = triples.flatMap((t) => [t.positive, t.negative]).slice(0, 32);
  const inputs = encode(queries, docs);
  check('token_type_ids' in inputs, 'tokenizer returns token_type_ids for text pairs');
  const logits = await run(inputs);
  check(logits.dims.join() === `32,${labels}`, `logits dims [${logits.dims.join(', ')}] (num_labels ${labels})`);
  check(Array.from(logits.data).every(Number.isFinite), 'no NaN/Infinity');
  const alone = await run(encode([queries[0] ?? ''], [docs[0] ?? '']));
  const diff = maxAbsDiff(alone.data, logits.data.subarray(0, labels));
  check(diff < 1e-4, `attention mask respected: padded vs alone max abs diff = ${diff.toExponential(2)}`);
  const one = encode([queries[0] ?? ''], [docs[0] ?? '']);
  for (let i = 0; i < 5; i++) await run(one);
  const singleMs = await time(() => run(one), 50);
  await run(inputs);
  const batchMs = await time(() => run(inputs), 10);
  console.log(`timing (1 intra-op thread): one pair ${singleMs.toFixed(2)} ms (median of 50)`);
  console.log(`timing (1 intra-op thread): batch of 32 pairs ${batchMs.toFixed(1)} ms = ${((32 / batchMs) * 1000).toFixed(0)} pairs/s (median of 10)`);
}

await checkGlove();
await checkMinilmShape();
await checkGloveRerank();
await checkMinilmCrossShape();
console.log(failures === 0 ? '\nall checks passed' : `\n${failures} check(s) FAILED`);
process.exitCode = failures === 0 ? 0 : 1;
