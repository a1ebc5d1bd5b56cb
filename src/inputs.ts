import { isAbortSignal, isArray, read } from './caller-data.js';
import { InvalidInputError } from './errors.js';
import { MAX_TIMER_MS } from './options.js';
import { POOLINGS, PRIORITIES, type Pooling, type Priority } from './types.js';

export const preview = (text: string): string => (text.length > 40 ? `${JSON.stringify(text.slice(0, 40))}...` : JSON.stringify(text));

/** Says what a value is, for messages. Never throws, whatever the value (a revoked Proxy throws even in Array.isArray). */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'string') return `the string ${preview(value)}`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object') return isArray(value) === true ? 'an array' : 'an object';
  return `${typeof value} ${String(value)}`;
}

function checkText(text: unknown, where: string): string {
  if (typeof text !== 'string') {
    throw new InvalidInputError(`${where} must be a string, received ${describeValue(text)}`);
  }
  if (text.trim().length === 0) {
    throw new InvalidInputError(`${where} is empty or only whitespace; there is nothing to embed`);
  }
  if (!text.isWellFormed()) {
    throw new InvalidInputError(`${where} contains a lone UTF-16 surrogate and is not valid Unicode text`);
  }
  return text;
}

/**
 * Checks what a caller passed to `embed()`: a non-empty string, or an array of them (no holes).
 * An empty array is allowed and yields no vectors. Each element is read once.
 */
export function normalizeTexts(input: unknown): string[] {
  if (typeof input === 'string') return [checkText(input, 'input')];
  if (read('input', () => Array.isArray(input)) !== true) {
    throw new InvalidInputError(`input must be a string or an array of strings, received ${describeValue(input)}`);
  }
  const list = input as readonly unknown[];
  const length = read('input.length', () => list.length);
  const texts: string[] = [];
  for (let i = 0; i < length; i++) {
    const where = `input[${i}]`;
    const [present, value] = read(where, () => [i in list, list[i]] as const);
    if (!present) throw new InvalidInputError(`${where} is a hole in a sparse array; pass a dense array of strings`);
    texts.push(checkText(value, where));
  }
  return texts;
}

/** Per-call options of `embed()`. */
export interface EmbedOptions {
  /** The name of one of the pool's embedding models (`pool.models`). @default the pool's own `model` */
  model?: string;
  /** Scale each vector to unit length. @default true */
  normalize?: boolean;
  /** How token vectors are pooled into one. @default the model's pooling (`pool.model.pooling`: its `1_Pooling/config.json`, else 'mean') */
  pooling?: Pooling;
  /** Cut texts longer than the model's token limit (`false`: fail with `InvalidInputError`). @default true */
  truncate?: boolean;
  /**
   * Shortened vectors: the first `dimensions` components of each vector, scaled back to unit
   * length when `normalize` is on (Matryoshka-style). An integer from 1 to the model's width.
   * @default the model's width
   */
  dimensions?: number;
  /**
   * The name of one of the model's prompts (`pool.model.prompts`, from its
   * `config_sentence_transformers.json`): its text is put before each input.
   * @default the model's `default_prompt_name`, else none
   */
  prompt?: string;
  /**
   * The call's lane: `interactive` calls wait ahead of `batch` ones, and a worker running a batch
   * task runs a waiting interactive call between two of its model runs. Bulk work
   * (`indexStream`, large `index` calls, queue jobs) is `batch` by default.
   * @default 'interactive'
   */
  priority?: Priority;
  /** Abort the call: while waiting it leaves the queue; while running its result is discarded. */
  signal?: AbortSignal;
  /** Milliseconds the call may run before `TaskTimeoutError` (at most 2147483647, or Infinity); overrides the pool's `timeout`. */
  timeout?: number;
}

export interface CheckedEmbedOptions {
  normalize: boolean;
  pooling: Pooling;
  truncate: boolean;
  dimensions: number | undefined;
  /** The prompt name the call gave (checked against the model's prompts by the pool), or undefined. */
  prompt: string | undefined;
  priority: Priority;
  signal: AbortSignal | undefined;
  timeout: number | undefined;
}

/** The keys `embed()` options may have: any other own key is an `InvalidInputError`. */
export const EMBED_OPTION_KEYS: readonly (keyof EmbedOptions)[] = Object.freeze(['model', 'normalize', 'pooling', 'truncate', 'dimensions', 'prompt', 'priority', 'signal', 'timeout']);
const EMBED_OPTION_KEY_SET: ReadonlySet<string> = new Set(EMBED_OPTION_KEYS);

/** The options of a call that passes none: one frozen object, not one per call. */
const DEFAULT_EMBED_OPTIONS: Readonly<CheckedEmbedOptions> = Object.freeze({ normalize: true, pooling: 'mean', truncate: true, dimensions: undefined, prompt: undefined, priority: 'interactive', signal: undefined, timeout: undefined });

/**
 * The options of a call that passes none, for a model whose own pooling is `pooling`: one frozen
 * object per model, made once (see {@link checkEmbedOptions}).
 */
export function defaultEmbedOptions(pooling: Pooling): Readonly<CheckedEmbedOptions> {
  return pooling === 'mean' ? DEFAULT_EMBED_OPTIONS : Object.freeze({ ...DEFAULT_EMBED_OPTIONS, pooling });
}

/** Checks a call's options; `defaults` (from {@link defaultEmbedOptions}) give what the call leaves out. */
export function checkEmbedOptions(opts: unknown, defaults: Readonly<CheckedEmbedOptions> = DEFAULT_EMBED_OPTIONS): Readonly<CheckedEmbedOptions> {
  if (opts === undefined) return defaults;
  if (typeof opts !== 'object' || opts === null || isArray(opts) !== false) {
    throw new InvalidInputError(`embed options must be an object, received ${describeValue(opts)}`);
  }
  // Each option is read exactly once: a getter could answer a valid value to the check and
  // another one to the call.
  const o = opts as Record<string, unknown>;
  // A misspelt or unsupported option must not be ignored: the call would answer something other
  // than what was asked. Own enumerable string keys only (what a literal or a spread holds).
  const keys = read('options', () => Object.keys(o));
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    // `model` is the pool's to read (it picks the model); a runner never sees it.
    if (!EMBED_OPTION_KEY_SET.has(key) || key === 'model') {
      throw new InvalidInputError(`options has an unknown key ${preview(key)}; the valid keys are ${EMBED_OPTION_KEYS.join(', ')}`);
    }
  }
  const get = (key: keyof EmbedOptions): unknown => read(`options.${key}`, () => o[key]);
  const bool = (key: 'normalize' | 'truncate', fallback: boolean): boolean => {
    const v = get(key);
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') throw new InvalidInputError(`options.${key} must be a boolean, received ${describeValue(v)}`);
    return v;
  };
  const normalize = bool('normalize', true);
  const truncate = bool('truncate', true);
  const pooling = get('pooling');
  if (pooling !== undefined && !(POOLINGS as readonly unknown[]).includes(pooling)) {
    throw new InvalidInputError(`options.pooling must be one of ${POOLINGS.map((p) => `'${p}'`).join(', ')}, received ${describeValue(pooling)}`);
  }
  const dimensions = get('dimensions');
  if (dimensions !== undefined && !(typeof dimensions === 'number' && Number.isInteger(dimensions) && dimensions >= 1)) {
    throw new InvalidInputError(`options.dimensions must be an integer from 1 to the model's width, received ${describeValue(dimensions)}`);
  }
  const prompt = get('prompt');
  if (prompt !== undefined && typeof prompt !== 'string') {
    throw new InvalidInputError(`options.prompt must be the name of one of the model's prompts (a string), received ${describeValue(prompt)}`);
  }
  const { priority, signal, timeout } = checkCallControls(get, 'options', defaults.priority);
  return { normalize, pooling: (pooling as Pooling | undefined) ?? defaults.pooling, truncate, dimensions: dimensions as number | undefined, prompt: prompt as string | undefined, priority, signal, timeout };
}

/**
 * The options of every kind of call (embed, rerank, classify, run) that say how it runs rather
 * than what it computes: `priority`, `signal` and `timeout`, each read once through `get` and
 * named `${what}.<key>` in errors.
 */
export function checkCallControls(
  get: (key: 'priority' | 'signal' | 'timeout') => unknown,
  what: string,
  defaultPriority: Priority,
): { priority: Priority; signal: AbortSignal | undefined; timeout: number | undefined } {
  const priority = get('priority');
  if (priority !== undefined && !(PRIORITIES as readonly unknown[]).includes(priority)) {
    throw new InvalidInputError(`${what}.priority must be one of ${PRIORITIES.map((p) => `'${p}'`).join(', ')}, received ${describeValue(priority)}`);
  }
  const signal = get('signal');
  if (signal !== undefined && !isAbortSignal(signal)) {
    throw new InvalidInputError(`${what}.signal must be an AbortSignal, received ${describeValue(signal)}`);
  }
  const timeout = get('timeout');
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0 && (timeout <= MAX_TIMER_MS || timeout === Infinity))) {
    throw new InvalidInputError(`${what}.timeout must be a positive number of milliseconds up to ${MAX_TIMER_MS} or Infinity, received ${describeValue(timeout)}`);
  }
  return { priority: (priority as Priority | undefined) ?? defaultPriority, signal, timeout: timeout as number | undefined };
}
