/**
 * The transformers.js engine a worker runs: loads the model once, then embeds batches through the
 * same path as transformers.js' feature-extraction pipeline (tokenizer, session, pooling,
 * normalisation), with token counts, truncation control and length-sorted sub-batches added.
 */
import { AbortError, InvalidInputError, ModelLoadError, describe } from '../src/errors.js';
import type { EmbedResult, EmbedTask, ModelSpec } from '../src/protocol.js';

// Only types at module scope: the library itself is imported inside load(), so a broken install
// surfaces as a ModelLoadError instead of a worker that dies while starting.
type Transformers = typeof import('@huggingface/transformers');
type FeaturePipeline = Awaited<ReturnType<Transformers['pipeline']>> & {
  tokenizer: ((texts: string[], opts: Record<string, unknown>) => { input_ids: Tensor; attention_mask: Tensor }) & {
    encode(text: string): number[];
  };
  model: ((inputs: Record<string, unknown>) => Promise<Record<string, Tensor | undefined>>) & { config?: Record<string, unknown> };
  dispose(): Promise<void>;
};
interface Tensor {
  data: ArrayLike<number | bigint> & { length: number };
  dims: number[];
}

export interface Engine {
  readonly dims: number;
  readonly maxTokens: number;
  /** Embeds the task's texts; `stopped()` is asked before each model run and ends the task early. */
  embed(task: EmbedTask, stopped: () => boolean): Promise<EmbedResult>;
  dispose(): Promise<void>;
}

export async function loadEngine(spec: ModelSpec, intraOpThreads: number): Promise<Engine> {
  let transformers: Transformers;
  try {
    transformers = await import('@huggingface/transformers');
  } catch (error) {
    throw new ModelLoadError(`could not import @huggingface/transformers: ${describe(error)}`, { cause: error });
  }
  const { env, pipeline, mean_pooling } = transformers;
  // `env` is per-thread module state: each worker sets its own.
  env.allowRemoteModels = spec.allowRemoteModels;
  env.allowLocalModels = spec.localModelPath !== null;
  if (spec.localModelPath !== null) env.localModelPath = spec.localModelPath.endsWith('/') ? spec.localModelPath : `${spec.localModelPath}/`;
  if (spec.cacheDir !== undefined) env.cacheDir = spec.cacheDir;

  let pipe: FeaturePipeline;
  try {
    pipe = (await pipeline('feature-extraction', spec.id, {
      dtype: spec.dtype,
      session_options: { intraOpNumThreads: intraOpThreads, interOpNumThreads: 1 },
    })) as unknown as FeaturePipeline;
  } catch (error) {
    throw new ModelLoadError(`could not load model ${spec.label} (dtype ${spec.dtype}): ${describe(error)}`, { cause: error });
  }
  const tokenizer = pipe.tokenizer;
  const config = (pipe.model.config ?? {}) as Record<string, unknown>;
  const modelMax = (tokenizer as unknown as { model_max_length?: number }).model_max_length;
  const positions = typeof config.max_position_embeddings === 'number' ? config.max_position_embeddings : Infinity;
  const maxTokens = Math.min(typeof modelMax === 'number' && modelMax > 0 ? modelMax : Infinity, positions, 1_000_000);
  const dims = typeof config.hidden_size === 'number' ? config.hidden_size : 0;

  /** Tokens of `text` with special tokens, counted without building tensors. */
  const countTokens = (text: string): number => tokenizer.encode(text).length;

  /**
   * A prefix of a huge text that truncates to exactly the same tokens as the whole text, so a
   * 1 MB string costs a few kB of tokenizing. Normalisation, pre-tokenisation and WordPiece all
   * work word by word, so cutting the text only changes the word at the cut; once the prefix
   * holds more tokens than the limit, that word lies past the truncation point.
   */
  const clip = (text: string): string => {
    for (let chars = maxTokens * 16; chars < text.length; chars *= 4) {
      let end = chars;
      const code = text.charCodeAt(end - 1);
      if (code >= 0xd800 && code <= 0xdbff) end--; // keep surrogate pairs whole
      const prefix = text.slice(0, end);
      if (countTokens(prefix) > maxTokens + 1) return prefix;
    }
    return text;
  };

  async function runBatch(texts: string[], task: EmbedTask, indices: number[]): Promise<{ vectors: Float32Array; dims: number; tokens: number[] }> {
    if (task.truncate) {
      texts = texts.map((text) => (text.length > maxTokens * 16 ? clip(text) : text));
    } else {
      for (let j = 0; j < texts.length; j++) {
        const n = countTokens(texts[j]!);
        if (n > maxTokens) {
          throw new InvalidInputError(`input[${indices[j]}] has ${n} tokens; the model takes at most ${maxTokens} (pass truncate: true to cut it)`);
        }
      }
    }
    const inputs = tokenizer(texts, { padding: true, truncation: true, max_length: maxTokens });
    const mask = inputs.attention_mask;
    const [rows = 0, seq = 0] = mask.dims;
    const tokens = new Array<number>(rows).fill(0);
    for (let r = 0; r < rows; r++) {
      let n = 0;
      for (let c = 0; c < seq; c++) n += Number(mask.data[r * seq + c]);
      tokens[r] = n;
    }
    const outputs = await pipe.model(inputs as unknown as Record<string, unknown>);
    const hidden = outputs.last_hidden_state ?? outputs.logits ?? outputs.token_embeddings;
    if (!hidden) throw new Error(`model ${spec.label} returned none of last_hidden_state, logits, token_embeddings`);
    const [, , width = 0] = hidden.dims;
    let pooled: Float32Array;
    if (task.pooling === 'mean') {
      // mean_pooling allocates a fresh Float32Array, so it can be used (and later transferred) as is.
      pooled = mean_pooling(hidden as never, mask as never).data as Float32Array;
    } else {
      pooled = new Float32Array(rows * width);
      for (let r = 0; r < rows; r++) {
        for (let k = 0; k < width; k++) pooled[r * width + k] = Number(hidden.data[r * seq * width + k]);
      }
    }
    if (task.normalize) normalizeRows(pooled, width);
    return { vectors: pooled, dims: width, tokens };
  }

  return {
    dims,
    maxTokens,
    async embed(task, stopped) {
      const n = task.texts.length;
      // Sort by length so each sub-batch pads to similar lengths, then scatter rows back in order.
      const order = Array.from({ length: n }, (_, i) => i);
      if (n > task.batchSize) order.sort((a, b) => task.texts[a]!.length - task.texts[b]!.length);
      let out: Float32Array | undefined;
      let width = dims;
      let totalTokens = 0;
      for (let start = 0; start < n; start += task.batchSize) {
        if (stopped()) throw new AbortError('the task was cancelled: its caller no longer waits for it');
        const idx = order.slice(start, start + task.batchSize);
        const batch = await runBatch(idx.map((i) => task.texts[i]!), task, idx);
        width = batch.dims;
        out ??= new Float32Array(n * width);
        for (let j = 0; j < idx.length; j++) {
          out.set(batch.vectors.subarray(j * width, (j + 1) * width), idx[j]! * width);
          totalTokens += batch.tokens[j]!;
        }
      }
      return { data: out ?? new Float32Array(0), dims: [n, width], tokens: totalTokens };
    },
    async dispose() {
      await pipe.dispose();
    },
  };
}

/**
 * L2-normalises each row in place. A zero row (a text none of whose tokens the model knows, for
 * a word-vector model) stays zero rather than becoming NaN.
 */
function normalizeRows(data: Float32Array, width: number): void {
  for (let off = 0; off < data.length; off += width) {
    let sum = 0;
    for (let k = 0; k < width; k++) sum += data[off + k]! * data[off + k]!;
    if (sum === 0) continue;
    const inv = 1 / Math.sqrt(sum);
    for (let k = 0; k < width; k++) data[off + k]! *= inv;
  }
}
