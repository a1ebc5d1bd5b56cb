/**
 * Builds models/minilm-shape: a BERT encoder with exactly all-MiniLM-L6-v2's
 * shape and seeded random weights. It costs the same to run as the real
 * model, so benchmarks can measure realistic transformer load offline.
 * Its outputs carry NO meaning. The ~90 MB folder is git-ignored.
 *
 *   npx tsx models/build-minilm-shape.ts [--seed 42]
 *
 * The tokenizer reuses the glove-100d vocabulary, so run build-glove.ts first.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SPECIAL_TOKENS, writeBertTokenizer } from './bert-tokenizer.js';
import { DataType, GraphBuilder, float, floatTensor, int, int64Tensor, ints, writeModel } from './onnx-writer.js';

const SHAPE = {
  layers: 6,
  hidden: 384,
  heads: 12,
  headDim: 32,
  intermediate: 1536,
  vocab: 30522,
  positions: 512,
  typeVocab: 2,
  layerNormEps: 1e-12,
  initStd: 0.02,
} as const;

const HERE = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    seed: { type: 'string', default: '42' },
    out: { type: 'string', default: join(HERE, 'minilm-shape') },
    'glove-dir': { type: 'string', default: join(HERE, 'glove-100d') },
  },
});

/** mulberry32: tiny, fast, seedable; statistical quality is ample for filler weights. */
function uniformSource(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296; // in (0, 1), safe for log()
  };
}

class Weights {
  private readonly uniform: () => number;
  constructor(seed: number) {
    this.uniform = uniformSource(seed);
  }

  /** normal(0, std) by Box-Muller, like BERT's initializer_range init. */
  normal(count: number, std: number): Float32Array {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i += 2) {
      const r = std * Math.sqrt(-2 * Math.log(this.uniform()));
      const theta = 2 * Math.PI * this.uniform();
      out[i] = r * Math.cos(theta);
      if (i + 1 < count) out[i + 1] = r * Math.sin(theta);
    }
    return out;
  }
}

function buildGraph(seed: number) {
  const { hidden, heads, headDim, intermediate, layerNormEps, initStd } = SHAPE;
  const w = new Weights(seed);
  const g = new GraphBuilder();
  const param = (name: string, dims: number[], data: Float32Array) => g.initializer(floatTensor(name, dims, data));
  const random = (name: string, dims: number[]) => param(name, dims, w.normal(dims.reduce((a, b) => a * b, 1), initStd));
  const filled = (name: string, n: number, value: number) => param(name, [n], new Float32Array(n).fill(value));
  const scalar = (name: string, value: number) => param(name, [], Float32Array.of(value));

  const linear = (x: string, name: string, inDim: number, outDim: number) =>
    g.op('Add', [g.op('MatMul', [x, random(`${name}.weight`, [inDim, outDim])]), filled(`${name}.bias`, outDim, 0)]);
  const layerNorm = (x: string, name: string, output?: string) =>
    g.op(
      'LayerNormalization',
      [x, filled(`${name}.gamma`, hidden, 1), filled(`${name}.beta`, hidden, 0)],
      [int('axis', -1), float('epsilon', layerNormEps)],
      output,
    );

  // Embeddings: word + token type + position (positions 0..seq-1 via Range).
  const wordEmb = w.normal(SHAPE.vocab * hidden, initStd);
  wordEmb.fill(0, 0, hidden); // HF zeroes the padding_idx row at init
  const words = g.op('Gather', [param('embeddings.word', [SHAPE.vocab, hidden], wordEmb), 'input_ids'], [int('axis', 0)]);
  const types = g.op('Gather', [random('embeddings.token_type', [SHAPE.typeVocab, hidden]), 'token_type_ids'], [int('axis', 0)]);
  const zeroI64 = g.initializer(int64Tensor('const.zero_i64', [], [0]));
  const oneI64 = g.initializer(int64Tensor('const.one_i64', [], [1]));
  const seqLen = g.op('Gather', [g.op('Shape', ['input_ids']), oneI64], [int('axis', 0)]);
  const positionIds = g.op('Range', [zeroI64, seqLen, oneI64]);
  const positions = g.op('Gather', [random('embeddings.position', [SHAPE.positions, hidden]), positionIds], [int('axis', 0)]);
  let x = layerNorm(g.op('Add', [g.op('Add', [words, types]), positions]), 'embeddings.norm');

  // BERT's extended mask: (1 - mask) * -10000 added to scores of padded keys, shape [batch, 1, 1, seq].
  const mask = g.op('Cast', [g.op('Unsqueeze', ['attention_mask', g.initializer(int64Tensor('const.axes_1_2', [2], [1, 2]))])], [
    int('to', DataType.FLOAT),
  ]);
  const one = scalar('const.one', 1);
  const maskBias = g.op('Mul', [g.op('Sub', [one, mask]), scalar('const.mask_value', -10000)]);

  const splitHeads = g.initializer(int64Tensor('const.split_heads', [4], [0, 0, heads, headDim]));
  const mergeHeads = g.initializer(int64Tensor('const.merge_heads', [3], [0, 0, hidden]));
  const scale = scalar('const.sqrt_head_dim', Math.sqrt(headDim));
  const sqrt2 = scalar('const.sqrt2', Math.SQRT2);
  const half = scalar('const.half', 0.5);

  for (let l = 0; l < SHAPE.layers; l++) {
    const p = `layer${l}`;
    const heads4d = (t: string, perm: number[]) => g.op('Transpose', [g.op('Reshape', [t, splitHeads])], [ints('perm', perm)]);
    const q = heads4d(linear(x, `${p}.attn.query`, hidden, hidden), [0, 2, 1, 3]); // [b, h, s, d]
    const k = heads4d(linear(x, `${p}.attn.key`, hidden, hidden), [0, 2, 3, 1]); // [b, h, d, s]
    const v = heads4d(linear(x, `${p}.attn.value`, hidden, hidden), [0, 2, 1, 3]);
    const scores = g.op('Add', [g.op('Div', [g.op('MatMul', [q, k]), scale]), maskBias]);
    const probs = g.op('Softmax', [scores], [int('axis', -1)]);
    const context = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [probs, v])], [ints('perm', [0, 2, 1, 3])]), mergeHeads]);
    const attnOut = linear(context, `${p}.attn.output`, hidden, hidden);
    x = layerNorm(g.op('Add', [attnOut, x]), `${p}.attn.norm`);

    // GELU, erf form, in the op pattern ORT's GeluFusion recognises: x * 0.5 * (1 + erf(x / sqrt 2)).
    const h = linear(x, `${p}.ffn.intermediate`, hidden, intermediate);
    const erf = g.op('Erf', [g.op('Div', [h, sqrt2])]);
    const gelu = g.op('Mul', [g.op('Mul', [h, g.op('Add', [erf, one])]), half]);
    const ffnOut = linear(gelu, `${p}.ffn.output`, intermediate, hidden);
    const last = l === SHAPE.layers - 1 ? 'last_hidden_state' : undefined;
    x = layerNorm(g.op('Add', [ffnOut, x]), `${p}.ffn.norm`, last);
  }

  const tokens = ['batch_size', 'sequence_length'];
  const input = (name: string) => ({ name, elemType: DataType.INT64, shape: tokens });
  return g.build(
    'minilm_shape',
    [input('input_ids'), input('attention_mask'), input('token_type_ids')],
    [{ name: 'last_hidden_state', elemType: DataType.FLOAT, shape: [...tokens, hidden] }],
  );
}

/** The glove-100d vocabulary (already [PAD] [UNK] [CLS] [SEP] [MASK] first), cut or padded to 30,522. */
function vocabulary(gloveDir: string): string[] {
  const path = join(gloveDir, 'tokenizer.json');
  if (!existsSync(path)) throw new Error(`${path} not found: run npx tsx models/build-glove.ts first`);
  const tokenizer = JSON.parse(readFileSync(path, 'utf8')) as { model: { vocab: Record<string, number> } };
  const vocab: string[] = [];
  for (const [token, id] of Object.entries(tokenizer.model.vocab)) vocab[id] = token;
  SPECIAL_TOKENS.forEach((t, i) => {
    if (vocab[i] !== t) throw new Error(`unexpected glove vocabulary: id ${i} is not ${t}`);
  });
  const out = vocab.slice(0, SHAPE.vocab);
  for (let i = 0; out.length < SHAPE.vocab; i++) out.push(`[unused${i}]`);
  return out;
}

function main(): void {
  const seed = Number(args.seed);
  if (!Number.isInteger(seed)) throw new Error('--seed must be an integer');
  const started = performance.now();
  const vocab = vocabulary(args['glove-dir']);
  const out = args.out;
  mkdirSync(join(out, 'onnx'), { recursive: true });
  const bytes = writeModel(join(out, 'onnx', 'model.onnx'), buildGraph(seed));
  writeBertTokenizer(out, vocab);

  const config = {
    model_type: 'bert',
    architectures: ['BertModel'],
    note:
      'BENCHMARK-SHAPED MODEL WITH RANDOM WEIGHTS, never a semantic model: same shape and compute cost as ' +
      "all-MiniLM-L6-v2, but its vectors mean nothing. Built by warmpool's models/build-minilm-shape.ts.",
    benchmark_only: true,
    hidden_size: SHAPE.hidden,
    num_hidden_layers: SHAPE.layers,
    num_attention_heads: SHAPE.heads,
    intermediate_size: SHAPE.intermediate,
    hidden_act: 'gelu',
    max_position_embeddings: SHAPE.positions,
    type_vocab_size: SHAPE.typeVocab,
    vocab_size: SHAPE.vocab,
    layer_norm_eps: SHAPE.layerNormEps,
    initializer_range: SHAPE.initStd,
    pad_token_id: 0,
    warmpool: { seed },
  };
  writeFileSync(join(out, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  writeFileSync(
    join(out, 'README.md'),
    '# minilm-shape (benchmark only)\n\nRandom weights with all-MiniLM-L6-v2\'s shape; outputs are meaningless. ' +
      'Generated by `npx tsx models/build-minilm-shape.ts`; see ../README.md.\n',
  );
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`wrote ${out}: model.onnx ${(bytes / 1e6).toFixed(1)} MB, vocab ${vocab.length}, seed ${seed}, ${seconds} s`);
}

main();
