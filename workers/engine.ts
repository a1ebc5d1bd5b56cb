/**
 * The transformers.js engine a worker runs: loads the model once, then embeds batches through the
 * same path as transformers.js' feature-extraction pipeline (tokenizer, session, pooling,
 * normalisation), with token counts, truncation control and length-sorted sub-batches added.
 */
import { AbortError, InvalidInputError, ModelLoadError, describe, errorToWire } from '../src/errors.js';
import type { WireError } from '../src/errors.js';
import { CALL_CLS, CALL_NORMALIZE, CALL_TRUNCATE, isPackedCall, type EmbedTask, type ModelSpec, type TaskAnswer, type WorkerConfig } from '../src/protocol.js';

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

/** What the worker wants to know or do around each model run. */
export interface RunHooks {
  /** Asked before each run: true ends the task (every caller has given up). */
  stopped(): boolean;
  /** Awaited before each run, outside native code. */
  beforeRun(index: number): Promise<void> | void;
  /** Called when a native model run starts and ends. */
  native(inside: boolean): void;
}

export interface Engine {
  readonly dims: number;
  readonly maxTokens: number;
  /**
   * Embeds every call of a task, sharing model runs between calls. `stopped()` is asked before
   * each model run and ends the task early when every caller has given up.
   */
  embed(task: EmbedTask, hooks: RunHooks): Promise<TaskAnswer>;
  /**
   * Runs the model before the worker takes calls: once on a short text (kernels and buffers set
   * up, so the first call is warm) and, with `peak`, on the largest batches `embed` can ever run
   * under these limits, so that onnxruntime's arena reaches its peak now instead of while serving.
   */
  warmup(plan: WorkerConfig['warmup']): Promise<void>;
  dispose(): Promise<void>;
}

/**
 * The largest shapes a model run can take when every run holds at most `batchSize` texts and
 * (past its first text) at most `maxBatchTokens` padded tokens: the one with the most attention
 * scores (rows x seq^2, the largest buffers of a transformer) and the one with the most tokens
 * (rows x seq, every other activation). One shape when both are the same.
 */
export function peakShapes(maxTokens: number, batchSize: number, maxBatchTokens: number): { rows: number; seq: number }[] {
  let attention = { rows: 1, seq: maxTokens, score: maxTokens * maxTokens };
  let tokens = { rows: 1, seq: maxTokens, score: maxTokens };
  for (let rows = 2; rows <= batchSize; rows++) {
    const seq = Math.min(maxTokens, Math.floor(maxBatchTokens / rows));
    if (seq < 1) break;
    if (rows * seq * seq > attention.score) attention = { rows, seq, score: rows * seq * seq };
    if (rows * seq > tokens.score) tokens = { rows, seq, score: rows * seq };
  }
  const shapes = [{ rows: attention.rows, seq: attention.seq }];
  if (tokens.rows !== attention.rows || tokens.seq !== attention.seq) shapes.push({ rows: tokens.rows, seq: tokens.seq });
  return shapes;
}

export async function loadEngine(spec: ModelSpec, intraOpThreads: number, memory: { cpuMemArena: boolean; memPattern: boolean }): Promise<Engine> {
  let transformers: Transformers;
  try {
    transformers = await import('@huggingface/transformers');
  } catch (error) {
    throw new ModelLoadError(`could not import @huggingface/transformers: ${describe(error)}`, { cause: error });
  }
  const { env, AutoModel, AutoTokenizer, FeatureExtractionPipeline } = transformers;
  // `env` is per-thread module state: each worker sets its own.
  env.allowRemoteModels = spec.allowRemoteModels;
  env.allowLocalModels = spec.localModelPath !== null;
  if (spec.localModelPath !== null) env.localModelPath = spec.localModelPath.endsWith('/') ? spec.localModelPath : `${spec.localModelPath}/`;
  if (spec.cacheDir !== undefined) env.cacheDir = spec.cacheDir;

  let pipe: FeaturePipeline;
  try {
    const options = {
      dtype: spec.dtype,
      session_options: {
        intraOpNumThreads: intraOpThreads,
        interOpNumThreads: 1,
        enableCpuMemArena: memory.cpuMemArena,
        enableMemPattern: memory.memPattern,
      },
    };
    // The same pieces pipeline('feature-extraction') builds, but the tokenizer before the model
    // rather than both at once: when the tokenizer fails, pipeline() rejects while the model's
    // session is still being built in native code, and ending the worker then aborts the process.
    const tokenizer = await AutoTokenizer.from_pretrained(spec.id, options as never);
    const model = await AutoModel.from_pretrained(spec.id, options as never);
    pipe = new FeatureExtractionPipeline({ task: 'feature-extraction', model, tokenizer } as never) as unknown as FeaturePipeline;
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
   * 1 MB string costs a few kB of tokenizing. Normalisation, pre-tokenisation and the tokenizer
   * model all work word by word, and the prefix ends at a whitespace character where its last
   * quarter has one: its tokens are then the whole text's first tokens, and once it holds more
   * than the limit, truncating either gives the same. Without whitespace near the end (one
   * giant "word"), the cut falls inside a word, whose pieces then lie past the truncation point
   * as long as the word's cut changes only its last pieces.
   */
  const clip = (text: string): string => {
    for (let chars = maxTokens * 16; chars < text.length; chars *= 4) {
      let end = chars;
      while (end > chars - (chars >> 2) && !WHITESPACE.test(text[end]!)) end--;
      if (end <= chars - (chars >> 2)) {
        end = chars;
        const code = text.charCodeAt(end - 1);
        if (code >= 0xd800 && code <= 0xdbff) end--; // keep surrogate pairs whole
      }
      const prefix = text.slice(0, end);
      if (countTokens(prefix) > maxTokens + 1) return prefix;
    }
    return text;
  };

  type Inputs = ReturnType<typeof tokenizer>;
  /** Tokenizes texts into one padded batch, each cut to `length` tokens at most. */
  const tokenize = (texts: string[], length = maxTokens): Inputs => tokenizer(texts, { padding: true, truncation: true, max_length: length });

  /** Runs the model over one tokenized batch; returns the hidden states and token counts. */
  async function runModel(inputs: Inputs, hooks: RunHooks): Promise<{ hidden: Tensor; mask: Uint8Array; tokens: number[] }> {
    const [rows = 0, seq = 0] = inputs.attention_mask.dims;
    // The mask comes as int64; read it once into bytes for pooling and token counts.
    const mask = new Uint8Array(rows * seq);
    const tokens = new Array<number>(rows).fill(0);
    const maskData = inputs.attention_mask.data;
    for (let r = 0; r < rows; r++) {
      let n = 0;
      for (let c = 0; c < seq; c++) {
        const on = maskData[r * seq + c] ? 1 : 0;
        mask[r * seq + c] = on;
        n += on;
      }
      tokens[r] = n;
    }
    // Announce the native run first, then check for cancellation: with the pool raising the flag
    // before it reads this one, either the pool sees the run coming or the run sees the flag.
    hooks.native(true);
    if (hooks.stopped()) {
      hooks.native(false);
      throw new AbortError('the task was cancelled: its callers no longer wait for it');
    }
    let outputs: Record<string, Tensor | undefined>;
    try {
      outputs = await pipe.model(inputs as unknown as Record<string, unknown>);
    } finally {
      hooks.native(false);
    }
    const hidden = outputs.last_hidden_state ?? outputs.logits ?? outputs.token_embeddings;
    if (!hidden) throw new Error(`model ${spec.label} returned none of last_hidden_state, logits, token_embeddings`);
    return { hidden, mask, tokens };
  }

  /** Rough token count from length, only to size model runs before tokenizing. */
  const estimate = (text: string): number => Math.min(maxTokens, (text.length >> 2) + 2);

  return {
    dims,
    maxTokens,
    async embed(task, hooks) {
      const { texts, calls } = task;
      const callCount = calls.length >> 1;
      const vectors = new Array<Float32Array | null>(callCount).fill(null);
      const tokens = new Int32Array(texts.length);
      const errors: [number, WireError][] = [];
      // Which call each text belongs to; -1 for the texts of a call that failed its checks.
      const owner = new Int32Array(texts.length);
      for (let c = 0, t = 0; c < callCount; c++) {
        const count = calls[2 * c]!;
        const flags = calls[2 * c + 1]!;
        let failed = false;
        if (!(flags & CALL_TRUNCATE)) {
          for (let j = 0; j < count; j++) {
            const n = countTokens(texts[t + j]!);
            if (n > maxTokens) {
              const error = new InvalidInputError(`input[${j}] has ${n} tokens; the model takes at most ${maxTokens} (pass truncate: true to cut it)`);
              errors.push([c, errorToWire(error)]);
              failed = true;
              break;
            }
          }
        }
        owner.fill(failed ? -1 : c, t, t + count);
        t += count;
      }
      // The model sees each distinct text once (the same text gives the same hidden states), in
      // runs sorted by length so each pads to similar lengths.
      const firstOf = new Map<string, number>();
      const unique: number[] = [];
      let copies: Map<number, number[]> | undefined;
      for (let t = 0; t < texts.length; t++) {
        if (owner[t]! < 0) continue;
        const first = firstOf.get(texts[t]!);
        if (first === undefined) {
          firstOf.set(texts[t]!, t);
          unique.push(t);
        } else {
          copies ??= new Map();
          const list = copies.get(first);
          if (list) list.push(t);
          else copies.set(first, [t]);
        }
      }
      // What the model is given: a huge text is cut first to a prefix that truncates the same.
      const input = new Array<string>(texts.length);
      for (const t of unique) input[t] = texts[t]!.length > maxTokens * 16 ? clip(texts[t]!) : texts[t]!;
      unique.sort((a, b) => input[a]!.length - input[b]!.length);
      // Where each call's texts start in `texts` (and so its rows in its own output).
      const callStart = new Int32Array(callCount + 1);
      for (let c = 0; c < callCount; c++) callStart[c + 1] = callStart[c]! + calls[2 * c]!;
      let width = dims;
      let scratch = new Float64Array(Math.max(1, dims));
      // Small calls write into views of one buffer for the whole task (one transfer instead of
      // one per call). Laid out by the model's hidden size; dropped if its output is wider.
      let packed: Float32Array | null = null;
      const views = new Array<Float32Array | null>(callCount).fill(null);
      if (dims > 0) {
        let floats = 0;
        for (let c = 0; c < callCount; c++) if (isPackedCall(calls[2 * c]!, dims)) floats += calls[2 * c]! * dims;
        if (floats > 0) {
          packed = new Float32Array(floats);
          for (let c = 0, off = 0; c < callCount; c++) {
            const n = calls[2 * c]! * dims;
            if (!isPackedCall(calls[2 * c]!, dims)) continue;
            views[c] = packed.subarray(off, off + n);
            off += n;
          }
        }
      }
      const out = (c: number): Float32Array => (vectors[c] ??= views[c] ?? new Float32Array(calls[2 * c]! * width));
      for (let start = 0, index = 0; start < unique.length; index++) {
        await hooks.beforeRun(index);
        if (hooks.stopped()) throw new AbortError('the task was cancelled: its callers no longer wait for it');
        let end = start + 1;
        while (end < unique.length && end - start < task.batchSize && (end - start + 1) * estimate(input[unique[end]!]!) <= task.maxBatchTokens) end++;
        let inputs = tokenize(unique.slice(start, end).map((t) => input[t]!));
        // The length estimate is rough (a character can be a token): past the token budget, run
        // only the shorter texts that fit, so maxBatchTokens bounds every run's memory.
        const padded = inputs.attention_mask.dims[1] ?? 0;
        if (end - start > 1 && (end - start) * padded > task.maxBatchTokens) {
          end = start + Math.max(1, Math.floor(task.maxBatchTokens / padded));
          inputs = tokenize(unique.slice(start, end).map((t) => input[t]!));
        }
        const run = unique.slice(start, end);
        const { hidden, mask, tokens: runTokens } = await runModel(inputs, hooks);
        const [, seq = 0, w = 0] = hidden.dims;
        if (w !== width && packed) {
          // Only before anything was written: every run of a task has the same width.
          packed = null;
          views.fill(null);
        }
        width = w;
        if (scratch.length < w) scratch = new Float64Array(w);
        const data = hidden.data as ArrayLike<number>;
        /** Row `r` of this run, pooled and (if the call asks) normalised, into `dest` at `to`. */
        const writeRow = (r: number, flags: number, dest: Float32Array, to: number): void => {
          poolRow(data, mask, r, seq, width, flags & CALL_CLS ? 'cls' : 'mean', dest, to, scratch);
          if (flags & CALL_NORMALIZE) normalizeRow(dest, to, width);
        };
        for (let r = 0; r < run.length; r++) {
          // Each distinct text is pooled (and normalised) once; a repeat of it in a call with
          // the same pooling and normalisation gets a copy of that row.
          const first = run[r]!;
          const c = owner[first]!;
          const flags = calls[2 * c + 1]! & (CALL_CLS | CALL_NORMALIZE);
          const row = out(c);
          const at = (first - callStart[c]!) * width;
          writeRow(r, flags, row, at);
          tokens[first] = runTokens[r]!;
          for (const t of copies?.get(first) ?? []) {
            const ct = owner[t]!;
            const flagsT = calls[2 * ct + 1]! & (CALL_CLS | CALL_NORMALIZE);
            const dest = out(ct);
            const to = (t - callStart[ct]!) * width;
            if (flagsT === flags) {
              for (let k = 0; k < width; k++) dest[to + k] = row[at + k]!;
            } else {
              writeRow(r, flagsT, dest, to);
            }
            tokens[t] = runTokens[r]!;
          }
        }
        start = end;
      }
      const failed = new Set(errors.map(([c]) => c));
      // Packed calls travel in `packed` only; a failed call's vectors are not sent.
      for (let c = 0; c < callCount; c++) if (views[c] || failed.has(c)) vectors[c] = null;
      return { vectors, packed, width, maxTokens, tokens, errors };
    },
    async warmup({ batchSize, maxBatchTokens, peak }) {
      const quiet: RunHooks = { stopped: () => false, beforeRun: () => {}, native: () => {} };
      await runModel(tokenize(['warm up']), quiet);
      if (!peak) return;
      // 'a' is one token in every vocabulary warmpool ships (or the unknown token): a text of
      // maxTokens words, cut at `seq`, pads nothing.
      const long = 'a '.repeat(maxTokens);
      for (const { rows, seq } of peakShapes(maxTokens, batchSize, maxBatchTokens)) {
        await runModel(tokenize(new Array<string>(rows).fill(long), seq), quiet);
      }
    },
    async dispose() {
      await pipe.dispose();
    },
  };
}

/**
 * One character of whitespace, where a huge text can be cut without cutting a word (not U+FEFF,
 * which JavaScript counts as whitespace and tokenizers' normalisers drop inside a word).
 */
const WHITESPACE = /^[^\S\uFEFF]$/;

/**
 * Pools row `r` of a hidden state `[rows, seq, width]` into `out` at `offset`: the mean of the
 * token vectors the attention mask keeps (summed in double precision, as transformers.js'
 * `mean_pooling` does), or the first token's vector. `mask` is the mask as 0/1 bytes.
 */
function poolRow(
  hidden: ArrayLike<number>,
  mask: Uint8Array,
  r: number,
  seq: number,
  width: number,
  pooling: 'mean' | 'cls',
  out: Float32Array,
  offset: number,
  sum: Float64Array,
): void {
  const base = r * seq * width;
  if (pooling === 'cls') {
    for (let k = 0; k < width; k++) out[offset + k] = hidden[base + k]!;
    return;
  }
  sum.fill(0, 0, width);
  let count = 0;
  for (let j = 0; j < seq; j++) {
    if (mask[r * seq + j] === 0) continue;
    count++;
    const from = base + j * width;
    for (let k = 0; k < width; k++) sum[k]! += hidden[from + k]!;
  }
  for (let k = 0; k < width; k++) out[offset + k] = sum[k]! / count;
}

/**
 * L2-normalises `width` floats of `data` from `offset`, in place. A zero row (a text none of whose
 * tokens the model knows, for a word-vector model) stays zero rather than becoming NaN.
 */
function normalizeRow(data: Float32Array, offset: number, width: number): void {
  const end = offset + width;
  let sum = 0;
  for (let i = offset; i < end; i++) {
    const x = data[i]!;
    sum += x * x;
  }
  if (sum === 0) return;
  const inv = 1 / Math.sqrt(sum);
  for (let i = offset; i < end; i++) data[i] = data[i]! * inv;
}
