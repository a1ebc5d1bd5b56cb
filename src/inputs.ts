import { InvalidInputError } from './errors.js';
import { POOLINGS, type Pooling } from './options.js';

const preview = (text: string): string => (text.length > 40 ? `${JSON.stringify(text.slice(0, 40))}...` : JSON.stringify(text));

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${preview(value)}`;
  if (typeof value === 'object') return `an object`;
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
 * An empty array is allowed and yields no vectors.
 */
export function normalizeTexts(input: unknown): string[] {
  if (typeof input === 'string') return [checkText(input, 'input')];
  if (!Array.isArray(input)) {
    throw new InvalidInputError(`input must be a string or an array of strings, received ${describeValue(input)}`);
  }
  const texts = new Array<string>(input.length);
  for (let i = 0; i < input.length; i++) {
    if (!(i in input)) throw new InvalidInputError(`input[${i}] is a hole in a sparse array; pass a dense array of strings`);
    texts[i] = checkText(input[i], `input[${i}]`);
  }
  return texts;
}

/** Per-call options of `embed()`. */
export interface EmbedOptions {
  /** Scale each vector to unit length. @default true */
  normalize?: boolean;
  /** How token vectors are pooled into one. @default 'mean' */
  pooling?: Pooling;
  /** Cut texts longer than the model's token limit (`false`: fail with `InvalidInputError`). @default true */
  truncate?: boolean;
  /** Abort the call: while waiting it leaves the queue; while running its result is discarded. */
  signal?: AbortSignal;
  /** Milliseconds the call may run before `TaskTimeoutError`; overrides the pool's `timeout`. */
  timeout?: number;
}

export interface CheckedEmbedOptions {
  normalize: boolean;
  pooling: Pooling;
  truncate: boolean;
  signal: AbortSignal | undefined;
  timeout: number | undefined;
}

export function checkEmbedOptions(opts: unknown): CheckedEmbedOptions {
  if (opts === undefined) return { normalize: true, pooling: 'mean', truncate: true, signal: undefined, timeout: undefined };
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw new InvalidInputError(`embed options must be an object, received ${describeValue(opts)}`);
  }
  const o = opts as EmbedOptions;
  const bool = (key: 'normalize' | 'truncate', fallback: boolean): boolean => {
    const v = o[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') throw new InvalidInputError(`options.${key} must be a boolean, received ${describeValue(v)}`);
    return v;
  };
  if (o.pooling !== undefined && !POOLINGS.includes(o.pooling)) {
    throw new InvalidInputError(`options.pooling must be one of ${POOLINGS.map((p) => `'${p}'`).join(', ')}, received ${describeValue(o.pooling)}`);
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw new InvalidInputError(`options.signal must be an AbortSignal, received ${describeValue(o.signal)}`);
  }
  if (o.timeout !== undefined && !(typeof o.timeout === 'number' && o.timeout > 0)) {
    throw new InvalidInputError(`options.timeout must be a positive number of milliseconds, received ${describeValue(o.timeout)}`);
  }
  return {
    normalize: bool('normalize', true),
    pooling: o.pooling ?? 'mean',
    truncate: bool('truncate', true),
    signal: o.signal,
    timeout: o.timeout,
  };
}
