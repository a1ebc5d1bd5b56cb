/**
 * Builds models/glove-rerank: a small offline cross-encoder-shaped reranker
 * (BertForSequenceClassification, one logit) from the glove-100d table.
 *
 *   npx tsx models/build-glove-rerank.ts [--cosine 0.25] [--weight norm2]
 *     [--logit-scale S] [--logit-center C] [--glove-dir dir] [--out dir]
 *
 * The graph takes one pair sequence [CLS] query [SEP] doc [SEP] (token_type_ids
 * 0 for the query, 1 for the doc), looks up the SIF-weighted GloVe rows of
 * glove-100d (stored int8 per row with a float16 scale) and scores the pair:
 *
 *   score = cosine * cos(sum of query rows, sum of doc rows)
 *         + (1 - cosine) * MaxSim
 *   MaxSim = weighted mean over query tokens of the best cosine to any doc token
 *   logit  = logit_scale * (score - logit_center)
 *
 * Tokens whose row is zero ([CLS] [SEP] [PAD] [UNK] [MASK]) and padding take
 * no part. The defaults are what models/eval-rerank.ts measured best; the
 * logit constants are its logistic fit (see models/README.md).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { prebuildTokenizer } from '../workers/prebuilt-tokenizer.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type QueryWeight, quantizeRows } from './glove-rerank-score.js';
import { readInitializers } from './onnx-reader.js';
import { DataType, GraphBuilder, float16BitsTensor, floatTensor, int, int64Tensor, int8Tensor, ints, writeModel } from './onnx-writer.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** MaxSim query-token weights the graph can compute from the row itself: 1 or (row norm)^1..3. */
const GRAPH_WEIGHTS = { uniform: 0, norm: 1, norm2: 2, norm3: 3 } as const;

const { values: args } = parseArgs({
  options: {
    cosine: { type: 'string', default: '0.25' },
    weight: { type: 'string', default: 'norm2' },
    'logit-scale': { type: 'string', default: '9.1' },
    'logit-center': { type: 'string', default: '0.47' },
    'glove-dir': { type: 'string', default: join(HERE, 'glove-100d') },
    out: { type: 'string', default: join(HERE, 'glove-rerank') },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]);
  process.exit(0);
}

const cosine = Number(args.cosine);
const weight = args.weight as QueryWeight;
const logitScale = Number(args['logit-scale']);
const logitCenter = Number(args['logit-center']);
if (!(cosine >= 0 && cosine <= 1)) throw new Error('--cosine must be in [0, 1]');
if (!Object.hasOwn(GRAPH_WEIGHTS, weight)) throw new Error(`--weight must be one of ${Object.keys(GRAPH_WEIGHTS).join(', ')}`);
const weightPower = GRAPH_WEIGHTS[weight as keyof typeof GRAPH_WEIGHTS];
if (!(logitScale > 0) || !Number.isFinite(logitCenter)) throw new Error('--logit-scale must be > 0 and --logit-center finite');

function buildGraph(q: Int8Array, scaleBits: Uint16Array, rows: number, dim: number) {
  const g = new GraphBuilder();
  const f = (name: string, value: number) => g.initializer(floatTensor(name, [], Float32Array.of(value)));
  const axes = (name: string, values: number[]) => g.initializer(int64Tensor(name, [values.length], values));
  const toFloat = (x: string) => g.op('Cast', [x], [int('to', DataType.FLOAT)]);
  const table = g.initializer(int8Tensor('table_int8', [rows, dim], q));
  const scales = g.initializer(float16BitsTensor('row_scale', [rows], scaleBits));
  const axis2 = axes('const.axis_2', [2]);
  const axis1 = axes('const.axis_1', [1]);
  const axes12 = axes('const.axes_1_2', [1, 2]);
  const one = f('const.one', 1);
  const eps = f('const.eps', 1e-9);

  // Rows: int8 -> float, times the row's scale. [b, s, dim]
  const scale = g.op('Unsqueeze', [toFloat(g.op('Gather', [scales, 'input_ids'], [int('axis', 0)])), axis2]);
  const rowsF = g.op('Mul', [toFloat(g.op('Gather', [table, 'input_ids'], [int('axis', 0)])), scale]);
  const norm = g.op('ReduceL2', [rowsF], [ints('axes', [2]), int('keepdims', 1)]); // [b, s, 1]
  const unit = g.op('Div', [rowsF, g.op('Add', [norm, f('const.tiny', 1e-12)])]);
  const valid = toFloat(g.op('Greater', [norm, f('const.zero', 0)])); // zero rows: specials and [UNK]

  // Segment masks [b, s, 1]: query = attended & type 0, doc = attended & type 1, both only over valid rows.
  const attended = toFloat('attention_mask');
  const docType = toFloat('token_type_ids');
  const queryMask = g.op('Mul', [g.op('Unsqueeze', [g.op('Mul', [attended, g.op('Sub', [one, docType])]), axis2]), valid]);
  const docMask = g.op('Mul', [g.op('Unsqueeze', [g.op('Mul', [attended, docType]), axis2]), valid]);

  const parts: string[] = [];
  if (cosine > 0) {
    // Cosine of the summed rows of each segment (the glove-100d mean-pooled cosine).
    const qv = g.op('ReduceSum', [g.op('Mul', [rowsF, queryMask]), axis1], [int('keepdims', 0)]); // [b, dim]
    const dv = g.op('ReduceSum', [g.op('Mul', [rowsF, docMask]), axis1], [int('keepdims', 0)]);
    const dotQD = g.op('ReduceSum', [g.op('Mul', [qv, dv]), axis1], [int('keepdims', 0)]); // [b]
    const lengths = g.op('Mul', [
      g.op('ReduceL2', [qv], [ints('axes', [1]), int('keepdims', 0)]),
      g.op('ReduceL2', [dv], [ints('axes', [1]), int('keepdims', 0)]),
    ]);
    parts.push(g.op('Mul', [g.op('Div', [dotQD, g.op('Add', [lengths, eps])]), f('const.cosine_weight', cosine)]));
  }
  if (cosine < 1) {
    // MaxSim: token cosines [b, s, s]; keys outside the doc segment become -1, so an empty doc scores -1.
    const sims = g.op('MatMul', [unit, g.op('Transpose', [unit], [ints('perm', [0, 2, 1])])]);
    const docKeys = g.op('Transpose', [docMask], [ints('perm', [0, 2, 1])]); // [b, 1, s]
    const masked = g.op('Sub', [g.op('Mul', [g.op('Add', [sims, one]), docKeys]), one]);
    const best = g.op('ReduceMax', [masked], [ints('axes', [2]), int('keepdims', 1)]); // [b, s, 1]
    let tokenWeight = queryMask;
    if (weightPower > 0) {
      const scaled = weightPower === 1 ? norm : g.op('Pow', [norm, f('const.weight_power', weightPower)]);
      tokenWeight = g.op('Mul', [queryMask, scaled]);
    }
    const num = g.op('ReduceSum', [g.op('Mul', [best, tokenWeight]), axes12], [int('keepdims', 0)]); // [b]
    const den = g.op('Add', [g.op('ReduceSum', [tokenWeight, axes12], [int('keepdims', 0)]), eps]);
    parts.push(g.op('Mul', [g.op('Div', [num, den]), f('const.maxsim_weight', 1 - cosine)]));
  }
  const score = parts.length === 2 ? g.op('Add', parts as [string, string]) : (parts[0] ?? '');
  const logit = g.op('Mul', [g.op('Sub', [score, f('const.logit_center', logitCenter)]), f('const.logit_scale', logitScale)]);
  g.op('Unsqueeze', [logit, axis1], [], 'logits');

  const tokens = ['batch_size', 'sequence_length'];
  const input = (name: string) => ({ name, elemType: DataType.INT64, shape: tokens });
  return g.build('glove_rerank', [input('input_ids'), input('attention_mask'), input('token_type_ids')], [
    { name: 'logits', elemType: DataType.FLOAT, shape: ['batch_size', 1] },
  ]);
}

function main(): void {
  const gloveDir = args['glove-dir'];
  const onnxPath = join(gloveDir, 'onnx', 'model.onnx');
  if (!existsSync(onnxPath)) throw new Error(`${onnxPath} not found: run npx tsx models/build-glove.ts first`);
  const table = readInitializers(onnxPath).get('embeddings');
  if (!table) throw new Error(`no embeddings table in ${onnxPath}`);
  const [rows, dim] = table.dims as [number, number];
  const { q, scaleBits } = quantizeRows(table.data, rows, dim);

  const out = args.out;
  mkdirSync(join(out, 'onnx'), { recursive: true });
  const onnxBytes = writeModel(join(out, 'onnx', 'model.onnx'), buildGraph(q, scaleBits, rows, dim));
  // Same vocabulary and tokenizer as glove-100d (model_max_length 512; its pair template sets token_type_ids).
  for (const file of ['tokenizer.json', 'tokenizer_config.json', 'LICENSE']) copyFileSync(join(gloveDir, file), join(out, file));
  // The vocabulary prebuilt for fast worker start-up (see workers/prebuilt-tokenizer.ts).
  prebuildTokenizer(out);

  const gloveConfig = JSON.parse(readFileSync(join(gloveDir, 'config.json'), 'utf8')) as { warmpool: Record<string, unknown> };
  const config = {
    model_type: 'bert',
    architectures: ['BertForSequenceClassification'],
    note:
      'GloVe word-vector reranker, NOT a transformer: onnx/model.onnx scores a [CLS] query [SEP] doc [SEP] pair from ' +
      "glove-100d's word vectors (segment cosine + MaxSim). Built by warmpool's models/build-glove-rerank.ts.",
    hidden_size: dim,
    max_position_embeddings: 512,
    type_vocab_size: 2,
    vocab_size: rows,
    pad_token_id: 0,
    num_labels: 1,
    id2label: { '0': 'LABEL_0' },
    label2id: { LABEL_0: 0 },
    // transformers.js's text-classification pipeline applies sigmoid only for this
    // problem_type, else softmax, which over one logit is always 1. (That pipeline
    // takes no text pairs, so rerank through AutoModelForSequenceClassification.)
    problem_type: 'multi_label_classification',
    warmpool: {
      source: 'glove-100d',
      glove: gloveConfig.warmpool,
      table: 'int8 per row, float16 row scale',
      cosine,
      query_weight: weight,
      logit_scale: logitScale,
      logit_center: logitCenter,
    },
  };
  writeFileSync(join(out, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  const notice = readFileSync(join(gloveDir, 'NOTICE.md'), 'utf8').replace('(`glove-100d`)', '(`glove-rerank`)');
  writeFileSync(
    join(out, 'NOTICE.md'),
    `${notice.trimEnd()}\n\n## Further modifications for glove-rerank (models/build-glove-rerank.ts)\n\n` +
      '- Took the table above (the glove-100d folder) and stored each row as int8 with a float16 scale per row.\n' +
      '- Wrapped it in an ONNX scoring graph (segment cosine + MaxSim) with one output logit per query/document pair.\n',
  );
  writeFileSync(join(out, 'README.md'), readme(onnxBytes));
  const total = ['onnx/model.onnx', 'tokenizer.json', 'tokenizer_config.json', 'config.json', 'README.md', 'NOTICE.md', 'LICENSE']
    .map((file) => statSync(join(out, file)).size)
    .reduce((a, b) => a + b, 0);
  console.log(`wrote ${out}: ${rows} x ${dim} int8 table, cosine ${cosine}, MaxSim weight ${weight}, model.onnx ${(onnxBytes / 1e6).toFixed(2)} MB, folder ${(total / 1e6).toFixed(2)} MB`);
}

function readme(onnxBytes: number): string {
  return `# glove-rerank: an offline GloVe reranker

A small cross-encoder-shaped reranker for \`@huggingface/transformers\`
(\`AutoModelForSequenceClassification\`, one logit per query/document pair), built
from the \`glove-100d\` word vectors. It is **not a transformer** and has no trained
weights of its own: \`onnx/model.onnx\` (${(onnxBytes / 1e6).toFixed(1)} MB) looks up one GloVe vector
per token (int8 per row, float16 scale) and scores the pair \`[CLS] query [SEP] doc [SEP]\`:

    score = ${cosine} * cos(sum of query vectors, sum of doc vectors)
          + ${1 - cosine} * MaxSim
    MaxSim = mean over query words of the best cosine to any doc word,
             weighted by ${weightPower === 0 ? 'nothing (uniform)' : `the word's SIF-weighted vector length${weightPower > 1 ? ` to the power ${weightPower}` : ''} (frequent words count less)`}
    logit = ${logitScale} * (score - ${logitCenter})

\`sigmoid(logit)\` is a rough relevance in (0, 1): 0.5 is where a score is as likely
to come from a relevant pair as from a random one, fitted on Python
standard-library docstrings (see ../README.md). Treat it as a ranking score, not a
calibrated probability.

\`\`\`js
import { env, AutoTokenizer, AutoModelForSequenceClassification } from '@huggingface/transformers';
env.allowRemoteModels = false;
env.localModelPath = '/abs/path/to/models/';
const tok = await AutoTokenizer.from_pretrained('glove-rerank');
const model = await AutoModelForSequenceClassification.from_pretrained('glove-rerank', { dtype: 'fp32' });
const inputs = tok(['how do I sort a list', 'how do I sort a list'],
  { text_pair: ['Return a new sorted list from the items.', 'Open a file for reading.'], padding: true, truncation: true });
const { logits } = await model(inputs); // [2, 1]
\`\`\`

Tokenizer: the glove-100d uncased BERT WordPiece tokenizer (50,000 words,
\`model_max_length\` 512). Unknown words and special tokens are ignored. Note that
transformers.js truncates a pair by cutting the joined sequence at 512 tokens,
so a long document loses its tail (and a query over 510 tokens leaves no document).

## Quality, honestly

Word overlap and word similarity, nothing more: no word order, negation or
context, and no training on relevance data. On a retrieval set of Python
standard-library docstrings it ranks the right document first clearly more often
than plain glove-100d cosine (figures in ../README.md), but a real cross-encoder
such as \`Xenova/ms-marco-MiniLM-L-6-v2\` is far better when it can be downloaded.

Sources and licenses: see NOTICE.md and LICENSE (GloVe: PDDL; wink package: MIT).
Rebuild: \`npx tsx models/build-glove-rerank.ts\` (needs models/glove-100d).
`;
}

main();
