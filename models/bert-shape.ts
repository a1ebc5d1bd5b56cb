/**
 * Shared pieces of the benchmark-shaped BERT models (minilm-shape,
 * minilm-cross-shape): all-MiniLM-L6-v2's shape, a seeded weight source, the
 * post-LN encoder graph and the tokenizer vocabulary borrowed from glove-100d.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SPECIAL_TOKENS } from './bert-tokenizer.js';
import { DataType, type GraphBuilder, float, floatTensor, int, int64Tensor, ints } from './onnx-writer.js';

export const SHAPE = {
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

export class Weights {
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

/** Initializer helpers over one builder and one seeded weight stream. */
export class Params {
  constructor(
    readonly g: GraphBuilder,
    readonly w: Weights,
  ) {}

  param(name: string, dims: number[], data: Float32Array): string {
    return this.g.initializer(floatTensor(name, dims, data));
  }
  random(name: string, dims: number[]): string {
    return this.param(name, dims, this.w.normal(dims.reduce((a, b) => a * b, 1), SHAPE.initStd));
  }
  filled(name: string, n: number, value: number): string {
    return this.param(name, [n], new Float32Array(n).fill(value));
  }
  scalar(name: string, value: number): string {
    return this.param(name, [], Float32Array.of(value));
  }
  /** x @ W + b with W random [inDim, outDim] and b = 0. */
  linear(x: string, name: string, inDim: number, outDim: number): string {
    return this.g.op('Add', [this.g.op('MatMul', [x, this.random(`${name}.weight`, [inDim, outDim])]), this.filled(`${name}.bias`, outDim, 0)]);
  }
}

/**
 * Adds BERT's embeddings and encoder layers reading graph inputs input_ids,
 * attention_mask and token_type_ids; returns the final hidden states
 * [batch, seq, hidden], named `output` if given.
 */
export function bertEncoder(p: Params, output?: string): string {
  const { g, w } = p;
  const { hidden, heads, headDim, intermediate, layerNormEps, initStd } = SHAPE;
  const layerNorm = (x: string, name: string, out?: string) =>
    g.op(
      'LayerNormalization',
      [x, p.filled(`${name}.gamma`, hidden, 1), p.filled(`${name}.beta`, hidden, 0)],
      [int('axis', -1), float('epsilon', layerNormEps)],
      out,
    );

  // Embeddings: word + token type + position (positions 0..seq-1 via Range).
  const wordEmb = w.normal(SHAPE.vocab * hidden, initStd);
  wordEmb.fill(0, 0, hidden); // HF zeroes the padding_idx row at init
  const words = g.op('Gather', [p.param('embeddings.word', [SHAPE.vocab, hidden], wordEmb), 'input_ids'], [int('axis', 0)]);
  const types = g.op('Gather', [p.random('embeddings.token_type', [SHAPE.typeVocab, hidden]), 'token_type_ids'], [int('axis', 0)]);
  const zeroI64 = g.initializer(int64Tensor('const.zero_i64', [], [0]));
  const oneI64 = g.initializer(int64Tensor('const.one_i64', [], [1]));
  const seqLen = g.op('Gather', [g.op('Shape', ['input_ids']), oneI64], [int('axis', 0)]);
  const positionIds = g.op('Range', [zeroI64, seqLen, oneI64]);
  const positions = g.op('Gather', [p.random('embeddings.position', [SHAPE.positions, hidden]), positionIds], [int('axis', 0)]);
  let x = layerNorm(g.op('Add', [g.op('Add', [words, types]), positions]), 'embeddings.norm');

  // BERT's extended mask: (1 - mask) * -10000 added to scores of padded keys, shape [batch, 1, 1, seq].
  const mask = g.op('Cast', [g.op('Unsqueeze', ['attention_mask', g.initializer(int64Tensor('const.axes_1_2', [2], [1, 2]))])], [
    int('to', DataType.FLOAT),
  ]);
  const one = p.scalar('const.one', 1);
  const maskBias = g.op('Mul', [g.op('Sub', [one, mask]), p.scalar('const.mask_value', -10000)]);

  const splitHeads = g.initializer(int64Tensor('const.split_heads', [4], [0, 0, heads, headDim]));
  const mergeHeads = g.initializer(int64Tensor('const.merge_heads', [3], [0, 0, hidden]));
  const scale = p.scalar('const.sqrt_head_dim', Math.sqrt(headDim));
  const sqrt2 = p.scalar('const.sqrt2', Math.SQRT2);
  const half = p.scalar('const.half', 0.5);

  for (let l = 0; l < SHAPE.layers; l++) {
    const n = `layer${l}`;
    const heads4d = (t: string, perm: number[]) => g.op('Transpose', [g.op('Reshape', [t, splitHeads])], [ints('perm', perm)]);
    const q = heads4d(p.linear(x, `${n}.attn.query`, hidden, hidden), [0, 2, 1, 3]); // [b, h, s, d]
    const k = heads4d(p.linear(x, `${n}.attn.key`, hidden, hidden), [0, 2, 3, 1]); // [b, h, d, s]
    const v = heads4d(p.linear(x, `${n}.attn.value`, hidden, hidden), [0, 2, 1, 3]);
    const scores = g.op('Add', [g.op('Div', [g.op('MatMul', [q, k]), scale]), maskBias]);
    const probs = g.op('Softmax', [scores], [int('axis', -1)]);
    const context = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [probs, v])], [ints('perm', [0, 2, 1, 3])]), mergeHeads]);
    const attnOut = p.linear(context, `${n}.attn.output`, hidden, hidden);
    x = layerNorm(g.op('Add', [attnOut, x]), `${n}.attn.norm`);

    // GELU, erf form, in the op pattern ORT's GeluFusion recognises: x * 0.5 * (1 + erf(x / sqrt 2)).
    const h = p.linear(x, `${n}.ffn.intermediate`, hidden, intermediate);
    const erf = g.op('Erf', [g.op('Div', [h, sqrt2])]);
    const gelu = g.op('Mul', [g.op('Mul', [h, g.op('Add', [erf, one])]), half]);
    const ffnOut = p.linear(gelu, `${n}.ffn.output`, intermediate, hidden);
    const last = l === SHAPE.layers - 1 ? output : undefined;
    x = layerNorm(g.op('Add', [ffnOut, x]), `${n}.ffn.norm`, last);
  }
  return x;
}

/** The three int64 [batch_size, sequence_length] inputs every BERT graph here takes. */
export function bertInputs() {
  const tokens = ['batch_size', 'sequence_length'];
  const input = (name: string) => ({ name, elemType: DataType.INT64, shape: tokens });
  return [input('input_ids'), input('attention_mask'), input('token_type_ids')];
}

/** The glove-100d vocabulary (already [PAD] [UNK] [CLS] [SEP] [MASK] first), cut or padded to 30,522. */
export function shapeVocabulary(gloveDir: string): string[] {
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

/** config.json fields shared by the shape models. */
export function shapeConfig() {
  return {
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
  };
}
