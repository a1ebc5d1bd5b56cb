/**
 * The transformers.js engine a worker runs: loads the model once, then embeds batches through the
 * same path as transformers.js' feature-extraction pipeline (tokenizer, session, pooling,
 * normalisation), with token counts, truncation control and length-sorted sub-batches added.
 */
import { AbortError, InvalidInputError, ModelLoadError, describe, errorToWire } from '../src/errors.js';
import type { CallOutcome, EmbedTask, ModelSpec } from '../src/protocol.js';

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
  embed(task: EmbedTask, hooks: RunHooks): Promise<CallOutcome[]>;
  dispose(): Promise<void>;
}

export async function loadEngine(spec: ModelSpec, intraOpThreads: number, memory: { cpuMemArena: boolean; memPattern: boolean }): Promise<Engine> {
  let transformers: Transformers;
  try {
    transformers = await import('@huggingface/transformers');
  } catch (error) {
    throw new ModelLoadError(`could not import @huggingface/transformers: ${describe(error)}`, { cause: error });
  }
  const { env, pipeline } = transformers;
  // `env` is per-thread module state: each worker sets its own.
  env.allowRemoteModels = spec.allowRemoteModels;
  env.allowLocalModels = spec.localModelPath !== null;
  if (spec.localModelPath !== null) env.localModelPath = spec.localModelPath.endsWith('/') ? spec.localModelPath : `${spec.localModelPath}/`;
  if (spec.cacheDir !== undefined) env.cacheDir = spec.cacheDir;

  let pipe: FeaturePipeline;
  try {
    pipe = (await pipeline('feature-extraction', spec.id, {
      dtype: spec.dtype,
      session_options: {
        intraOpNumThreads: intraOpThreads,
        interOpNumThreads: 1,
        enableCpuMemArena: memory.cpuMemArena,
        enableMemPattern: memory.memPattern,
      },
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

  /** One text of a task, with where its vector goes. */
  interface Item {
    text: string;
    call: number;
    row: number;
  }

  /** Runs the model over texts of similar length; returns the hidden states and token counts. */
  async function runModel(texts: string[], hooks: RunHooks): Promise<{ hidden: Tensor; mask: Uint8Array; tokens: number[] }> {
    const inputs = tokenizer(texts, { padding: true, truncation: true, max_length: maxTokens });
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
      const outcomes: (CallOutcome | undefined)[] = new Array(task.calls.length);
      const outputs: Float32Array[] = [];
      const tokenSums = new Array<number>(task.calls.length).fill(0);
      const textTokens = task.calls.map((call) => new Array<number>(call.texts.length).fill(0));
      const items: Item[] = [];
      task.calls.forEach((call, c) => {
        if (!call.truncate) {
          for (let j = 0; j < call.texts.length; j++) {
            const n = countTokens(call.texts[j]!);
            if (n > maxTokens) {
              const error = new InvalidInputError(`input[${j}] has ${n} tokens; the model takes at most ${maxTokens} (pass truncate: true to cut it)`);
              outcomes[c] = { error: errorToWire(error) };
              return;
            }
          }
        }
        call.texts.forEach((text, row) => {
          items.push({ text: call.truncate && text.length > maxTokens * 16 ? clip(text) : text, call: c, row });
        });
      });
      // Sort by length so each model run pads to similar lengths; rows are scattered back to their calls.
      items.sort((a, b) => a.text.length - b.text.length);
      let width = dims;
      for (let start = 0, index = 0; start < items.length; index++) {
        await hooks.beforeRun(index);
        if (hooks.stopped()) throw new AbortError('the task was cancelled: its callers no longer wait for it');
        let end = start + 1;
        while (end < items.length && end - start < task.batchSize && (end - start + 1) * estimate(items[end]!.text) <= task.maxBatchTokens) end++;
        const run = items.slice(start, end);
        const { hidden, mask, tokens } = await runModel(run.map((item) => item.text), hooks);
        const [, seq = 0, w = 0] = hidden.dims;
        width = w;
        for (let r = 0; r < run.length; r++) {
          const { call: c, row } = run[r]!;
          const spec = task.calls[c]!;
          const out = (outputs[c] ??= new Float32Array(spec.texts.length * width));
          poolRow(hidden.data as ArrayLike<number>, mask, r, seq, width, spec.pooling, out, row * width);
          tokenSums[c]! += tokens[r]!;
          textTokens[c]![row] = tokens[r]!;
        }
        start = end;
      }
      task.calls.forEach((spec, c) => {
        if (outcomes[c]) return;
        const data = outputs[c] ?? new Float32Array(0);
        if (spec.normalize) normalizeRows(data, width);
        outcomes[c] = { data, dims: [spec.texts.length, width], tokens: tokenSums[c]!, textTokens: textTokens[c]! };
      });
      return outcomes as CallOutcome[];
    },
    async dispose() {
      await pipe.dispose();
    },
  };
}

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
): void {
  const base = r * seq * width;
  if (pooling === 'cls') {
    for (let k = 0; k < width; k++) out[offset + k] = hidden[base + k]!;
    return;
  }
  const sum = new Float64Array(width);
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
