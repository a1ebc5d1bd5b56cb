/**
 * The transformers.js engine a worker runs: loads the model once, then embeds batches through the
 * same path as transformers.js' feature-extraction pipeline (tokenizer, session, pooling,
 * normalisation), with token counts, truncation control and length-sorted sub-batches added.
 */
import { join } from 'node:path';
import { AbortError, ModelLoadError, describe } from '../src/errors.js';
import type { EmbedTask, ModelSpec, TaskAnswer, ValueAnswer, WorkerConfig } from '../src/protocol.js';
import type { WeightsInfo } from '../src/weights.js';
import { AnswerBuilder, RunClock, clipText, fitToBudget, planTask, readMask, runEnd, runTexts, writeRun } from './embed-steps.js';
import { loadPrebuiltTokenizer } from './prebuilt-tokenizer.js';
import { discard, shareWeights } from './shared-weights.js';

// Only types at module scope (see importTransformers).
export type Transformers = typeof import('@huggingface/transformers');
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
  /**
   * Announces a native model run: false when the pool is ending this thread (the run must not
   * start; see PoolStats.stopNative). `leave()` ends an announced run.
   */
  enter(): boolean;
  leave(): void;
}

/**
 * Runs one piece of native work of a load (importing transformers.js and its addons, creating a
 * session, the warm-up run) marked as such, so that the pool never ends the thread inside it; the
 * rest of a load (file reads, the tokenizer) stays unmarked, and a load stuck there can be ended
 * (see `loadTimeout`).
 */
export type NativeWork = <T>(work: () => Promise<T>) => Promise<T>;

/** Marks nothing: for callers that run no pool (tools, benchmarks). */
export const unmarked: NativeWork = (work) => work();

/** For a run inside the load (the warm-up): never cancelled, and already inside the load's native work. */
export const LOAD_RUN_HOOKS: RunHooks = Object.freeze({ stopped: () => false, beforeRun: () => {}, enter: () => true, leave: () => {} });

export interface Engine {
  /** The width of each answer row: the hidden size of an embedder, the label count of a classifier (0 for a custom task). */
  readonly dims: number;
  readonly maxTokens: number;
  /** A classifier's or reranker's labels, in output order. */
  readonly labels?: string[];
  /** Whether those labels are independent (a sigmoid each) rather than exclusive (a softmax over them). */
  readonly multiLabel?: boolean;
  /** How the model's weights are held: one shared copy, or the worker's own (and why). */
  readonly weights?: WeightsInfo;
  /**
   * Runs every call of a task, sharing model runs between calls. `stopped()` is asked before
   * each model run and ends the task early when every caller has given up.
   */
  run(task: EmbedTask, hooks: RunHooks): Promise<TaskAnswer | ValueAnswer>;
  /**
   * Runs the model once on a short text before the worker takes calls: kernels and buffers set
   * up, so the first call is warm.
   */
  warmup(plan: WorkerConfig['warmup']): Promise<void>;
  /**
   * With `plan.peak`, one model run per shape of the largest batches a task can run under these
   * limits, so that onnxruntime's arena reaches its peak early instead of while serving. The worker
   * runs them after it reports ready, as batch work: calls go first (see `preallocate`).
   */
  peakRuns?(plan: WorkerConfig['warmup'], hooks: RunHooks): (() => Promise<void>)[];
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

/** onnxruntime session settings of every model a worker loads. */
export function sessionOptions(spec: ModelSpec, intraOpThreads: number, memory: { cpuMemArena: boolean; memPattern: boolean }): Record<string, unknown> {
  return {
    dtype: spec.dtype,
    session_options: {
      intraOpNumThreads: intraOpThreads,
      interOpNumThreads: 1,
      enableCpuMemArena: memory.cpuMemArena,
      enableMemPattern: memory.memPattern,
    },
  };
}

/**
 * Imports transformers.js and points its (per-thread) `env` at the model's folder. Only types at
 * module scope: the library is imported here, so a broken install surfaces as a ModelLoadError
 * instead of a worker that dies while starting. The import is native work: it loads the addons
 * of onnxruntime and sharp, and a thread terminated while an addon starts aborts the process.
 */
export async function importTransformers(spec: ModelSpec, native: NativeWork = unmarked): Promise<Transformers> {
  let transformers: Transformers;
  try {
    transformers = await native(() => import('@huggingface/transformers'));
  } catch (error) {
    if (error instanceof ModelLoadError) throw error;
    throw new ModelLoadError(`could not import @huggingface/transformers: ${describe(error)}`, { cause: error });
  }
  const { env } = transformers;
  // `env` is per-thread module state: each worker sets its own.
  env.allowRemoteModels = spec.allowRemoteModels;
  env.allowLocalModels = spec.localModelPath !== null;
  if (spec.localModelPath !== null) env.localModelPath = spec.localModelPath.endsWith('/') ? spec.localModelPath : `${spec.localModelPath}/`;
  if (spec.cacheDir !== undefined) env.cacheDir = spec.cacheDir;
  return transformers;
}

/**
 * The model's tokenizer: from its folder's prebuilt vocabulary when it has one that matches
 * `tokenizer.json` (see prebuilt-tokenizer.ts), else as transformers.js loads any tokenizer.
 */
export async function loadTokenizer(transformers: Transformers, spec: ModelSpec, options: Record<string, unknown>): Promise<unknown> {
  if (spec.localModelPath !== null) {
    const prebuilt = await loadPrebuiltTokenizer(transformers as unknown as Record<string, unknown>, join(spec.localModelPath, spec.id)).catch(() => undefined);
    if (prebuilt !== undefined) return prebuilt;
  }
  return transformers.AutoTokenizer.from_pretrained(spec.id, options as never);
}

/** The longest input the model takes, in tokens: the tokenizer's and the position table's limits. */
export function maxTokensOf(tokenizer: unknown, config: Record<string, unknown>): number {
  const modelMax = (tokenizer as { model_max_length?: number }).model_max_length;
  const positions = typeof config.max_position_embeddings === 'number' ? config.max_position_embeddings : Infinity;
  return Math.min(typeof modelMax === 'number' && modelMax > 0 ? modelMax : Infinity, positions, 1_000_000);
}

/**
 * Loads the model's ONNX session through transformers.js (`load(id)`, e.g. `AutoModel.from_pretrained`):
 * from the prepared copy of the weights cache when there is one (see shared-weights.ts), else as
 * the model's own folder. A prepared copy that fails to load is removed (the next start makes it
 * again) and the model loads from its own folder, saying why.
 */
export async function loadModelSession<T>(
  transformers: Transformers,
  spec: ModelSpec,
  weightsCache: string | false,
  load: (id: string) => Promise<T>,
  native: NativeWork = unmarked,
): Promise<{ model: T; weights: WeightsInfo }> {
  const hubCache = typeof transformers.env.cacheDir === 'string' ? transformers.env.cacheDir : undefined;
  const plan = await shareWeights(spec, weightsCache, hubCache);
  if (plan.prepared) {
    const { env } = transformers;
    const saved = { localModelPath: env.localModelPath, allowLocalModels: env.allowLocalModels, allowRemoteModels: env.allowRemoteModels };
    env.localModelPath = plan.prepared.localModelPath.endsWith('/') ? plan.prepared.localModelPath : `${plan.prepared.localModelPath}/`;
    env.allowLocalModels = true;
    env.allowRemoteModels = false;
    try {
      return { model: await native(() => load(plan.prepared!.id)), weights: plan.info };
    } catch (error) {
      await discard(plan.prepared.entry);
      plan.info = { shared: false, reason: `its prepared copy (${plan.prepared.entry}) failed to load and was removed: ${describe(error)}` };
    } finally {
      Object.assign(env, saved);
    }
  }
  return { model: await native(() => load(spec.id)), weights: plan.info };
}

export async function loadEngine(
  spec: ModelSpec,
  intraOpThreads: number,
  memory: { cpuMemArena: boolean; memPattern: boolean },
  weightsCache: string | false = false,
  native: NativeWork = unmarked,
): Promise<Engine> {
  const transformers = await importTransformers(spec, native);
  const { AutoModel, FeatureExtractionPipeline } = transformers;

  let pipe: FeaturePipeline;
  let weights: WeightsInfo;
  try {
    const options = sessionOptions(spec, intraOpThreads, memory);
    // The same pieces pipeline('feature-extraction') builds, but the tokenizer before the model
    // rather than both at once: when the tokenizer fails, pipeline() rejects while the model's
    // session is still being built in native code, and ending the worker then aborts the process.
    const tokenizer = await loadTokenizer(transformers, spec, options);
    const loaded = await loadModelSession(transformers, spec, weightsCache, (id) => AutoModel.from_pretrained(id, options as never), native);
    const model = loaded.model;
    weights = loaded.weights;
    pipe = new FeatureExtractionPipeline({ task: 'feature-extraction', model, tokenizer } as never) as unknown as FeaturePipeline;
  } catch (error) {
    throw new ModelLoadError(`could not load model ${spec.label} (dtype ${spec.dtype}): ${describe(error)}`, { cause: error });
  }
  const tokenizer = pipe.tokenizer;
  const config = (pipe.model.config ?? {}) as Record<string, unknown>;
  const maxTokens = maxTokensOf(tokenizer, config);
  const dims = typeof config.hidden_size === 'number' ? config.hidden_size : 0;

  /** Tokens of `text` with special tokens, counted without building tensors. */
  const countTokens = (text: string): number => tokenizer.encode(text).length;

  /** A huge text cut to a prefix that truncates to the same tokens (see {@link clipText}). */
  const clip = (text: string): string => clipText(text, maxTokens, countTokens);

  type Inputs = ReturnType<typeof tokenizer>;
  /** Tokenizes texts into one padded batch, each cut to `length` tokens at most. */
  const tokenize = (texts: string[], length = maxTokens): Inputs => tokenizer(texts, { padding: true, truncation: true, max_length: length });

  /** Runs the model over one tokenized batch; returns the hidden states and token counts. */
  async function runModel(inputs: Inputs, hooks: RunHooks): Promise<{ hidden: Tensor; mask: Uint8Array; tokens: number[] }> {
    const [rows = 0, seq = 0] = inputs.attention_mask.dims;
    // The mask comes as int64; read it once into bytes for pooling and token counts.
    const { mask, tokens } = readMask(inputs.attention_mask.data, rows, seq);
    const outputs: Record<string, Tensor | undefined> = await clock.timed(rows * seq, () => guardedRun(hooks, () => pipe.model(inputs as unknown as Record<string, unknown>)));
    const hidden = outputs.last_hidden_state ?? outputs.logits ?? outputs.token_embeddings;
    if (!hidden) throw new Error(`model ${spec.label} returned none of last_hidden_state, logits, token_embeddings`);
    return { hidden, mask, tokens };
  }

  /** The cost of a padded token, for the batch lane's run size. */
  const clock = new RunClock();

  /** Mean pooling's running sums: one buffer for every task (a task writes its rows without awaiting in between). */
  let scratch = new Float64Array(Math.max(1, dims));

  return {
    dims,
    maxTokens,
    weights,
    async run(task, hooks) {
      const { texts, calls, batchSize } = task;
      const maxBatchTokens = clock.budget(task);
      const plan = planTask(texts, calls, maxTokens, countTokens, clip);
      const { unique, input } = plan;
      const out = new AnswerBuilder(calls, texts.length, dims);
      for (let start = 0, index = 0; start < unique.length; index++) {
        await hooks.beforeRun(index);
        if (hooks.stopped()) throw new AbortError('the task was cancelled: its callers no longer wait for it');
        let end = runEnd(unique, input, start, batchSize, maxBatchTokens, maxTokens);
        let inputs = tokenize(runTexts(unique, input, start, end));
        // The length estimate is rough: past the token budget, only the shorter texts that fit run.
        const fit = fitToBudget(end - start, inputs.attention_mask.dims[1] ?? 0, maxBatchTokens);
        if (fit < end - start) {
          end = start + fit;
          inputs = tokenize(runTexts(unique, input, start, end));
        }
        const { hidden, mask, tokens } = await runModel(inputs, hooks);
        const [, seq = 0, width = 0] = hidden.dims;
        out.setWidth(width);
        if (scratch.length < width) scratch = new Float64Array(width);
        writeRun(plan, calls, start, end, hidden.data as ArrayLike<number>, mask, seq, tokens, out, scratch);
        start = end;
      }
      return out.answer(plan.errors, maxTokens);
    },
    async warmup() {
      await runModel(tokenize(['warm up']), LOAD_RUN_HOOKS);
    },
    peakRuns({ batchSize, maxBatchTokens, peak }, hooks) {
      if (!peak) return [];
      // 'a' is one token in every vocabulary warmpool ships (or the unknown token): a text of
      // maxTokens words, cut at `seq`, pads nothing.
      const long = 'a '.repeat(maxTokens);
      return peakShapes(maxTokens, batchSize, maxBatchTokens).map(({ rows, seq }) => async () => {
        await runModel(tokenize(new Array<string>(rows).fill(long), seq), hooks);
      });
    },
    async dispose() {
      await pipe.dispose();
    },
  };
}

/**
 * Runs one native model call under the worker's guard: the run is announced first, then the
 * pool's word that it is ending this thread and the task's cancel flag are read (the pool raises
 * them before reading ours, so either the pool sees the run coming or the run sees the flag), and
 * the run is never interrupted once started. A thread being ended waits for its end there (its
 * callers are answered by the pool as its exit comes).
 */
export async function guardedRun<T>(hooks: RunHooks, run: () => Promise<T>): Promise<T> {
  if (!hooks.enter()) return new Promise<never>(() => {});
  if (hooks.stopped()) {
    hooks.leave();
    throw new AbortError('the task was cancelled: its callers no longer wait for it');
  }
  try {
    return await run();
  } finally {
    hooks.leave();
  }
}
