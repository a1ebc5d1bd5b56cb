/**
 * The steps of `Engine.embed`, each a plain function of plain data (no model, no worker), so each
 * can be tested alone: plan a task's distinct texts ({@link planTask}), size each model run
 * ({@link runEnd}, {@link fitToBudget}), read a run's attention mask ({@link readMask}), pool and
 * normalise its rows and copy them to the repeats ({@link writeRun}, with `pooling.ts`), and pack
 * the answer ({@link AnswerBuilder}). This is the hottest code in the project: loops over typed
 * arrays, and no closure or array made per row.
 */
import { InvalidInputError, errorToWire, type WireError } from '../src/errors.js';
import { CALL_CLS, CALL_LASTTOKEN, CALL_NORMALIZE, CALL_TRUNCATE, isPackedCall, type EmbedTask, type TaskAnswer } from '../src/protocol.js';
import { writeRow } from './pooling.js';

/** A task's texts, planned: which call owns each, which are distinct, and what the model is given. */
/** The flags that decide how a row is written: its pooling and normalisation. */
const ROW_FLAGS = CALL_CLS | CALL_LASTTOKEN | CALL_NORMALIZE;

export interface TaskPlan {
  /** Which call each text belongs to; -1 for the texts of a call that failed its checks. */
  owner: Int32Array;
  /** The calls that failed alone (a text too long with `truncate: false`), by index. */
  errors: [number, WireError][];
  /** Where each call's texts start among the task's texts (and so its rows in its own output); one entry more than calls. */
  callStart: Int32Array;
  /** The first occurrence of each distinct text of the calls that passed, shortest model input first. */
  unique: number[];
  /** The repeats of a distinct text, by the index of its first occurrence; undefined when no text repeats. */
  copies: Map<number, number[]> | undefined;
  /** What the model is given for each distinct text (by its index): the text, or a prefix of a huge one that truncates the same. */
  input: string[];
}

/**
 * Plans a task: checks each call (a call with `truncate: false` and a text over `maxTokens`
 * fails alone), finds the distinct texts of the rest (the same text gives the same hidden states,
 * so the model sees it once), cuts huge texts with `clip` and sorts the distinct texts by length so
 * each model run pads to similar lengths.
 */
export function planTask(
  texts: readonly string[],
  calls: Int32Array,
  maxTokens: number,
  countTokens: (text: string) => number,
  clip: (text: string) => string,
): TaskPlan {
  const { owner, errors } = checkCalls(texts, calls, maxTokens, countTokens);
  const { unique, copies } = distinctTexts(texts, owner);
  // What the model is given: a huge text is cut first to a prefix that truncates the same.
  const input = new Array<string>(texts.length);
  for (const t of unique) input[t] = texts[t]!.length > maxTokens * 16 ? clip(texts[t]!) : texts[t]!;
  unique.sort((a, b) => input[a]!.length - input[b]!.length);
  return { owner, errors, callStart: callStarts(calls), unique, copies, input };
}

/** Which call owns each text, and the calls that fail alone: those with `truncate: false` and a text over `maxTokens`. */
export function checkCalls(
  texts: readonly string[],
  calls: Int32Array,
  maxTokens: number,
  countTokens: (text: string, call: number) => number,
  /** How an error names the call's j-th input. */
  name: (j: number) => string = (j) => `input[${j}]`,
): { owner: Int32Array; errors: [number, WireError][] } {
  const callCount = calls.length >> 1;
  const owner = new Int32Array(texts.length);
  const errors: [number, WireError][] = [];
  for (let c = 0, t = 0; c < callCount; c++) {
    const count = calls[2 * c]!;
    const flags = calls[2 * c + 1]!;
    let failed = false;
    if (!(flags & CALL_TRUNCATE)) {
      for (let j = 0; j < count; j++) {
        const n = countTokens(texts[t + j]!, c);
        if (n > maxTokens) {
          const error = new InvalidInputError(`${name(j)} has ${n} tokens; the model takes at most ${maxTokens} (pass truncate: true to cut it)`);
          errors.push([c, errorToWire(error)]);
          failed = true;
          break;
        }
      }
    }
    owner.fill(failed ? -1 : c, t, t + count);
    t += count;
  }
  return { owner, errors };
}

/** The first occurrence of each distinct text owned by a call (in order), and the later occurrences of each. */
export function distinctTexts(texts: readonly string[], owner: Int32Array): { unique: number[]; copies: Map<number, number[]> | undefined } {
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
  return { unique, copies };
}

/** Where each call's texts start among the task's texts, with the total at the end. */
export function callStarts(calls: Int32Array): Int32Array {
  const callCount = calls.length >> 1;
  const callStart = new Int32Array(callCount + 1);
  for (let c = 0; c < callCount; c++) callStart[c + 1] = callStart[c]! + calls[2 * c]!;
  return callStart;
}

/** Rough token count from length, only to size model runs before tokenizing. */
export const estimateTokens = (text: string, maxTokens: number): number => Math.min(maxTokens, (text.length >> 2) + 2);

/**
 * Where the model run that starts at `unique[start]` ends (exclusive): at most `batchSize` texts,
 * and past the first, no more than `maxBatchTokens` padded tokens by the length estimate (the
 * texts are sorted by length, so the last one is the longest).
 */
export function runEnd(unique: readonly number[], input: readonly string[], start: number, batchSize: number, maxBatchTokens: number, maxTokens: number): number {
  let end = start + 1;
  while (end < unique.length && end - start < batchSize && (end - start + 1) * estimateTokens(input[unique[end]!]!, maxTokens) <= maxBatchTokens) end++;
  return end;
}

/**
 * How many of a run's `rows` texts fit once tokenized to `padded` tokens each: the length
 * estimate is rough (a character can be a token), so past the token budget only the shorter texts
 * that fit run, and `maxBatchTokens` bounds every run's memory. A single text always runs.
 */
export function fitToBudget(rows: number, padded: number, maxBatchTokens: number): number {
  return rows > 1 && rows * padded > maxBatchTokens ? Math.max(1, Math.floor(maxBatchTokens / padded)) : rows;
}

/** The model inputs of `unique[start..end)`, in order. */
export function runTexts(unique: readonly number[], input: readonly string[], start: number, end: number): string[] {
  const out = new Array<string>(end - start);
  for (let i = start; i < end; i++) out[i - start] = input[unique[i]!]!;
  return out;
}

/** A run's attention mask (int64 from the tokenizer) read once into 0/1 bytes, and the tokens of each row. */
export function readMask(data: ArrayLike<number | bigint>, rows: number, seq: number): { mask: Uint8Array; tokens: number[] } {
  const mask = new Uint8Array(rows * seq);
  const tokens = new Array<number>(rows).fill(0);
  for (let r = 0; r < rows; r++) {
    let n = 0;
    for (let c = 0; c < seq; c++) {
      const on = data[r * seq + c] ? 1 : 0;
      mask[r * seq + c] = on;
      n += on;
    }
    tokens[r] = n;
  }
  return { mask, tokens };
}

/**
 * Where a task's vectors are written, call by call, and the answer they make. Small calls write
 * into views of one buffer for the whole task (one transfer instead of one per call), laid out by
 * the model's hidden size `dims` and dropped if its output is wider; a large call gets a buffer
 * of its own at its first row.
 */
export class AnswerBuilder {
  readonly #calls: Int32Array;
  readonly vectors: (Float32Array | null)[];
  /** Tokens of every text of the task, in order. */
  readonly tokens: Int32Array;
  #packed: Float32Array | null = null;
  readonly #views: (Float32Array | null)[];
  #width: number;

  constructor(calls: Int32Array, textCount: number, dims: number) {
    const callCount = calls.length >> 1;
    this.#calls = calls;
    this.vectors = new Array<Float32Array | null>(callCount).fill(null);
    this.tokens = new Int32Array(textCount);
    this.#views = new Array<Float32Array | null>(callCount).fill(null);
    this.#width = dims;
    if (dims > 0) {
      let floats = 0;
      for (let c = 0; c < callCount; c++) if (isPackedCall(calls[2 * c]!, dims)) floats += calls[2 * c]! * dims;
      if (floats > 0) {
        const packed = (this.#packed = new Float32Array(floats));
        for (let c = 0, off = 0; c < callCount; c++) {
          const n = calls[2 * c]! * dims;
          if (!isPackedCall(calls[2 * c]!, dims)) continue;
          this.#views[c] = packed.subarray(off, off + n);
          off += n;
        }
      }
    }
  }

  get width(): number {
    return this.#width;
  }

  /** The width of the model's output, known at each run: every run of a task has the same, so a change drops the packed layout before anything was written. */
  setWidth(width: number): void {
    if (width !== this.#width && this.#packed) {
      this.#packed = null;
      this.#views.fill(null);
    }
    this.#width = width;
  }

  /** Call `c`'s rows, row-major. */
  rows(c: number): Float32Array {
    return (this.vectors[c] ??= this.#views[c] ?? new Float32Array(this.#calls[2 * c]! * this.#width));
  }

  /** The task's answer: packed calls travel in `packed` only, and a failed call's vectors are not sent. */
  answer(errors: [number, WireError][], maxTokens: number): TaskAnswer {
    const { vectors } = this;
    const failed = new Set(errors.map(([c]) => c));
    for (let c = 0; c < vectors.length; c++) if (this.#views[c] || failed.has(c)) vectors[c] = null;
    return { vectors, packed: this.#packed, width: this.#width, maxTokens, tokens: this.tokens, errors };
  }
}

/**
 * Writes the rows of one model run, `unique[start..end)`, into their calls' outputs: each distinct
 * text pooled (and normalised) once as its call asks; a repeat in a call with the same pooling and
 * normalisation gets a copy of that row, one with other options is pooled again from the run.
 * `hidden` is the run's `[rows, seq, width]` output; `scratch` holds at least `width` doubles.
 */
export function writeRun(
  plan: TaskPlan,
  calls: Int32Array,
  start: number,
  end: number,
  hidden: ArrayLike<number>,
  mask: Uint8Array,
  seq: number,
  runTokens: readonly number[],
  out: AnswerBuilder,
  scratch: Float64Array,
): void {
  const { unique, owner, callStart, copies } = plan;
  const width = out.width;
  const tokens = out.tokens;
  for (let r = 0; r < end - start; r++) {
    const first = unique[start + r]!;
    const c = owner[first]!;
    const flags = calls[2 * c + 1]! & ROW_FLAGS;
    const row = out.rows(c);
    const at = (first - callStart[c]!) * width;
    writeRow(hidden, mask, r, seq, width, flags, row, at, scratch);
    tokens[first] = runTokens[r]!;
    const repeats = copies?.get(first);
    if (repeats === undefined) continue;
    for (const t of repeats) {
      const ct = owner[t]!;
      const flagsT = calls[2 * ct + 1]! & ROW_FLAGS;
      const dest = out.rows(ct);
      const to = (t - callStart[ct]!) * width;
      if (flagsT === flags) {
        for (let k = 0; k < width; k++) dest[to + k] = row[at + k]!;
      } else {
        writeRow(hidden, mask, r, seq, width, flagsT, dest, to, scratch);
      }
      tokens[t] = runTokens[r]!;
    }
  }
}

/**
 * One character of whitespace, where a huge text can be cut without cutting a word (not U+FEFF,
 * which JavaScript counts as whitespace and tokenizers' normalisers drop inside a word).
 */
const WHITESPACE = /^[^\S\uFEFF]$/;

/**
 * A prefix of a huge text that truncates to exactly the same tokens as the whole text, so a
 * 1 MB string costs a few kB of tokenizing. Normalisation, pre-tokenisation and the tokenizer
 * model all work word by word, and the prefix ends at a whitespace character where its last
 * quarter has one: its tokens are then the whole text's first tokens, and once it holds more
 * than the limit, truncating either gives the same. Without whitespace near the end (one
 * giant "word"), the cut falls inside a word, whose pieces then lie past the truncation point
 * as long as the word's cut changes only its last pieces.
 */
export function clipText(text: string, maxTokens: number, countTokens: (text: string) => number): string {
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
}

/** Runs smaller than this many padded tokens are mostly fixed cost: they say little of the cost per token. */
const CLOCK_MIN_TOKENS = 256;
/** The batch lane's runs are cut no smaller than this many padded tokens (or the whole budget, if smaller): tinier runs waste the model's throughput. */
export const BATCH_RUN_MIN_TOKENS = 1024;

/**
 * What a padded token costs this worker's model, learned from its runs (a moving average), so
 * that the batch lane can cut its work into runs of about `batchRunMs`: an interactive task
 * waits for the run under way, then goes first. Measured as the runs go, it follows the machine:
 * on cores shared with other work a run takes longer and the runs get smaller.
 */
export class RunClock {
  #msPerToken = 0;

  observe(paddedTokens: number, ms: number): void {
    if (paddedTokens < CLOCK_MIN_TOKENS || !(ms > 0)) return;
    const x = ms / paddedTokens;
    this.#msPerToken = this.#msPerToken === 0 ? x : 0.8 * this.#msPerToken + 0.2 * x;
  }

  /** The padded tokens a run of about `ms` holds, within `[min(BATCH_RUN_MIN_TOKENS, cap), cap]`; `cap` while nothing was measured, or for `ms` 0 (no limit). */
  tokensFor(ms: number, cap: number): number {
    if (!(ms > 0) || this.#msPerToken === 0) return cap;
    return Math.min(cap, Math.max(BATCH_RUN_MIN_TOKENS, Math.floor(ms / this.#msPerToken)));
  }

  /** The most padded tokens one run of `task` may hold: the batch lane's runs are cut to about `batchRunMs`, so an interactive task waits that long at most. */
  budget(task: Pick<EmbedTask, 'lane' | 'batchRunMs' | 'maxBatchTokens'>): number {
    return task.lane === 1 ? this.tokensFor(task.batchRunMs, task.maxBatchTokens) : task.maxBatchTokens;
  }

  /** Runs one model call over `paddedTokens` and learns from how long it took. */
  async timed<T>(paddedTokens: number, run: () => Promise<T>): Promise<T> {
    const began = performance.now();
    const result = await run();
    this.observe(paddedTokens, performance.now() - began);
    return result;
  }
}
