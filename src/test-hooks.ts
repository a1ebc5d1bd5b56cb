/**
 * Failures on purpose, for warmpool's own tests; not part of the public API (see CONTRIBUTING.md).
 *
 * One environment variable, `WARMPOOL_TEST_HOOKS`, holds a JSON object of hooks, and this module
 * is the one place that reads it: every hook is asked for here, in the thread where it acts, from
 * that thread's environment. A worker thread gets a copy of `process.env` when it starts, so a
 * hook set before a worker starts applies to it (and to no worker started after it is removed).
 */

export const TEST_HOOKS_ENV = 'WARMPOOL_TEST_HOOKS';

export interface TestHooks {
  /**
   * Embed workers: probabilities, per task, that the worker throws an uncaught error (`crash`),
   * calls process.exit() (`exit`) or spins its event loop forever (`hang`), at a random point
   * between model runs (before the first, between two, or after the last; never inside one).
   */
  readonly crash?: number;
  readonly exit?: number;
  readonly hang?: number;
  /**
   * Index workers: the request (counted from 1 by each worker) on which the worker throws an
   * uncaught error (`indexCrash`) or exits (`indexExit`), after handling it and before answering.
   */
  readonly indexCrash?: number;
  readonly indexExit?: number;
  /** An embed worker exits (code 3) while loading its model. */
  readonly loadExit?: boolean;
  /** An index worker exits (code 3) while opening the store. */
  readonly indexLoadExit?: boolean;
  /** The pool's n-th worker threads (counted from 1, in the order the pool asks for them) cannot be created. */
  readonly spawnFail?: readonly number[];
  /** The embed workers of these hosts (counted from 1 per model, as for spawnFail) fail to load their model, as a corrupt file would. */
  readonly loadFail?: readonly number[];
  /** The embed workers of these hosts (numbered as for loadFail) await forever, in JavaScript, while loading: only `loadTimeout` ends them. */
  readonly loadHang?: readonly number[];
  /** The snapshot writer kills its own process (SIGKILL) halfway through a snapshot. */
  readonly crashInSnapshot?: boolean;
  /**
   * The index worker kills its own process (SIGKILL) at this step of a re-embed migration's swap:
   * `migrated` once the new collection is complete and marked, `old-moved` once the old one is moved aside.
   */
  readonly crashInMigration?: 'migrated' | 'old-moved';
  /**
   * Index workers: collections keep no keyword index (searches find no keyword hits). Not a
   * failure: bench/compress.ts measures indexing and opening with and without it, side by side.
   */
  readonly noKeywordIndex?: boolean;
  /**
   * Index workers: milliseconds each request waits before it is handled, so that a test can close
   * the pool while the worker holds requests.
   */
  readonly indexSlow?: number;
  /**
   * Embed workers: milliseconds added inside the load's first native work (the import of
   * transformers.js), so that a test can close the pool while a worker is there.
   */
  readonly nativePause?: number;
}

const NONE: TestHooks = Object.freeze({});

const where = (key: string): string => `${TEST_HOOKS_ENV}.${key}`;
const show = (value: unknown): string => JSON.stringify(value) ?? String(value);

const probability = (key: string, v: unknown): number => {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new RangeError(`${where(key)} must be a probability from 0 to 1, received ${show(v)}`);
  return v;
};
const requestNumber = (key: string, v: unknown): number => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new RangeError(`${where(key)} must be a request number from 1, received ${show(v)}`);
  return v;
};
const milliseconds = (key: string, v: unknown): number => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new RangeError(`${where(key)} must be a whole number of milliseconds from 0, received ${show(v)}`);
  return v;
};
const flag = (key: string, v: unknown): boolean => {
  if (typeof v !== 'boolean') throw new TypeError(`${where(key)} must be true or false, received ${show(v)}`);
  return v;
};
const numbers = (key: string, v: unknown): readonly number[] => {
  if (!Array.isArray(v) || !v.every((n) => Number.isInteger(n) && n >= 1)) {
    throw new TypeError(`${where(key)} must be an array of worker numbers from 1, received ${show(v)}`);
  }
  return Object.freeze([...(v as number[])]);
};

const CHECKS: Record<keyof TestHooks, (key: string, v: unknown) => unknown> = {
  crash: probability,
  exit: probability,
  hang: probability,
  indexCrash: requestNumber,
  indexExit: requestNumber,
  loadExit: flag,
  indexLoadExit: flag,
  spawnFail: numbers,
  loadFail: numbers,
  loadHang: numbers,
  crashInSnapshot: flag,
  crashInMigration: (key, v) => {
    if (v !== 'migrated' && v !== 'old-moved') throw new TypeError(`${where(key)} must be 'migrated' or 'old-moved', received ${show(v)}`);
    return v;
  },
  noKeywordIndex: flag,
  indexSlow: milliseconds,
  nativePause: milliseconds,
};

/** The hooks in `text` (the variable's value). A typo must not quietly test nothing: any mistake throws. */
export function parseTestHooks(text: string): TestHooks {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TypeError(`${TEST_HOOKS_ENV} must hold a JSON object, received ${show(text)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${TEST_HOOKS_ENV} must hold a JSON object, received ${show(text)}`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (!Object.hasOwn(CHECKS, key)) {
      throw new TypeError(`${TEST_HOOKS_ENV} has unknown hook ${JSON.stringify(key)}; valid ones are ${Object.keys(CHECKS).join(', ')}`);
    }
    out[key] = CHECKS[key as keyof TestHooks](key, v);
  }
  return Object.freeze(out) as TestHooks;
}

let last: { text: string; hooks: TestHooks } | undefined;

/** The hooks set now in this thread's environment; none when the variable is unset or empty. */
export function testHooks(env: Readonly<Record<string, string | undefined>> = process.env): TestHooks {
  const text = env[TEST_HOOKS_ENV];
  if (text === undefined || text.trim() === '') return NONE;
  if (last?.text !== text) last = { text, hooks: parseTestHooks(text) };
  return last.hooks;
}
