/**
 * What callers pass to `rerank()`, `classify()` and `run()`: checked once, each option read once,
 * an unknown option an `InvalidInputError` (as for `embed()`), and the answers they get (scores
 * from the models' logits).
 */
import { isArray, read } from './caller-data.js';
import { InvalidInputError } from './errors.js';
import { checkCallControls, describeValue, normalizeTexts, preview, type CheckedEmbedOptions } from './inputs.js';
import type { Priority } from './types.js';

/** Options of `pool.rerank()`. */
export interface RerankOptions {
  /** The rerank model's name in the pool. @default the pool's first rerank model */
  model?: string;
  /** Return only the best `topN` documents. @default all of them */
  topN?: number;
  /** Scores as the model's raw logits instead of sigmoid(logit) in (0, 1). @default false */
  rawScores?: boolean;
  /** Put each document's text in its result as `document`. @default false */
  returnDocuments?: boolean;
  /** Cut (query, document) pairs longer than the model's limit (`false`: fail with `InvalidInputError`). @default true */
  truncate?: boolean;
  /** The call's lane (see `EmbedOptions.priority`). @default 'interactive' */
  priority?: Priority;
  signal?: AbortSignal;
  /** Milliseconds the call may run before `TaskTimeoutError`; overrides the model's `timeout`. */
  timeout?: number;
}

/** One document's place in a rerank: its index in the documents given, and its relevance. */
export interface RerankResult {
  index: number;
  /** sigmoid(logit) in (0, 1), higher is more relevant; the logit itself with `rawScores`. */
  score: number;
  /** The document's text, with `returnDocuments`. */
  document?: string;
}

/** Options of `pool.classify()`. */
export interface ClassifyOptions {
  /** The classify model's name in the pool. @default the pool's first classify model */
  model?: string;
  /** Return only the `topK` best labels of each text. @default every label */
  topK?: number;
  /** Scores as raw logits instead of probabilities (softmax over the labels; a sigmoid each for a one-label or multi-label model). @default false */
  rawScores?: boolean;
  truncate?: boolean;
  priority?: Priority;
  signal?: AbortSignal;
  timeout?: number;
}

/** One label of a classified text, best first. */
export interface LabelScore {
  label: string;
  score: number;
}

/** Options of `pool.run()` (a custom model's call). */
export interface RunOptions {
  priority?: Priority;
  signal?: AbortSignal;
  timeout?: number;
}

const RERANK_KEYS = ['model', 'topN', 'rawScores', 'returnDocuments', 'truncate', 'priority', 'signal', 'timeout'] as const;
const CLASSIFY_KEYS = ['model', 'topK', 'rawScores', 'truncate', 'priority', 'signal', 'timeout'] as const;
const RUN_KEYS = ['priority', 'signal', 'timeout'] as const;

/** The options every call shares (truncate, priority, signal, timeout), in the dispatcher's form. */
function callOptions(get: (key: string) => unknown, what: string, hasTruncate: boolean): CheckedEmbedOptions {
  let truncate = true;
  if (hasTruncate) {
    const t = get('truncate');
    if (t !== undefined && typeof t !== 'boolean') throw new InvalidInputError(`${what}.truncate must be a boolean, received ${describeValue(t)}`);
    truncate = t ?? true;
  }
  const { priority, signal, timeout } = checkCallControls(get, what, 'interactive');
  return { normalize: false, pooling: 'mean', truncate, dimensions: undefined, prompt: undefined, priority, signal, timeout };
}

/** Reads an options object once: each known key once, an unknown key an InvalidInputError. */
function reader(opts: unknown, keys: readonly string[], what: string): (key: string) => unknown {
  if (opts === undefined) return () => undefined;
  if (typeof opts !== 'object' || opts === null || isArray(opts) !== false) throw new InvalidInputError(`${what} must be an object, received ${describeValue(opts)}`);
  const o = opts as Record<string, unknown>;
  for (const key of read(what, () => Object.keys(o))) {
    if (!keys.includes(key)) throw new InvalidInputError(`${what} has an unknown key ${preview(key)}; the valid keys are ${keys.join(', ')}`);
  }
  const values = new Map<string, unknown>();
  for (const key of keys) values.set(key, read(`${what}.${key}`, () => o[key]));
  return (key) => values.get(key);
}

function modelName(get: (key: string) => unknown, what: string): string | undefined {
  const model = get('model');
  if (model !== undefined && typeof model !== 'string') throw new InvalidInputError(`${what}.model must be the name of a model of the pool, received ${describeValue(model)}`);
  return model as string | undefined;
}

function positiveInt(get: (key: string) => unknown, key: string, what: string): number | undefined {
  const v = get(key);
  if (v !== undefined && !(typeof v === 'number' && Number.isInteger(v) && v >= 1)) throw new InvalidInputError(`${what}.${key} must be a positive integer, received ${describeValue(v)}`);
  return v as number | undefined;
}

function bool(get: (key: string) => unknown, key: string, what: string): boolean {
  const v = get(key);
  if (v !== undefined && typeof v !== 'boolean') throw new InvalidInputError(`${what}.${key} must be a boolean, received ${describeValue(v)}`);
  return (v as boolean | undefined) ?? false;
}

export interface CheckedRerank {
  query: string;
  documents: string[];
  model: string | undefined;
  topN: number | undefined;
  rawScores: boolean;
  returnDocuments: boolean;
  opts: CheckedEmbedOptions;
}

export function checkRerank(query: unknown, documents: unknown, options: unknown): CheckedRerank {
  if (typeof query !== 'string') throw new InvalidInputError(`query must be a string, received ${describeValue(query)}`);
  let q: string;
  try {
    q = normalizeTexts(query)[0]!;
  } catch (error) {
    throw new InvalidInputError((error as Error).message.replace(/^input/, 'query'), { cause: error });
  }
  if (read('documents', () => Array.isArray(documents)) !== true) throw new InvalidInputError(`documents must be an array of strings, received ${describeValue(documents)}`);
  let docs: string[];
  try {
    docs = normalizeTexts(documents);
  } catch (error) {
    // normalizeTexts names the array `input`: here it is `documents`.
    throw new InvalidInputError((error as Error).message.replace(/^input/, 'documents'), { cause: error });
  }
  const get = reader(options, RERANK_KEYS, 'rerank options');
  return {
    query: q,
    documents: docs,
    model: modelName(get, 'rerank options'),
    topN: positiveInt(get, 'topN', 'rerank options'),
    rawScores: bool(get, 'rawScores', 'rerank options'),
    returnDocuments: bool(get, 'returnDocuments', 'rerank options'),
    opts: callOptions(get, 'rerank options', true),
  };
}

export interface CheckedClassify {
  texts: string[];
  model: string | undefined;
  topK: number | undefined;
  rawScores: boolean;
  opts: CheckedEmbedOptions;
}

export function checkClassify(input: unknown, options: unknown): CheckedClassify {
  const texts = normalizeTexts(input);
  const get = reader(options, CLASSIFY_KEYS, 'classify options');
  return {
    texts,
    model: modelName(get, 'classify options'),
    topK: positiveInt(get, 'topK', 'classify options'),
    rawScores: bool(get, 'rawScores', 'classify options'),
    opts: callOptions(get, 'classify options', true),
  };
}

export function checkRunOptions(options: unknown): CheckedEmbedOptions {
  return callOptions(reader(options, RUN_KEYS, 'run options'), 'run options', false);
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** A rerank's answer: each document's score (sigmoid of its logit unless raw), best first, ties by index. */
export function rerankResults(logits: Float32Array, c: CheckedRerank): RerankResult[] {
  const out: RerankResult[] = new Array(c.documents.length);
  for (let i = 0; i < c.documents.length; i++) {
    const logit = logits[i]!;
    const result: RerankResult = { index: i, score: c.rawScores ? logit : sigmoid(logit) };
    if (c.returnDocuments) result.document = c.documents[i]!;
    out[i] = result;
  }
  out.sort((a, b) => b.score - a.score || a.index - b.index);
  return c.topN === undefined ? out : out.slice(0, c.topN);
}

/**
 * Each text's labels, best first: softmax over the labels (sigmoid for a one-label model) unless
 * raw; `logits` holds a row of `labels.length` per text.
 */
export function classifyResults(logits: Float32Array, labels: readonly string[], c: CheckedClassify, multiLabel = false): LabelScore[][] {
  const width = labels.length;
  const out: LabelScore[][] = [];
  for (let t = 0; t < c.texts.length; t++) {
    const row = logits.subarray(t * width, (t + 1) * width);
    let scores: number[];
    if (c.rawScores) scores = Array.from(row);
    else if (width === 1 || multiLabel) scores = Array.from(row, sigmoid);
    else {
      const max = Math.max(...row);
      const exps = Array.from(row, (x) => Math.exp(x - max));
      const sum = exps.reduce((a, b) => a + b, 0);
      scores = exps.map((e) => e / sum);
    }
    const ranked = scores.map((score, k) => ({ label: labels[k]!, score })).sort((a, b) => b.score - a.score);
    out.push(c.topK === undefined ? ranked : ranked.slice(0, c.topK));
  }
  return out;
}
