/**
 * createPool() options for test/fuzz.test.ts: generated option sets, and an oracle that says from
 * the documented rules whether each set must be accepted (and with which resolved values) or
 * refused with a TypeError/RangeError that shows what was received.
 */
import { isAbsolute, resolve } from 'node:path';
import fc from 'fast-check';
import { expect } from 'vitest';
import {
  HOSTILE,
  HOSTILE_NOT_OPTIONS,
  MAX_TIMER_MS,
  buildObject,
  firstRead,
  hostile,
  hostileKind,
  isPlainObject,
  junk,
  valueRecipe,
  type HostileKind,
  type ValueRecipe,
} from './fuzz-arbitraries.js';
import { DTYPES, ENV_VARS, createPool, defaultThreads, type ResolvedOptions, type WarmPool } from './helpers.js';

type Rule = (v: unknown) => boolean;
const int = (min: number, max: number): Rule => (v) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
/** A positive number of milliseconds a Node timer can hold, or Infinity where allowed. */
const ms = (infinity: boolean): Rule => (v) => typeof v === 'number' && ((infinity && v === Infinity) || (v > 0 && v <= MAX_TIMER_MS));
const text: Rule = (v) => typeof v === 'string' && v.trim() !== '';
const bool: Rule = (v) => typeof v === 'boolean';
const LIMITS: Record<string, Rule> = {
  maxOldGenerationSizeMb: (v) => typeof v === 'number' && Number.isFinite(v) && v > 0,
  maxYoungGenerationSizeMb: (v) => typeof v === 'number' && Number.isFinite(v) && v > 0,
  codeRangeSizeMb: (v) => typeof v === 'number' && v > 0 && v <= 4096,
  stackSizeMb: (v) => typeof v === 'number' && v >= 1 && v <= 1024,
};
const objectOf = (rules: Record<string, Rule>): Rule => (v) => isPlainObject(v) && Object.entries(v).every(([k, x]) => k in rules && rules[k]!(x));

/** What the README and the TSDoc of each option allow (the key `threads` is judged apart). */
const RULES: Record<string, Rule> = {
  model: text,
  task: (v) => v === 'embed' || v === 'rerank' || v === 'classify',
  weightsCache: (v) => v === false || text(v),
  cacheDir: text,
  storePath: text,
  dtype: (v) => (DTYPES as readonly unknown[]).includes(v),
  allowRemoteModels: bool,
  batching: bool,
  cpuMemArena: bool,
  memPattern: bool,
  preallocate: bool,
  idleTimeout: ms(true),
  queueTimeout: ms(true),
  timeout: ms(true),
  closeTimeout: ms(true),
  healthInterval: ms(false),
  healthTimeout: (v) => typeof v === 'number' && Number.isFinite(v) && v > 0,
  loadTimeout: (v) => typeof v === 'number' && v > 0,
  recycleHeapMb: (v) => typeof v === 'number' && v > 0,
  intraOpThreads: int(1, 1024),
  concurrentTasksPerWorker: int(1, 64),
  maxQueue: int(0, Number.MAX_SAFE_INTEGER),
  batchSize: int(1, 4096),
  maxBatchSize: int(1, 65_536),
  maxBatchTokens: int(1, 2 ** 30),
  cacheBytes: int(0, Number.MAX_SAFE_INTEGER),
  retries: int(0, 100),
  maxBatchDelay: (v) => typeof v === 'number' && v >= 0 && v <= 60_000,
  batchRunMs: (v) => typeof v === 'number' && v >= 0 && v <= 60_000,
  resourceLimits: objectOf(LIMITS),
};

/** Valid values per key, so that many generated sets are accepted and their resolution checked. */
const VALID: Record<string, fc.Arbitrary<unknown>> = {
  task: fc.constantFrom('embed', 'rerank', 'classify', 'summarise', 'custom'),
  weightsCache: fc.constantFrom(false, '/tmp/warmpool-fuzz-weights', 'rel/weights', '', true),
  model: fc.constantFrom('glove-100d', 'no-such-model', './nowhere', '/tmp', 'Org/model-id', ' spaced '),
  cacheDir: fc.constantFrom('/tmp/warmpool-fuzz-cache', 'rel/dir'),
  storePath: fc.constantFrom('./.warmpool-fuzz-unused', '/tmp/warmpool-fuzz-unused', 'a\u0000b'),
  dtype: fc.constantFrom(...DTYPES, 'fp64', 'FP32'),
  allowRemoteModels: fc.boolean(),
  batching: fc.boolean(),
  cpuMemArena: fc.boolean(),
  memPattern: fc.boolean(),
  preallocate: fc.boolean(),
  idleTimeout: fc.constantFrom(1, 30_000, Infinity, MAX_TIMER_MS),
  queueTimeout: fc.constantFrom(1, 500, Infinity),
  timeout: fc.constantFrom(0.5, 60_000, Infinity),
  closeTimeout: fc.constantFrom(0.1, 10_000, Infinity),
  healthInterval: fc.constantFrom(1, 1000, MAX_TIMER_MS),
  healthTimeout: fc.constantFrom(20, 10_000),
  loadTimeout: fc.constantFrom(1, 120_000, Infinity),
  recycleHeapMb: fc.constantFrom(0.5, 512, Infinity),
  intraOpThreads: fc.integer({ min: 1, max: 1024 }),
  concurrentTasksPerWorker: fc.integer({ min: 1, max: 64 }),
  maxQueue: fc.integer({ min: 0, max: 10_000 }),
  batchSize: fc.integer({ min: 1, max: 4096 }),
  maxBatchSize: fc.integer({ min: 1, max: 65_536 }),
  maxBatchTokens: fc.integer({ min: 1, max: 2 ** 30 }),
  cacheBytes: fc.integer({ min: 0, max: 2 ** 40 }),
  retries: fc.integer({ min: 0, max: 100 }),
  maxBatchDelay: fc.double({ min: 0, max: 60_000, noNaN: true }),
  batchRunMs: fc.double({ min: 0, max: 60_000, noNaN: true }),
  resourceLimits: fc.record(
    {
      maxOldGenerationSizeMb: fc.constantFrom(64, 4096, Infinity, 0),
      maxYoungGenerationSizeMb: fc.constantFrom(16, 1e9, NaN),
      codeRangeSizeMb: fc.constantFrom(0.001, 64, 4096, 1e8),
      stackSizeMb: fc.constantFrom(0.01, 1, 4, 1024, 65_536),
    },
    { requiredKeys: [] },
  ),
};

const threadCount = fc.oneof(fc.integer({ min: 1, max: 8 }), fc.constantFrom(1024, 1025, 0, -1, 1.5, NaN, Infinity));
type ThreadsRecipe = { t: 'value'; r: ValueRecipe } | { t: 'object'; keys: Record<string, ValueRecipe> };
const threadsRecipe: fc.Arbitrary<ThreadsRecipe> = fc.oneof(
  valueRecipe(threadCount).map((r) => ({ t: 'value' as const, r })),
  fc
    .record({ min: valueRecipe(threadCount), max: valueRecipe(threadCount), mni: valueRecipe(threadCount) }, { requiredKeys: [] })
    .map((keys) => ({ t: 'object' as const, keys })),
);

const ENV_TEXT = fc.oneof(
  fc.constantFrom('1', '2', '0', '-1', '1.5', 'inf', 'Infinity', ' 3 ', '', '  ', 'true', 'false', 'yes', 'off', 'abc', '0x10', '1e3', 'NaN', 'crash=0.5', 'crash=2', 'lazy', 'eager', 'fp32', '60000', '3000000000'),
  fc.string({ maxLength: 8 }),
);
const ENV_NAMES = Object.values(ENV_VARS);
type EnvRecipe = { t: 'none' } | { t: 'junk'; v: unknown } | { t: 'vars'; vars: Record<string, ValueRecipe> };
const envRecipe: fc.Arbitrary<EnvRecipe> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ t: 'none' as const }) },
  { weight: 1, arbitrary: junk.filter((v) => v !== undefined).map((v) => ({ t: 'junk' as const, v })) },
  {
    weight: 3,
    arbitrary: fc
      .dictionary(fc.constantFrom(...ENV_NAMES), valueRecipe(ENV_TEXT), { maxKeys: 4 })
      .map((vars) => ({ t: 'vars' as const, vars })),
  },
);

export type PoolOptionsRecipe =
  | { t: 'junk'; v: unknown }
  | { t: 'hostile'; k: HostileKind }
  | { t: 'record'; keys: Record<string, ValueRecipe>; threads: ThreadsRecipe | undefined; unknown: string[]; env: EnvRecipe };

const optionKeys = fc.dictionary(fc.constantFrom(...Object.keys(RULES)), fc.constant(null), { maxKeys: 6 });
export const poolOptionsRecipe: fc.Arbitrary<PoolOptionsRecipe> = fc.oneof(
  { weight: 1, arbitrary: junk.map((v) => ({ t: 'junk' as const, v })) },
  { weight: 1, arbitrary: hostileKind.map((k) => ({ t: 'hostile' as const, k })) },
  {
    weight: 12,
    arbitrary: optionKeys
      .chain((picked) =>
        fc.record({
          keys: fc.record(Object.fromEntries(Object.keys(picked).map((k) => [k, valueRecipe(VALID[k]!)]))) as fc.Arbitrary<Record<string, ValueRecipe>>,
          threads: fc.option(threadsRecipe, { freq: 2, nil: undefined }),
          unknown: fc.array(fc.constantFrom('thread', 'maxThreads', 'timeOut', 'normalize', 'constructor', ''), { maxLength: 1 }),
          env: envRecipe,
        }),
      )
      .map((r) => ({ t: 'record' as const, ...r })),
  },
);

function buildPoolOptions(recipe: PoolOptionsRecipe): unknown {
  if (recipe.t === 'junk') return recipe.v;
  if (recipe.t === 'hostile') return hostile(recipe.k);
  const out = buildObject(recipe.keys);
  if (recipe.threads?.t === 'value') buildObject({ threads: recipe.threads.r }, out);
  if (recipe.threads?.t === 'object') out.threads = buildObject(recipe.threads.keys);
  for (const key of recipe.unknown) out[key] = 1;
  out.env = recipe.env.t === 'none' ? false : recipe.env.t === 'junk' ? recipe.env.v : buildObject(recipe.env.vars);
  // Every generated set is lazy: a pool that is accepted starts no worker.
  out.warmup = 'lazy';
  return out;
}

interface Verdict {
  /** `either` where an environment string decides and the oracle does not parse it. */
  accept: 'yes' | 'no' | 'either';
  /** Resolved values the explicit options fix. */
  expected: Partial<Record<keyof ResolvedOptions, unknown>>;
  /** The option that alone makes the set invalid, when there is exactly one. */
  culprit?: string;
}

function judge(recipe: PoolOptionsRecipe, cores: number): Verdict {
  // Any non-array object is an options object; its own keys decide, and the oracle leaves that open
  // (the resolved options are still checked against every documented range).
  if (recipe.t === 'hostile') return { accept: HOSTILE_NOT_OPTIONS.has(recipe.k) ? 'no' : 'either', expected: {} };
  if (recipe.t === 'junk') {
    const v = recipe.v;
    if (v === undefined) return { accept: 'yes', expected: {} };
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return { accept: 'no', expected: {} };
    return { accept: 'either', expected: {} };
  }
  const bad: string[] = [];
  let undecided = false;
  const expected: Verdict['expected'] = { warmup: 'lazy' };
  const explicit: Record<string, unknown> = {};
  for (const [key, r] of Object.entries(recipe.keys)) explicit[key] = firstRead(r);
  for (const key of recipe.unknown) bad.push(JSON.stringify(key));

  // The environment: consulted only for options not given explicitly.
  let env: Record<string, unknown> | undefined;
  if (recipe.env.t === 'junk') {
    const v = recipe.env.v;
    if (v !== false && (typeof v !== 'object' || v === null)) bad.push('env');
    else if (v !== false) env = v as Record<string, unknown>;
  } else if (recipe.env.t === 'vars') env = Object.fromEntries(Object.entries(recipe.env.vars).map(([k, r]) => [k, firstRead(r)]));
  const fromEnv = (name: string): void => {
    const raw = env?.[name];
    if (raw === undefined) return;
    if (typeof raw !== 'string') bad.push(name);
    else if (raw.trim() !== '') undecided = true;
  };

  for (const [key, value] of Object.entries(explicit)) {
    if (value === undefined) continue;
    // A hostile object may still read as a valid (empty) object option; its traps decide.
    if (recipe.keys[key]!.t === 'hostile' && key === 'resourceLimits') undecided = true;
    else if (value === HOSTILE || !RULES[key]!(value)) bad.push(key);
    else expected[key as keyof ResolvedOptions] = (key === 'storePath' || key === 'weightsCache') && typeof value === 'string' ? resolve(value) : value;
  }
  for (const key of Object.keys(RULES)) {
    if (key in ENV_VARS && explicit[key] === undefined) fromEnv(ENV_VARS[key as keyof typeof ENV_VARS]);
  }
  if (env?.[ENV_VARS.warmup] !== undefined && typeof env[ENV_VARS.warmup] !== 'string') {
    // warmup is always explicit here: its variable is never read, whatever it holds.
  }

  // threads: a number (min = max), or a plain { min, max } object; max defaults to min(cores, 4).
  let min: unknown;
  let max: unknown;
  const t = recipe.threads;
  let threads: unknown;
  if (t?.t === 'value' && t.r.t === 'hostile') undecided = true;
  else if (t?.t === 'value') threads = firstRead(t.r);
  else if (t?.t === 'object') threads = Object.fromEntries(Object.entries(t.keys).map(([k, r]) => [k, firstRead(r)]));
  if (typeof threads === 'number') {
    if (int(1, 1024)(threads)) min = max = threads;
    else bad.push('threads');
  } else if (isPlainObject(threads)) {
    if (Object.keys(threads).some((k) => k !== 'min' && k !== 'max')) bad.push('threads');
    for (const k of ['min', 'max'] as const) {
      // min 0 scales to zero; max is at least 1.
      if (threads[k] !== undefined && !int(k === 'min' ? 0 : 1, 1024)(threads[k])) bad.push('threads');
    }
    min = threads.min;
    max = threads.max;
  } else if (threads !== undefined) bad.push('threads');
  if (max === undefined) fromEnv(ENV_VARS.maxThreads);
  if (min === undefined) fromEnv(ENV_VARS.minThreads);
  if (!bad.includes('threads') && !undecided) {
    const maxThreads = (max as number | undefined) ?? defaultThreads(cores);
    const minThreads = (min as number | undefined) ?? maxThreads;
    if (minThreads > maxThreads) bad.push('threads');
    else Object.assign(expected, { minThreads, maxThreads });
  }
  // With an environment string the oracle does not parse, that string may be the one refused.
  if (bad.length > 0) return { accept: 'no', expected, culprit: new Set(bad).size === 1 && !undecided ? bad[0] : undefined };
  return { accept: undecided ? 'either' : 'yes', expected };
}

/** Every resolved option is within its documented range, whatever the input was. */
function checkResolved(o: ResolvedOptions): void {
  expect(Object.isFrozen(o)).toBe(true);
  for (const [key, rule] of Object.entries(RULES)) {
    const value = o[key as keyof ResolvedOptions];
    if (value === undefined && (key === 'cacheDir' || key === 'resourceLimits')) continue;
    if (!rule(value)) throw new Error(`resolved ${key} is out of its documented range: ${fc.stringify(value)}`);
  }
  expect(int(0, 1024)(o.minThreads) && int(1, 1024)(o.maxThreads) && o.minThreads <= o.maxThreads).toBe(true);
  expect(isAbsolute(o.storePath)).toBe(true);
  expect(o.warmup).toBe('lazy');
}

type Settle = (call: () => unknown) => Promise<{ ok: true; value: unknown } | { ok: false; error: unknown }>;

export async function checkPoolOptions(recipe: PoolOptionsRecipe, cores: number, settle: Settle): Promise<void> {
  const verdict = judge(recipe, cores);
  const options = buildPoolOptions(recipe);
  let pool: WarmPool | undefined;
  let error: unknown;
  try {
    pool = createPool(options as never);
  } catch (e) {
    error = e;
  }
  if (error !== undefined) {
    if (!(error instanceof TypeError || error instanceof RangeError)) throw new Error(`createPool threw ${String(error)}, not a TypeError or RangeError`);
    if (verdict.accept === 'yes') throw new Error(`createPool refused valid options: ${error.message}`);
    // The message shows the value received (or names the unknown key, or both sides of a conflict).
    expect(error.message).toMatch(/received|unknown (option|resource limit) "|must not exceed|could not be read/);
    if (verdict.culprit) expect(error.message).toContain(verdict.culprit === 'threads' ? 'threads' : verdict.culprit);
    return;
  }
  if (verdict.accept === 'no') throw new Error(`createPool accepted invalid options; resolved ${fc.stringify(pool!.options)}`);
  const resolved = pool!.options;
  try {
    checkResolved(resolved);
    for (const [key, value] of Object.entries(verdict.expected)) expect(resolved[key as keyof ResolvedOptions]).toEqual(value);
    // Lazy: nothing started, and closing answers at once.
    expect(['idle', 'failed']).toContain(pool!.state);
    expect(pool!.stats().modelLoads).toBe(0);
  } finally {
    const closed = await settle(() => pool!.close());
    expect(closed.ok).toBe(true);
  }
}
