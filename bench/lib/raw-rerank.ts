/**
 * Baselines for `pool.rerank()` without a pool, on the calling thread: a cross-encoder run
 * straight through onnxruntime-node (transformers.js' tokenizer, then `session.run` per batch,
 * then a sigmoid and a sort), and the plain transformers.js `AutoModelForSequenceClassification`
 * a user would otherwise write. Each records where its time goes (tokenising vs the model).
 */
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { MODELS_DIR } from './paths.js';

interface Tensor {
  data: ArrayLike<bigint | number> & { length: number };
  dims: number[];
}
type Encoded = Record<string, Tensor>;
type Tokenizer = (texts: string[], opts: Record<string, unknown>) => Encoded;
type SeqModel = ((inputs: Encoded) => Promise<{ logits: Tensor }>) & { dispose(): Promise<unknown> };

export interface Reranker {
  /** Scores of every document, best first, as `[index, score]`. */
  rerank(query: string, docs: readonly string[]): Promise<[number, number][]>;
  /** Milliseconds spent tokenising and in the model since the last reset. */
  time: { tokenize: number; model: number };
  release(): Promise<void>;
}

export interface Batching {
  /** Pairs per model run (the pool's `batchSize`); Infinity: all in one run. */
  batchSize: number;
  /** Sort the pairs by length first (by characters, as the pool's workers estimate tokens). */
  sorted: boolean;
}

/** The batches of `n` pairs: index lists, in length order when sorted. */
export function batchesOf(query: string, docs: readonly string[], { batchSize, sorted }: Batching): number[][] {
  const order = docs.map((_, i) => i);
  if (sorted) order.sort((a, b) => query.length + docs[a]!.length - (query.length + docs[b]!.length));
  const out: number[][] = [];
  const size = Math.min(batchSize, Math.max(1, docs.length));
  for (let s = 0; s < order.length; s += size) out.push(order.slice(s, s + size));
  return out;
}

function ranked(scores: Float64Array): [number, number][] {
  const out: [number, number][] = Array.from(scores, (s, i) => [i, s]);
  out.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  return out;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

async function tokenizerOf(model: string): Promise<Tokenizer> {
  const { AutoTokenizer, env } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.localModelPath = MODELS_DIR;
  return (await AutoTokenizer.from_pretrained(model)) as unknown as Tokenizer;
}

/**
 * A reranker's `rerank`: tokenises each batch of (query, document) pairs, runs `model` on it and
 * takes the sigmoid of each logit, timing the two apart in `time`.
 */
function timedRerank(tokenizer: Tokenizer, batching: Batching, time: Reranker['time'], model: (enc: Encoded) => Promise<Float32Array>): Reranker['rerank'] {
  return async (query, docs) => {
    const scores = new Float64Array(docs.length);
    for (const batch of batchesOf(query, docs, batching)) {
      const t0 = performance.now();
      const enc = tokenizer(batch.map(() => query), { text_pair: batch.map((i) => docs[i]!), padding: true, truncation: true, max_length: 512 });
      const t1 = performance.now();
      const logits = await model(enc);
      time.tokenize += t1 - t0;
      time.model += performance.now() - t1;
      batch.forEach((d, r) => (scores[d] = sigmoid(logits[r]!)));
    }
    return ranked(scores);
  };
}

/** onnxruntime-node directly: one InferenceSession on `intraOpThreads` threads. */
export async function loadRawReranker(model: string, intraOpThreads: number, batching: Batching): Promise<Reranker> {
  const tokenizer = await tokenizerOf(model);
  const session = await ort.InferenceSession.create(`${MODELS_DIR}${model}/onnx/model.onnx`, {
    intraOpNumThreads: intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const time = { tokenize: 0, model: 0 };
  return {
    time,
    rerank: timedRerank(tokenizer, batching, time, async (enc) => {
      const feeds: Record<string, ort.Tensor> = {};
      for (const name of session.inputNames) {
        const t = enc[name] ?? (name === 'token_type_ids' ? { data: new BigInt64Array(enc.input_ids!.data.length), dims: enc.input_ids!.dims } : undefined);
        if (!t) throw new Error(`the tokenizer gave no ${name}`);
        feeds[name] = new ort.Tensor('int64', t.data as BigInt64Array, t.dims);
      }
      const out = await session.run(feeds);
      return out[session.outputNames[0]!]!.data as Float32Array;
    }),
    release: () => session.release(),
  };
}

/**
 * transformers.js' `AutoModelForSequenceClassification` on the calling thread. `intraOpThreads`
 * undefined leaves onnxruntime's default (all cores), as a user who writes the obvious code gets.
 */
export async function loadTransformersReranker(model: string, intraOpThreads: number | undefined, batching: Batching): Promise<Reranker> {
  const tokenizer = await tokenizerOf(model);
  const { AutoModelForSequenceClassification } = await import('@huggingface/transformers');
  const options: Record<string, unknown> = { dtype: 'fp32' };
  if (intraOpThreads !== undefined) options.session_options = { intraOpNumThreads: intraOpThreads, interOpNumThreads: 1 };
  const seq = (await AutoModelForSequenceClassification.from_pretrained(model, options as never)) as unknown as SeqModel;
  const time = { tokenize: 0, model: 0 };
  return {
    time,
    rerank: timedRerank(tokenizer, batching, time, async (enc) => (await seq(enc)).logits.data as Float32Array),
    release: async () => {
      await seq.dispose();
    },
  };
}
