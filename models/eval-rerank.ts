/**
 * Measures glove-rerank scoring variants against plain glove-100d cosine on a
 * retrieval set this project did not write: Python standard-library
 * docstrings (query = a function's first docstring line, document = the rest,
 * function name removed; see eval-docstrings.py).
 *
 *   npx tsx models/eval-rerank.ts [--python-lib /usr/lib/python3.11] [--limit 1000] [--holdout] [--model]
 *
 * Every query is scored against every document (full rerank, no first stage).
 * --holdout evaluates on the candidates NOT among the --limit chosen ones
 * (the variants were chosen on the default set).
 * Reports recall@1, recall@10 and MRR@10, then fits the logit scaling
 * (logistic regression of relevant vs random pairs) for the kept variant.
 * --model also runs models/glove-rerank itself through transformers.js on the
 * first 20 queries x all documents and reports its metrics and the largest
 * difference from the reference scorer.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AutoModelForSequenceClassification, AutoTokenizer, env } from '@huggingface/transformers';
import { type QueryWeight, type Table, type Variant, makeTable, quantizeRows, queryWeights } from './glove-rerank-score.js';
import { readInitializers } from './onnx-reader.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    'python-lib': { type: 'string', default: '/usr/lib/python3.11' },
    limit: { type: 'string', default: '1000' },
    model: { type: 'boolean', default: false },
    holdout: { type: 'boolean', default: false },
  },
});
env.allowRemoteModels = false;
env.localModelPath = HERE;

/** The pair limit the tokenizer applies (tokenizer_config model_max_length). */
const MAX_LENGTH = 512;

interface Item {
  id: string;
  query: string;
  doc: string;
}

const raw = execFileSync('/usr/bin/python3', [join(HERE, 'eval-docstrings.py'), args['python-lib'], args.limit, ...(args.holdout ? ['holdout'] : [])], {
  encoding: 'utf8',
  maxBuffer: 1 << 28,
});
const { candidates, items } = JSON.parse(raw) as { candidates: number; items: Item[] };
console.log(`${items.length} query/document pairs (of ${candidates} candidates${args.holdout ? ', held-out part' : ''}) from ${args['python-lib']}`);

const tokenizer = await AutoTokenizer.from_pretrained('glove-100d');
const ids = (text: string): number[] => tokenizer.encode(text, { add_special_tokens: false });
// transformers.js truncates a pair by cutting the joined sequence at max_length:
// [CLS] query [SEP] doc [SEP] loses the doc's tail (and the last [SEP]) first.
const queries = items.map((it) => ids(it.query).slice(0, MAX_LENGTH - 1));
const docsFull = items.map((it) => ids(it.doc));

const gloveTable = readInitializers(join(HERE, 'glove-100d', 'onnx', 'model.onnx')).get('embeddings');
if (!gloveTable) throw new Error('no embeddings table in glove-100d');
const [rows, dim] = gloveTable.dims as [number, number];

interface Metrics {
  r1: number;
  r10: number;
  mrr10: number;
}

/** Rank of the relevant doc (index q) in each row of an [nq, nd] score matrix. */
function metrics(scores: Float32Array, nq: number, nd: number): Metrics {
  let r1 = 0;
  let r10 = 0;
  let mrr = 0;
  for (let q = 0; q < nq; q++) {
    const target = scores[q * nd + q] ?? 0;
    let rank = 1;
    for (let d = 0; d < nd; d++) if (d !== q && (scores[q * nd + d] ?? 0) >= target) rank++; // ties count against
    if (rank === 1) r1++;
    if (rank <= 10) {
      r10++;
      mrr += 1 / rank;
    }
  }
  return { r1: r1 / nq, r10: r10 / nq, mrr10: mrr / nq };
}

/** Doc ids as the pair tokenizer leaves them for query q (tail truncation). */
const docFor = (q: number, d: number): number[] => (docsFull[d] ?? []).slice(0, Math.max(0, MAX_LENGTH - 2 - (queries[q]?.length ?? 0)));

/** Segment cosine for all pairs, fast path (sums computed once per text). */
function cosineMatrix(table: Table): Float32Array {
  const n = items.length;
  const sumRows = (list: number[]) => {
    const v = new Float64Array(dim);
    for (const id of list) for (let k = 0; k < dim; k++) v[k] = (v[k] ?? 0) + (table.data[id * dim + k] ?? 0);
    const norm = Math.hypot(...v) + 1e-9;
    return v.map((x) => x / norm);
  };
  const qv = queries.map(sumRows);
  const out = new Float32Array(n * n);
  // Truncation only bites for documents longer than 512 - 2 - |query| tokens; cache per doc otherwise.
  const docSums = items.map((_, d) => sumRows(docsFull[d] ?? []));
  for (let q = 0; q < n; q++) {
    const a = qv[q] ?? new Float64Array(dim);
    for (let d = 0; d < n; d++) {
      const full = (docsFull[d]?.length ?? 0) + (queries[q]?.length ?? 0) + 2 <= MAX_LENGTH;
      const b = full ? (docSums[d] ?? a) : sumRows(docFor(q, d));
      let s = 0;
      for (let k = 0; k < dim; k++) s += (a[k] ?? 0) * (b[k] ?? 0);
      out[q * n + d] = s;
    }
  }
  return out;
}

/** MaxSim for all pairs: each query token's cosines to every corpus word once, then maxima per doc. */
function maxSimMatrix(table: Table, weights: Float32Array): Float32Array {
  const n = items.length;
  const vocabIndex = new Map<number, number>();
  for (const doc of docsFull) for (const id of doc) if ((table.norms[id] ?? 0) > 0 && !vocabIndex.has(id)) vocabIndex.set(id, vocabIndex.size);
  const corpusIds = [...vocabIndex.keys()];
  const u = corpusIds.length;
  const docIdx = docsFull.map((doc) => doc.map((id) => vocabIndex.get(id) ?? -1));
  const out = new Float32Array(n * n);
  const sims = new Float32Array(u);
  const best = new Float32Array(n);
  for (let q = 0; q < n; q++) {
    const acc = new Float64Array(n);
    let den = 0;
    for (const t of queries[q] ?? []) {
      const w = weights[t] ?? 0;
      if (w === 0) continue;
      den += w;
      for (let j = 0; j < u; j++) {
        const c = corpusIds[j] ?? 0;
        let s = 0;
        for (let k = 0; k < dim; k++) s += (table.unit[t * dim + k] ?? 0) * (table.unit[c * dim + k] ?? 0);
        sims[j] = s;
      }
      best.fill(-1);
      for (let d = 0; d < n; d++) {
        const list = docIdx[d] ?? [];
        const len = Math.min(list.length, Math.max(0, MAX_LENGTH - 2 - (queries[q]?.length ?? 0)));
        let m = -1;
        for (let i = 0; i < len; i++) {
          const j = list[i] ?? -1;
          if (j >= 0) m = Math.max(m, sims[j] ?? -1);
        }
        best[d] = m;
      }
      for (let d = 0; d < n; d++) acc[d] = (acc[d] ?? 0) + w * (best[d] ?? 0);
    }
    for (let d = 0; d < n; d++) out[q * n + d] = (acc[d] ?? 0) / (den + 1e-9);
  }
  return out;
}

const mix = (a: Float32Array, b: Float32Array, alpha: number) => a.map((x, i) => alpha * x + (1 - alpha) * (b[i] ?? 0));
const fmt = (m: Metrics) => `${(m.r1 * 100).toFixed(1).padStart(5)} | ${(m.r10 * 100).toFixed(1).padStart(5)} | ${m.mrr10.toFixed(3)}`;
const n = items.length;
const results: { name: string; m: Metrics }[] = [];
const report = (name: string, scores: Float32Array) => {
  const m = metrics(scores, n, n);
  results.push({ name, m });
  console.log(`| ${name.padEnd(46)} | ${fmt(m)} |`);
  return m;
};

console.log(`\n| variant (${n} queries x ${n} docs) | R@1 % | R@10 % | MRR@10 |\n|---|---|---|---|`);
const fp16 = makeTable(gloveTable.data, rows, dim);
let t0 = performance.now();
const cos = cosineMatrix(fp16);
report('(a) glove-100d cosine (= segment cosine)', cos);
const cosMs = performance.now() - t0;
const maxsims: Record<string, Float32Array> = {};
t0 = performance.now();
for (const w of ['uniform', 'norm', 'norm2', 'norm3', 'sif', 'idf'] as const) {
  maxsims[w] = maxSimMatrix(fp16, queryWeights(fp16, w));
  report(`(b) MaxSim, query tokens weighted ${w}`, maxsims[w]);
}
const msMs = (performance.now() - t0) / 4;
let bestMix = { name: '', alpha: 0, weight: 'uniform' as keyof typeof maxsims, r: -1 };
for (const w of Object.keys(maxsims)) {
  for (const alpha of [0.1, 0.25, 0.5]) {
    const name = `(c) ${alpha} cosine + ${1 - alpha} MaxSim(${w})`;
    const m = report(name, mix(cos, maxsims[w] ?? cos, alpha));
    if (m.mrr10 > bestMix.r) bestMix = { name, alpha, weight: w as keyof typeof maxsims, r: m.mrr10 };
  }
}
console.log(`\n(timing: cosine matrix ${cosMs.toFixed(0)} ms, one MaxSim matrix ${msMs.toFixed(0)} ms)`);

// The kept variant's numbers again from an int8 per-row table (what glove-rerank ships).
// The kept variant is what models/glove-rerank/config.json says it was built with, else the best mix here.
const builtConfig = join(HERE, 'glove-rerank', 'config.json');
const built = existsSync(builtConfig)
  ? (JSON.parse(readFileSync(builtConfig, 'utf8')) as { warmpool: { cosine: number; query_weight: QueryWeight } }).warmpool
  : { cosine: bestMix.alpha, query_weight: bestMix.weight as QueryWeight };
const kept: Variant = { name: 'kept', cosine: built.cosine, weight: built.query_weight };
const int8 = makeTable(quantizeRows(gloveTable.data, rows, dim).dequantized, rows, dim);
const keptScores = (table: Table) => {
  const c = kept.cosine > 0 ? cosineMatrix(table) : new Float32Array(n * n);
  const m = kept.cosine < 1 ? maxSimMatrix(table, queryWeights(table, kept.weight)) : new Float32Array(n * n);
  return mix(c, m, kept.cosine);
};
const keptFp16 = maxsims[kept.weight] ? mix(cos, maxsims[kept.weight] ?? cos, kept.cosine) : keptScores(fp16);
const keptInt8 = keptScores(int8);
console.log(`\nbest by MRR@10: ${bestMix.name}`);
report(`kept: ${kept.cosine} cosine + ${1 - kept.cosine} MaxSim(${kept.weight}), fp16 table`, keptFp16);
report(`kept: same, int8 per-row table (shipped)`, keptInt8);

// Logit scaling: logistic regression of relevant pairs (label 1) against an
// equal number of random non-relevant pairs (label 0), so sigmoid(logit) = 0.5
// where a score is as likely to come from a relevant pair as from a random one.
{
  const xs: number[] = [];
  const ys: number[] = [];
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  for (let q = 0; q < n; q++) {
    xs.push(keptInt8[q * n + q] ?? 0);
    ys.push(1);
    for (let k = 0; k < 4; k++) {
      let d = Math.floor(rand() * n);
      if (d === q) d = (d + 1) % n;
      xs.push(keptInt8[q * n + d] ?? 0);
      ys.push(0);
    }
  }
  // Weighted Newton iterations on (w, b): positives weight 4 to balance 1:4.
  let w = 1;
  let b = 0;
  for (let it = 0; it < 50; it++) {
    let gw = 0, gb = 0, hww = 0, hwb = 0, hbb = 0;
    xs.forEach((x, i) => {
      const y = ys[i] ?? 0;
      const c = y === 1 ? 4 : 1;
      const p = 1 / (1 + Math.exp(-(w * x + b)));
      gw += c * (p - y) * x;
      gb += c * (p - y);
      const h = c * p * (1 - p);
      hww += h * x * x;
      hwb += h * x;
      hbb += h;
    });
    const det = hww * hbb - hwb * hwb;
    w -= (hbb * gw - hwb * gb) / det;
    b -= (hww * gb - hwb * gw) / det;
  }
  const center = -b / w;
  console.log(`\nlogit scaling for the kept variant: logit = ${w.toFixed(2)} * (score - ${center.toFixed(3)})`);
  const sig = (x: number) => 1 / (1 + Math.exp(-(w * x + b)));
  const quant = (arr: number[], p: number) => [...arr].sort((a, c) => a - c)[Math.floor(p * (arr.length - 1))] ?? NaN;
  const pos = xs.filter((_, i) => ys[i] === 1).map(sig);
  const neg = xs.filter((_, i) => ys[i] === 0).map(sig);
  console.log(`sigmoid(logit): relevant pairs median ${quant(pos, 0.5).toFixed(2)} (10th pct ${quant(pos, 0.1).toFixed(2)}), random pairs median ${quant(neg, 0.5).toFixed(2)} (90th pct ${quant(neg, 0.9).toFixed(2)})`);
}

if (args.model) {
  // The shipped model through transformers.js, first 20 queries x all docs.
  const tok = await AutoTokenizer.from_pretrained('glove-rerank');
  const model = await AutoModelForSequenceClassification.from_pretrained('glove-rerank', { dtype: 'fp32' });
  const config = model.config as unknown as { warmpool: { logit_scale: number; logit_center: number } };
  const nq = 20;
  const got = new Float32Array(nq * n);
  let worst = 0;
  for (let q = 0; q < nq; q++) {
    for (let start = 0; start < n; start += 64) {
      const docs = items.slice(start, start + 64).map((it) => it.doc);
      const inputs = tok(docs.map(() => items[q]?.query ?? ''), { text_pair: docs, padding: true, truncation: true });
      const { logits } = (await model(inputs)) as { logits: { data: Float32Array } };
      logits.data.forEach((v, i) => {
        got[q * n + start + i] = v;
        const ref = config.warmpool.logit_scale * ((keptInt8[q * n + start + i] ?? 0) - config.warmpool.logit_center);
        worst = Math.max(worst, Math.abs(v - ref));
      });
    }
  }
  const m = metrics(got, nq, n);
  console.log(`\nglove-rerank via transformers.js, first ${nq} queries x ${n} docs: ${fmt(m)}; reference on the same: ${fmt(metrics(keptInt8.subarray(0, nq * n), nq, n))}; max |logit - reference| = ${worst.toExponential(2)}`);
}
