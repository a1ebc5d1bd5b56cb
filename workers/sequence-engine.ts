/**
 * The engine of `rerank` and `classify` models: a sequence-classification model (a cross-encoder
 * for rerank) loaded the way transformers.js loads any hub one (`AutoTokenizer` and
 * `AutoModelForSequenceClassification`), run over a task's texts, or (query, document) pairs, in
 * length-sorted sub-batches within `batchSize` and `maxBatchTokens`. Each call's answer is its
 * texts' raw logits, one row of `labels.length` per text; the pool turns them into scores.
 */
import { ModelLoadError, describe } from '../src/errors.js';
import type { EmbedTask, ModelSpec } from '../src/protocol.js';
import { AnswerBuilder, RunClock, callStarts, checkCalls, clipText, estimateTokens, fitToBudget, readMask } from './embed-steps.js';
import type { WeightsInfo } from '../src/weights.js';
import { LOAD_RUN_HOOKS, guardedRun, importTransformers, loadModelSession, loadTokenizer, maxTokensOf, peakShapes, sessionOptions, unmarked, type Engine, type NativeWork, type RunHooks } from './engine.js';

interface Tensor {
  data: ArrayLike<number | bigint> & { length: number };
  dims: number[];
}
type Encoded = { input_ids: Tensor; attention_mask: Tensor; token_type_ids?: Tensor };
type Tokenizer = ((texts: string[], opts: Record<string, unknown>) => Encoded) & {
  encode(text: string, opts?: { text_pair?: string | null }): number[];
};
type Model = ((inputs: Record<string, unknown>) => Promise<Record<string, Tensor | undefined>>) & {
  config?: Record<string, unknown>;
  dispose(): Promise<unknown>;
};

/** The labels of a classification model in output order, from its config's `id2label`. */
export function labelsOf(config: Record<string, unknown>): string[] | undefined {
  const id2label = config.id2label;
  if (typeof id2label !== 'object' || id2label === null) return undefined;
  const entries = Object.entries(id2label as Record<string, unknown>).map(([id, label]) => [Number(id), String(label)] as const);
  if (entries.length === 0 || entries.some(([id]) => !Number.isInteger(id) || id < 0)) return undefined;
  entries.sort((a, b) => a[0] - b[0]);
  if (entries.some(([id], i) => id !== i)) return undefined;
  return entries.map(([, label]) => label);
}

export async function loadSequenceEngine(
  spec: ModelSpec,
  intraOpThreads: number,
  memory: { cpuMemArena: boolean; memPattern: boolean },
  weightsCache: string | false = false,
  native: NativeWork = unmarked,
): Promise<Engine> {
  const transformers = await importTransformers(spec, native);
  const { AutoModelForSequenceClassification } = transformers;
  const task = spec.task;
  let tokenizer: Tokenizer;
  let model: Model;
  let weights: WeightsInfo;
  try {
    const options = sessionOptions(spec, intraOpThreads, memory);
    // Tokenizer first, then the model (see loadEngine).
    tokenizer = (await loadTokenizer(transformers, spec, options)) as unknown as Tokenizer;
    const loaded = await loadModelSession(transformers, spec, weightsCache, (id) => AutoModelForSequenceClassification.from_pretrained(id, options as never), native);
    model = loaded.model as unknown as Model;
    weights = loaded.weights;
  } catch (error) {
    throw new ModelLoadError(`could not load model ${spec.label} (dtype ${spec.dtype}) for ${task}: ${describe(error)}`, { cause: error });
  }
  const config = (model.config ?? {}) as Record<string, unknown>;
  const maxTokens = maxTokensOf(tokenizer, config);
  const labels = labelsOf(config) ?? (typeof config.num_labels === 'number' ? Array.from({ length: config.num_labels }, (_, i) => `LABEL_${i}`) : undefined);
  const cannot = (why: string): ModelLoadError => new ModelLoadError(`model ${spec.label} cannot ${task}: ${why}`);
  if (!labels) {
    await model.dispose().catch(() => {});
    throw cannot('its config.json has no id2label (or num_labels), so it is not a sequence-classification model');
  }
  if (task === 'rerank' && labels.length !== 1) {
    await model.dispose().catch(() => {});
    throw cannot(`a reranker (cross-encoder) gives one relevance logit per pair, but this model has ${labels.length} labels (${labels.join(', ')}); load it as a classify model instead`);
  }
  const width = labels.length;
  const multiLabel = config.problem_type === 'multi_label_classification';

  const countTokens = (text: string, pair?: string): number => tokenizer.encode(text, pair === undefined ? undefined : { text_pair: pair }).length;
  /** A huge text cut to a prefix that truncates to the same tokens (see clipText). */
  const clip = (text: string): string => (text.length > maxTokens * 16 ? clipText(text, maxTokens, (t) => countTokens(t)) : text);

  /** The cost of a padded token, for the batch lane's run size. */
  const clock = new RunClock();

  async function runModel(first: string[], second: string[] | undefined, hooks: RunHooks): Promise<{ logits: Tensor; tokens: number[] }> {
    const inputs = tokenizer(first, { text_pair: second ?? null, padding: true, truncation: true, max_length: maxTokens });
    const [rows = 0, seq = 0] = inputs.attention_mask.dims;
    const { tokens } = readMask(inputs.attention_mask.data, rows, seq);
    const outputs = await clock.timed(rows * seq, () => guardedRun(hooks, () => model(inputs as unknown as Record<string, unknown>)));
    const logits = outputs.logits;
    if (!logits || logits.dims.length !== 2 || logits.dims[0] !== rows || logits.dims[1] !== width) {
      const found = Object.keys(outputs).join(', ') || 'nothing';
      throw cannot(`it has no classification head of ${width} label${width === 1 ? '' : 's'} (its outputs: ${found}${logits ? `, logits of shape [${logits.dims.join(', ')}]` : ''}); is it a feature-extraction model?`);
    }
    return { logits, tokens };
  }

  return {
    dims: width,
    maxTokens,
    labels,
    multiLabel,
    weights,
    async run(taskIn: EmbedTask, hooks: RunHooks) {
      const { texts, calls, batchSize } = taskIn;
      const maxBatchTokens = clock.budget(taskIn);
      const pairs = task === 'rerank' ? (taskIn.pairs ?? []) : undefined;
      const callStart = callStarts(calls);
      // Each call's own checks: with truncate: false, an input over the limit fails its call alone.
      const { owner, errors } = pairs
        ? checkCalls(texts, calls, maxTokens, (text, c) => countTokens(pairs[c]!, text), (j) => `the query with documents[${j}]`)
        : checkCalls(texts, calls, maxTokens, (text) => countTokens(text));
      // What the model is given, shortest first so each run pads little.
      const order: number[] = [];
      const first: string[] = new Array<string>(texts.length);
      const second: string[] | undefined = pairs ? new Array<string>(texts.length) : undefined;
      const length = new Int32Array(texts.length);
      for (let t = 0; t < texts.length; t++) {
        const c = owner[t]!;
        if (c < 0) continue;
        order.push(t);
        if (pairs) {
          first[t] = clip(pairs[c]!);
          second![t] = clip(texts[t]!);
        } else {
          first[t] = clip(texts[t]!);
        }
        length[t] = estimateTokens(first[t]! + (second ? second[t]! : ''), maxTokens);
      }
      order.sort((a, b) => length[a]! - length[b]!);
      const out = new AnswerBuilder(calls, texts.length, width);
      for (let start = 0, index = 0; start < order.length; index++) {
        await hooks.beforeRun(index);
        let end = start + 1;
        while (end < order.length && end - start < batchSize && (end - start + 1) * length[order[end]!]! <= maxBatchTokens) end++;
        const slice = (from: string[] | undefined, stop: number): string[] | undefined => from && order.slice(start, stop).map((t) => from[t]!);
        let run = await runModel(slice(first, end)!, slice(second, end), hooks);
        // The length estimate is rough: past the token budget, only the shorter inputs that fit run.
        const padded = run.tokens.length > 0 ? Math.max(...run.tokens) : 0;
        const fit = fitToBudget(end - start, padded, maxBatchTokens);
        if (fit < end - start) {
          end = start + fit;
          run = await runModel(slice(first, end)!, slice(second, end), hooks);
        }
        const data = run.logits.data as ArrayLike<number>;
        for (let r = 0; r < end - start; r++) {
          const t = order[start + r]!;
          const c = owner[t]!;
          const rows = out.rows(c);
          const at = (t - callStart[c]!) * width;
          for (let k = 0; k < width; k++) rows[at + k] = data[r * width + k]!;
          out.tokens[t] = run.tokens[r]!;
        }
        start = end;
      }
      return { ...out.answer(errors, maxTokens), labels, multiLabel };
    },
    async warmup() {
      await runModel(['warm up'], task === 'rerank' ? ['warm up'] : undefined, LOAD_RUN_HOOKS);
    },
    peakRuns({ batchSize, maxBatchTokens, peak }, hooks) {
      if (!peak) return [];
      // As for embeddings (see engine.ts): the largest shapes a task can run. A pair fills its
      // tokens from both texts; the truncation cuts it to `seq`.
      const long = 'a '.repeat(maxTokens);
      return peakShapes(maxTokens, batchSize, maxBatchTokens).map(({ rows, seq }) => async () => {
        const texts = new Array<string>(rows).fill(long);
        const inputs = tokenizer(texts, { text_pair: task === 'rerank' ? texts : null, padding: true, truncation: true, max_length: seq });
        await guardedRun(hooks, () => model(inputs as unknown as Record<string, unknown>));
      });
    },
    async dispose() {
      await model.dispose();
    },
  };
}
