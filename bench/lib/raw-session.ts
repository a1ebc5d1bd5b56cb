/**
 * The baseline without a pool: transformers.js' tokenizer, then one onnxruntime-node
 * InferenceSession run, then mean pooling and normalisation in plain JS (the same work the
 * pool's workers do per call). Used to measure what one session on one thread can do.
 */
import * as ort from 'onnxruntime-node';
import { MODELS_DIR } from './paths.js';

type Encoded = Record<string, { data: ArrayLike<bigint> & { length: number }; dims: number[] }>;
type Tokenizer = (texts: string[], opts: Record<string, unknown>) => Encoded;

export interface RawSession {
  dims: number;
  embed(texts: string[]): Promise<Float32Array>;
  release(): Promise<void>;
}

export async function loadRawSession(model: string, intraOpThreads: number): Promise<RawSession> {
  const { AutoTokenizer, env } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.localModelPath = MODELS_DIR;
  const tokenizer = (await AutoTokenizer.from_pretrained(model)) as unknown as Tokenizer;
  const session = await ort.InferenceSession.create(`${MODELS_DIR}${model}/onnx/model.onnx`, {
    intraOpNumThreads: intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const inputNames = session.inputNames;
  let dims = 0;
  return {
    get dims() {
      return dims;
    },
    async embed(texts) {
      const enc = tokenizer(texts, { padding: true, truncation: true, max_length: 512 });
      const feeds: Record<string, ort.Tensor> = {};
      for (const name of inputNames) {
        const t = enc[name] ?? (name === 'token_type_ids' ? { data: new BigInt64Array(enc.input_ids!.data.length), dims: enc.input_ids!.dims } : undefined);
        if (!t) throw new Error(`the tokenizer gave no ${name}`);
        feeds[name] = new ort.Tensor('int64', t.data as BigInt64Array, t.dims);
      }
      const out = await session.run(feeds);
      const hidden = out[session.outputNames[0]!]!;
      const [rows = 0, seq = 0, width = 0] = hidden.dims as number[];
      dims = width;
      const h = hidden.data as Float32Array;
      const mask = enc.attention_mask!.data;
      const pooled = new Float32Array(rows * width);
      for (let r = 0; r < rows; r++) {
        let n = 0;
        for (let s = 0; s < seq; s++) {
          if (mask[r * seq + s] === 0n) continue;
          n++;
          const off = (r * seq + s) * width;
          for (let k = 0; k < width; k++) pooled[r * width + k]! += h[off + k]!;
        }
        let sum = 0;
        for (let k = 0; k < width; k++) {
          pooled[r * width + k]! /= Math.max(n, 1);
          sum += pooled[r * width + k]! ** 2;
        }
        const inv = sum > 0 ? 1 / Math.sqrt(sum) : 0;
        for (let k = 0; k < width; k++) pooled[r * width + k]! *= inv;
      }
      return pooled;
    },
    release: () => session.release(),
  };
}

/** The plain transformers.js feature-extraction pipeline on the calling thread, onnxruntime's default threads. */
export async function loadMainThreadPipeline(model: string): Promise<{ embed(text: string): Promise<Float32Array>; dispose(): Promise<void> }> {
  const { env, pipeline } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.localModelPath = MODELS_DIR;
  const pipe = await pipeline('feature-extraction', model, { dtype: 'fp32' });
  return {
    async embed(text) {
      const out = await pipe(text, { pooling: 'mean', normalize: true });
      return out.data as Float32Array;
    },
    dispose: () => pipe.dispose(),
  };
}
