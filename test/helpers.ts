import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_HOOKS_ENV, type TestHooks } from '../dist/src/test-hooks.js';

export * from '../dist/src/index.js';
export * from '../dist/src/queue/index.js';
// Internals some tests check directly (not part of the public entry points).
export { MAX_TIMER_MS, defaultThreads, resolveOptions } from '../dist/src/options.js';
export { TEST_HOOKS_ENV, type TestHooks };

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const MODELS_DIR = `${ROOT}models/`;

export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

export function norm(a: Float32Array): number {
  let s = 0;
  for (const x of a) s += x * x;
  return Math.sqrt(s);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** The model run directly through transformers.js' feature-extraction pipeline, in this process. */
export async function referencePipeline(model: string) {
  const { env, pipeline } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.localModelPath = MODELS_DIR;
  const pipe = await pipeline('feature-extraction', model, {
    dtype: 'fp32',
    session_options: { intraOpNumThreads: 1, interOpNumThreads: 1 },
  });
  return {
    async embed(texts: string[], normalize = true): Promise<Float32Array[]> {
      const out = await pipe(texts, { pooling: 'mean', normalize });
      const [rows, width] = out.dims as [number, number];
      const data = out.data as Float32Array;
      return Array.from({ length: rows }, (_, r) => data.slice(r * width, (r + 1) * width));
    },
    dispose: () => pipe.dispose(),
  };
}

/** A text of about `words` words drawn from a small vocabulary, different for each seed. */
export function sentence(seed: number, words = 12): string {
  const vocab = ['river', 'market', 'guitar', 'doctor', 'storm', 'pasta', 'football', 'engine', 'garden', 'court',
    'planet', 'violin', 'bank', 'school', 'forest', 'ocean', 'train', 'coffee', 'winter', 'camera', 'bridge', 'music'];
  const out: string[] = [];
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < words; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out.push(vocab[x % vocab.length]!);
  }
  return `${out.join(' ')} ${seed}`;
}

/** A long text for the benchmark-shaped model: a batch of these keeps a worker busy for a while. */
export const LONG_TEXT = Array.from({ length: 600 }, (_, i) => ['alpha', 'river', 'stone', 'music', 'light'][i % 5]).join(' ');
/**
 * Four different texts as long as the model takes: a call that keeps a worker busy for a while.
 * Different, because a task runs the model once for texts that repeat.
 */
export const SLOW_TEXTS = ['one', 'two', 'three', 'four'].map((word) => `${word} ${LONG_TEXT}`);

/**
 * Sets test hooks (failures on purpose; see CONTRIBUTING.md) in WARMPOOL_TEST_HOOKS, merged into
 * those set now: a hook given as undefined is removed. A worker reads them from the environment it
 * starts with, so they apply to workers started from now on, until changed.
 */
export function setTestHooks(hooks: { [K in keyof TestHooks]: TestHooks[K] | undefined }): void {
  const now = process.env[TEST_HOOKS_ENV] ? (JSON.parse(process.env[TEST_HOOKS_ENV]) as Record<string, unknown>) : {};
  const next = JSON.parse(JSON.stringify({ ...now, ...hooks })) as Record<string, unknown>;
  if (Object.keys(next).length === 0) delete process.env[TEST_HOOKS_ENV];
  else process.env[TEST_HOOKS_ENV] = JSON.stringify(next);
}

/** Removes every test hook: workers started from now on fail only by accident. */
export function clearTestHooks(): void {
  delete process.env[TEST_HOOKS_ENV];
}

/** Runs `body` with `hooks` set (see {@link setTestHooks}), and removes every hook afterwards. */
export async function withTestHooks<T>(hooks: TestHooks, body: () => Promise<T>): Promise<T> {
  setTestHooks(hooks);
  try {
    return await body();
  } finally {
    clearTestHooks();
  }
}

/**
 * A sequence-classification model (a cross-encoder, a classifier) run directly through
 * transformers.js in this process, the way a user would without warmpool: its raw logits.
 */
export async function referenceClassifier(model: string) {
  const { env, AutoTokenizer, AutoModelForSequenceClassification } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.localModelPath = MODELS_DIR;
  const options = { dtype: 'fp32', session_options: { intraOpNumThreads: 1, interOpNumThreads: 1 } } as never;
  const tokenizer = await AutoTokenizer.from_pretrained(model, options);
  const classifier = await AutoModelForSequenceClassification.from_pretrained(model, options);
  return {
    /** One row of logits per text, or per (text, pair) when `pairs` is given. */
    async logits(texts: string[], pairs?: string[]): Promise<Float32Array[]> {
      const inputs = tokenizer(texts, { text_pair: pairs ?? null, padding: true, truncation: true } as never);
      const { logits } = (await classifier(inputs)) as { logits: { data: Float32Array; dims: number[] } };
      const [rows, width] = logits.dims as [number, number];
      return Array.from({ length: rows }, (_, r) => logits.data.slice(r * width, (r + 1) * width));
    },
    dispose: () => classifier.dispose(),
  };
}

/**
 * A three-label classifier with exclusive labels (softmax) in `dir`/topics: the multi-label
 * `minilm-classify-shape` folder with named labels (sport, music, weather) and no problem_type,
 * its weights linked, not copied. Returns the folder.
 */
export function topicsClassifier(dir: string): string {
  const source = join(MODELS_DIR, 'minilm-classify-shape');
  const folder = join(dir, 'topics');
  mkdirSync(folder);
  for (const file of ['tokenizer.json', 'tokenizer_config.json']) cpSync(join(source, file), join(folder, file));
  symlinkSync(join(source, 'onnx'), join(folder, 'onnx'));
  const config = JSON.parse(readFileSync(join(source, 'config.json'), 'utf8')) as Record<string, unknown>;
  delete config.problem_type;
  config.id2label = { 0: 'sport', 1: 'music', 2: 'weather' };
  config.label2id = { sport: 0, music: 1, weather: 2 };
  writeFileSync(join(folder, 'config.json'), JSON.stringify(config));
  return folder;
}
