/**
 * Property-based fuzzing of everything a caller can pass in: `embed()` inputs and per-call
 * options, `createPool()` options, and collection calls (index, search, get, delete).
 *
 * The property, for every generated call: it ends in a correct result (right count and
 * dimension, finite numbers, unit length when normalised, bit-identical to the same text embedded
 * alone) or in a typed error (a `WarmpoolError` with a known code; `TypeError`/`RangeError` showing
 * the value received for `createPool` and collection settings). Never a synchronous throw, a hang,
 * a dead worker or a silently wrong vector. After the run the pool must show no worker exit,
 * crash, hang or restart, and still answer an ordinary call exactly as before.
 *
 * 10,460 generated cases in all (the sum of RUNS below), from a fixed seed: a failure prints its
 * seed and path, and `WARMPOOL_FUZZ_SEED=<n>` replays another seed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HOSTILE_NOT_OPTIONS,
  MAX_TIMER_MS,
  anyText,
  buildObject,
  firstRead,
  hostile,
  hostileKind,
  isObjectArg,
  isValidText,
  junk,
  longText,
  valueRecipe,
  words,
  type HostileKind,
  type ValueRecipe,
} from './fuzz-arbitraries.js';
import { checkPoolOptions, poolOptionsRecipe, type PoolOptionsRecipe } from './fuzz-pool-options.js';
import { collectionCases } from './fuzz-collections.js';
import { ENV_VARS, ErrorCodes, WarmpoolError, createPool, type WarmPool } from './helpers.js';

const SEED = Number(process.env.WARMPOOL_FUZZ_SEED ?? 20_240_611);
/** Generated cases per property; their sum is the count the header and README give. */
const RUNS = {
  strings: 2_500,
  longTexts: 40,
  arrays: 1_500,
  hugeArrays: 8,
  junkInputs: 1_500,
  embedOptions: 1_800,
  concurrent: 300,
  poolOptions: 2_200,
  collections: 612,
} as const;
/** A call that has not answered after this long has hung (generous: other jobs share the cores). */
const HANG_MS = 30_000;
const DIMS = 100;
const KNOWN_CODES: readonly string[] = Object.values(ErrorCodes);

class Hang extends Error {}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Runs a call that must return a promise (never throw) and must settle within HANG_MS. */
async function settle(call: () => unknown): Promise<Outcome> {
  let promise: unknown;
  try {
    promise = call();
  } catch (error) {
    throw new Error(`threw synchronously instead of rejecting: ${show(error)}`);
  }
  if (!(promise instanceof Promise)) throw new Error(`returned ${show(promise)} instead of a promise`);
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Hang(`no answer within ${HANG_MS} ms`)), HANG_MS);
  });
  try {
    return { ok: true, value: await Promise.race([promise, hang]) };
  } catch (error) {
    if (error instanceof Hang) throw error;
    return { ok: false, error };
  } finally {
    clearTimeout(timer);
  }
}

function show(value: unknown): string {
  try {
    return value instanceof Error ? `${value.name}: ${value.message}` : fc.stringify(value);
  } catch {
    return '(unprintable)';
  }
}

/** The error is a WarmpoolError with one of `codes` (all of them known codes) and a message. */
function expectTyped(outcome: Outcome, codes: readonly string[], message?: RegExp): void {
  if (outcome.ok) throw new Error(`expected an error with code ${codes.join(' or ')}, got a result`);
  const error = outcome.error;
  if (!(error instanceof WarmpoolError)) throw new Error(`expected a WarmpoolError, got ${show(error)}`);
  expect(KNOWN_CODES).toContain(error.code);
  expect(codes).toContain(error.code);
  expect(typeof error.message).toBe('string');
  expect(error.message.length).toBeGreaterThan(0);
  if (message) expect(error.message).toMatch(message);
}

function checkVector(v: unknown, normalize: boolean, length = DIMS): Float32Array {
  expect(v).toBeInstanceOf(Float32Array);
  const vector = v as Float32Array;
  expect(vector.length).toBe(length);
  let sum = 0;
  for (const x of vector) {
    if (!Number.isFinite(x)) throw new Error(`vector holds a non-finite number: ${x}`);
    sum += x * x;
  }
  // A text with no known word embeds to the zero vector, which stays zero (documented).
  if (normalize && sum !== 0) expect(Math.abs(Math.sqrt(sum) - 1)).toBeLessThan(1e-5);
  return vector;
}

const bytes = (v: Float32Array): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
function expectSame(a: Float32Array, b: Float32Array, what: string): void {
  if (!bytes(a).equals(bytes(b))) throw new Error(`${what}: vectors differ`);
}

interface CleanOptions {
  normalize: boolean;
  pooling: 'mean' | 'cls';
  truncate: boolean;
}
const cleanOptions = fc.record({ normalize: fc.boolean(), pooling: fc.constantFrom('mean' as const, 'cls' as const), truncate: fc.boolean() });

const store = mkdtempSync(join(tmpdir(), 'warmpool-fuzz-'));
let pool: WarmPool;
let before: Float32Array;
const PROBE = 'A man is playing a guitar.';

beforeAll(async () => {
  // One pool for every property. No cache: a repeated text must reach the model again, so that
  // "bit-identical to the text embedded alone" compares two real model runs, not a cache hit.
  pool = createPool({ threads: 2, cacheBytes: 0, storePath: store, env: false });
  await pool.ready();
  before = (await pool.embed(PROBE)).slice();
});

afterAll(async () => {
  await pool?.close();
  rmSync(store, { recursive: true, force: true });
});

/** Embeds `text` alone with `options` and checks that `vector` is exactly that. */
async function expectSameAsAlone(vector: Float32Array, text: string, options: CleanOptions, what: string): Promise<void> {
  const alone = await settle(() => pool.embed(text, options));
  if (!alone.ok) throw new Error(`${what}: the text alone failed: ${show(alone.error)}`);
  expectSame(vector, alone.value as Float32Array, what);
}

/** One text, alone and among others: a correct vector, the same both ways, or InvalidInputError. */
async function checkText(text: string, options: CleanOptions, fillers: string[], at: number): Promise<void> {
  const alone = await settle(() => pool.embed(text, options));
  if (!isValidText(text)) {
    expectTyped(alone, [ErrorCodes.INVALID_INPUT], /^input /);
    return;
  }
  if (!alone.ok && !options.truncate) {
    // Too long for the model without truncation: named, with its token count.
    expectTyped(alone, [ErrorCodes.INVALID_INPUT], /^input\[0\] has \d+ tokens; the model takes at most 512/);
    const cut = await settle(() => pool.embed(text, { ...options, truncate: true }));
    expect(cut.ok).toBe(true);
    return;
  }
  if (!alone.ok) throw new Error(`a valid text failed: ${show(alone.error)}`);
  const vector = checkVector(alone.value, options.normalize);
  // The same text among others (other lengths, so sorted and padded differently) embeds the same.
  const batch = [...fillers];
  const index = at % (batch.length + 1);
  batch.splice(index, 0, text);
  const together = await settle(() => pool.embed(batch, options));
  if (!together.ok) throw new Error(`the text in a batch failed: ${show(together.error)}`);
  const vectors = together.value as Float32Array[];
  expect(vectors).toHaveLength(batch.length);
  expectSame(vectors[index]!, vector, 'the text alone and in a batch');
}

describe('embed(): strings', () => {
  it(`answers ${RUNS.strings} generated strings with a correct vector or InvalidInputError`, async () => {
    await fc.assert(
      fc.asyncProperty(anyText, cleanOptions, fc.array(words, { maxLength: 4 }), fc.nat(), checkText),
      { seed: SEED, numRuns: RUNS.strings },
    );
  }, 300_000);

  it(`answers ${RUNS.longTexts} texts of 2 KB to 300 KB (far past 512 tokens) the same way`, async () => {
    await fc.assert(
      fc.asyncProperty(longText, cleanOptions, fc.array(words, { maxLength: 2 }), fc.nat(), checkText),
      { seed: SEED + 8, numRuns: RUNS.longTexts },
    );
  }, 300_000);
});

/** One element of a generated input array. */
type Piece =
  | { t: 'text'; s: string }
  | { t: 'junk'; v: unknown }
  | { t: 'hostile'; k: HostileKind }
  | { t: 'hole' }
  | { t: 'nested'; s: string[] };

const piece: fc.Arbitrary<Piece> = fc.oneof(
  { weight: 12, arbitrary: anyText.map((s) => ({ t: 'text' as const, s })) },
  { weight: 2, arbitrary: junk.map((v) => ({ t: 'junk' as const, v })) },
  { weight: 1, arbitrary: hostileKind.map((k) => ({ t: 'hostile' as const, k })) },
  { weight: 1, arbitrary: fc.constant({ t: 'hole' as const }) },
  { weight: 1, arbitrary: fc.array(words, { maxLength: 2 }).map((s) => ({ t: 'nested' as const, s })) },
);

function buildArray(pieces: Piece[]): unknown[] {
  const out: unknown[] = [];
  pieces.forEach((p, i) => {
    if (p.t === 'hole') out.length = i + 1;
    else out[i] = p.t === 'text' ? p.s : p.t === 'junk' ? p.v : p.t === 'hostile' ? hostile(p.k) : [...p.s];
  });
  return out;
}

const pieceValid = (p: Piece): boolean => (p.t === 'text' ? isValidText(p.s) : p.t === 'junk' ? isValidText(p.v) : false);
/** The text of a valid piece. */
const pieceText = (p: Piece): string => (p.t === 'text' ? p.s : ((p as { v: unknown }).v as string));

/** Checks an array call against its pieces: every vector right, or the first bad element named. */
async function checkArrayCall(pieces: Piece[], options: CleanOptions, sample: number): Promise<void> {
  const result = await settle(() => pool.embed(buildArray(pieces) as string[], options));
  const firstBad = pieces.findIndex((p) => !pieceValid(p));
  if (firstBad >= 0) {
    expectTyped(result, [ErrorCodes.INVALID_INPUT], new RegExp(`^input\\[${firstBad}\\] `));
    return;
  }
  if (!result.ok) {
    expect(options.truncate).toBe(false);
    expectTyped(result, [ErrorCodes.INVALID_INPUT], /^input\[\d+\] has \d+ tokens/);
    return;
  }
  const vectors = result.value as Float32Array[];
  expect(Array.isArray(vectors)).toBe(true);
  expect(vectors).toHaveLength(pieces.length);
  vectors.forEach((v) => checkVector(v, options.normalize));
  // Every vector, or an evenly spread sample of a huge array, equals its text embedded alone.
  const step = Math.max(1, Math.floor(pieces.length / sample));
  for (let i = 0; i < pieces.length; i += step) {
    const p = pieces[i]!;
    await expectSameAsAlone(vectors[i]!, pieceText(p), options, `input[${i}]`);
  }
}

describe('embed(): arrays', () => {
  it(`answers ${RUNS.arrays} generated arrays (mixed types, holes, nesting, hostile elements) correctly`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 12 }), cleanOptions, async (pieces, options) => {
        await checkArrayCall(pieces, options, 12);
      }),
      { seed: SEED + 1, numRuns: RUNS.arrays },
    );
  }, 300_000);

  it(`answers ${RUNS.hugeArrays} huge arrays (up to 20,000 texts), one bad element at most`, async () => {
    const huge = fc
      .tuple(fc.integer({ min: 2_000, max: 20_000 }), fc.array(words, { minLength: 1, maxLength: 50 }), fc.option(fc.tuple(fc.nat(), piece), { freq: 2 }))
      .map(([length, texts, bad]) => {
        const pieces: Piece[] = Array.from({ length }, (_, i) => ({ t: 'text' as const, s: texts[i % texts.length]! }));
        if (bad) pieces[bad[0] % length] = bad[1];
        return pieces;
      });
    await fc.assert(
      fc.asyncProperty(huge, cleanOptions, async (pieces, options) => {
        await checkArrayCall(pieces, options, 16);
      }),
      { seed: SEED + 2, numRuns: RUNS.hugeArrays },
    );
  }, 300_000);
});

describe('embed(): junk input', () => {
  const input = fc.oneof(
    { weight: 4, arbitrary: junk.map((v) => ({ t: 'junk' as const, v })) },
    { weight: 2, arbitrary: hostileKind.map((k) => ({ t: 'hostile' as const, k })) },
  );
  it(`answers ${RUNS.junkInputs} non-string inputs (objects, Symbols, BigInt, functions, typed arrays, Proxies) with InvalidInputError`, async () => {
    await fc.assert(
      fc.asyncProperty(input, fc.boolean(), async (recipe, packed) => {
        const value = recipe.t === 'junk' ? recipe.v : hostile(recipe.k);
        const result = await settle(() => (packed ? pool.embedPacked(value as string) : pool.embed(value as string)));
        if (recipe.t === 'junk' && isValidText(recipe.v)) {
          expect(result.ok).toBe(true);
          return;
        }
        if (recipe.t === 'junk' && Array.isArray(recipe.v) && recipe.v.length === 0) {
          expect(result.ok).toBe(true); // an empty array is no texts, no vectors
          return;
        }
        if (recipe.t === 'junk' && Array.isArray(recipe.v) && Object.keys(recipe.v).length === recipe.v.length && recipe.v.every(isValidText)) {
          expect(result.ok).toBe(true);
          return;
        }
        expectTyped(result, [ErrorCodes.INVALID_INPUT], /^input/);
      }),
      { seed: SEED + 3, numRuns: RUNS.junkInputs },
    );
  }, 300_000);
});

/** Per-call options as recipes: each key valid, junk, hostile, throwing or changing between reads. */
const SIGNALS = ['live', 'aborted', 'abort-soon'] as const;
type SignalRecipe = { signal: (typeof SIGNALS)[number] };
const embedOptionsRecipe = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ t: 'none' as const }) },
  { weight: 2, arbitrary: junk.map((v) => ({ t: 'junk' as const, v })) },
  { weight: 1, arbitrary: hostileKind.map((k) => ({ t: 'hostile' as const, k })) },
  {
    weight: 10,
    arbitrary: fc
      .record(
        {
          normalize: valueRecipe(fc.boolean()),
          pooling: valueRecipe(fc.constantFrom('mean', 'cls', 'max', 'MEAN', '', ' mean')),
          truncate: valueRecipe(fc.boolean()),
          dimensions: valueRecipe(fc.constantFrom(1, 2, 16, 99, 100, 101, 0, 1.5, '8')),
          timeout: valueRecipe(fc.oneof(fc.constantFrom(Infinity, 60_000, MAX_TIMER_MS, MAX_TIMER_MS + 1, 1e12, 0.5, 5), fc.integer({ min: 1, max: 120_000 }))),
          signal: valueRecipe(fc.constantFrom(...SIGNALS).map((signal): SignalRecipe => ({ signal }))),
          extra: valueRecipe(junk),
        },
        { requiredKeys: [] },
      )
      .map((keys) => ({ t: 'record' as const, keys })),
  },
);
type EmbedOptionsRecipe = typeof embedOptionsRecipe extends fc.Arbitrary<infer T> ? T : never;

const isSignalRecipe = (v: unknown): v is SignalRecipe => typeof v === 'object' && v !== null && SIGNALS.includes((v as SignalRecipe).signal);

function makeSignal(r: SignalRecipe): AbortSignal {
  if (r.signal === 'aborted') return AbortSignal.abort(new Error('aborted before the call'));
  const controller = new AbortController();
  if (r.signal === 'abort-soon') setTimeout(() => controller.abort(), Math.random() * 3);
  return controller.signal;
}

/** Replaces signal recipes by real signals, wherever a read of `signal` would see them. */
function buildEmbedOptions(r: EmbedOptionsRecipe): unknown {
  if (r.t === 'none') return undefined;
  if (r.t === 'junk') return r.v;
  if (r.t === 'hostile') return hostile(r.k);
  const keys = { ...r.keys } as Record<string, ValueRecipe>;
  const s = keys.signal;
  if (s?.t === 'plain' && isSignalRecipe(s.v)) keys.signal = { t: 'plain', v: makeSignal(s.v) };
  if (s?.t === 'flip' && isSignalRecipe(s.first)) keys.signal = { t: 'flip', first: makeSignal(s.first), then: s.then };
  if (s?.t === 'flip' && isSignalRecipe(s.then)) keys.signal = { ...(keys.signal as { t: 'flip'; first: unknown }), then: makeSignal(s.then) };
  return buildObject(keys);
}

/** The keys embed options may have. */
const EMBED_OPTION_NAMES: ReadonlySet<string> = new Set(['normalize', 'pooling', 'truncate', 'dimensions', 'prompt', 'timeout', 'signal']);
/** Hostile values that have own string keys (or whose keys cannot be listed): as options, an unknown key. */
const HOSTILE_WITH_KEYS: ReadonlySet<HostileKind> = new Set(['getter-throws', 'proxy-keys-throws', 'tostring-throws', 'tojson-throws', 'throws-non-error']);

type Expected =
  | { valid: false }
  | { valid: true; options: CleanOptions; dimensions: number | undefined; tooWide: boolean; signal: SignalRecipe['signal'] | undefined; timeout: number | undefined };

/** What the documented rules make of per-call options, judged on what a single read sees. */
function expectedEmbedOptions(r: EmbedOptionsRecipe): Expected {
  let keys: Record<string, unknown>;
  if (r.t === 'none') keys = {};
  else if (r.t === 'hostile') {
    if (HOSTILE_NOT_OPTIONS.has(r.k) || HOSTILE_WITH_KEYS.has(r.k)) return { valid: false };
    keys = {};
  }
  else if (r.t === 'junk') {
    if (r.v === undefined) keys = {};
    else if (!isObjectArg(r.v)) return { valid: false };
    else keys = r.v;
  } else keys = Object.fromEntries(Object.entries(r.keys).map(([k, v]) => [k, firstRead(v)]));
  // An own key that is no option is refused (junk is plain data: listing its keys is safe).
  if (Object.keys(keys).some((k) => !EMBED_OPTION_NAMES.has(k))) return { valid: false };
  const { normalize = true, pooling = 'mean', truncate = true, timeout, signal, dimensions } = keys as Record<string, unknown>;
  if (typeof normalize !== 'boolean' || typeof truncate !== 'boolean') return { valid: false };
  if (pooling !== 'mean' && pooling !== 'cls') return { valid: false };
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0 && (timeout <= MAX_TIMER_MS || timeout === Infinity))) return { valid: false };
  if (signal !== undefined && !isSignalRecipe(signal)) return { valid: false };
  if (dimensions !== undefined && !(typeof dimensions === 'number' && Number.isInteger(dimensions) && dimensions >= 1)) return { valid: false };
  // Wider than the model: refused once the call may run (an aborted signal is said first).
  const tooWide = typeof dimensions === 'number' && dimensions > DIMS;
  return { valid: true, options: { normalize, pooling, truncate }, dimensions: dimensions as number | undefined, tooWide, signal: signal?.signal, timeout: timeout as number | undefined };
}

describe('embed(): per-call options', () => {
  it(`answers ${RUNS.embedOptions} generated option objects as documented, or with InvalidInputError`, async () => {
    await fc.assert(
      fc.asyncProperty(words, embedOptionsRecipe, async (text, recipe) => {
        const expected = expectedEmbedOptions(recipe);
        const result = await settle(() => pool.embed(text, buildEmbedOptions(recipe) as never));
        if (!expected.valid) {
          expectTyped(result, [ErrorCodes.INVALID_INPUT], /options/);
          return;
        }
        if (expected.signal === 'aborted') {
          expectTyped(result, [ErrorCodes.ABORTED]);
          return;
        }
        if (expected.tooWide) {
          expectTyped(result, [ErrorCodes.INVALID_INPUT], /options\.dimensions is \d+, but the model's vectors have 100 components/);
          return;
        }
        // A signal that fires during the call, or a timeout of less than a second, may win the race.
        const mayFail: string[] = [];
        if (expected.signal === 'abort-soon') mayFail.push(ErrorCodes.ABORTED);
        if (expected.timeout !== undefined && expected.timeout < 1_000) mayFail.push(ErrorCodes.TASK_TIMEOUT);
        if (!result.ok && mayFail.length > 0) {
          expectTyped(result, mayFail);
          return;
        }
        if (!result.ok) throw new Error(`valid options failed: ${show(result.error)}`);
        const { dimensions } = expected;
        const vector = checkVector(result.value, expected.options.normalize, dimensions ?? DIMS);
        if (dimensions === undefined) {
          await expectSameAsAlone(vector, text, expected.options, 'with these options and alone with clean ones');
          return;
        }
        // Shortened: the first components of the full vector, scaled back to unit length.
        const full = await settle(() => pool.embed(text, expected.options));
        if (!full.ok) throw new Error(`the text alone failed: ${show(full.error)}`);
        const want = (full.value as Float32Array).slice(0, dimensions);
        let sum = 0;
        for (const x of want) sum += x * x;
        if (expected.options.normalize && sum > 0) {
          const inv = 1 / Math.sqrt(sum);
          for (let i = 0; i < dimensions; i++) want[i] = want[i]! * inv;
        }
        expectSame(vector, want, `dimensions ${dimensions}: the first components of the full vector`);
      }),
      { seed: SEED + 4, numRuns: RUNS.embedOptions },
    );
  }, 300_000);
});

describe('embed(): concurrent calls coalesced into shared tasks', () => {
  const call = fc.tuple(fc.oneof({ weight: 4, arbitrary: fc.array(piece, { maxLength: 5 }) }, { weight: 1, arbitrary: anyText.map((s) => s) }), cleanOptions);
  it(`answers ${RUNS.concurrent} groups of concurrent calls each on its own merits`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(call, { minLength: 2, maxLength: 8 }), async (calls) => {
        // Made in the same tick, so they share tasks: one caller's bad input must not fail another.
        const results = await Promise.all(calls.map(([input, options]) => settle(() => pool.embed((typeof input === 'string' ? input : buildArray(input)) as string, options))));
        for (let c = 0; c < calls.length; c++) {
          const [input, options] = calls[c]!;
          const result = results[c]!;
          const pieces: Piece[] = typeof input === 'string' ? [{ t: 'text', s: input }] : input;
          const valid = pieces.every(pieceValid);
          if (!valid) {
            expectTyped(result, [ErrorCodes.INVALID_INPUT]);
            continue;
          }
          if (!result.ok) {
            expect(options.truncate).toBe(false);
            expectTyped(result, [ErrorCodes.INVALID_INPUT], /has \d+ tokens/);
            continue;
          }
          const vectors = typeof input === 'string' ? [result.value as Float32Array] : (result.value as Float32Array[]);
          expect(vectors).toHaveLength(pieces.length);
          for (let i = 0; i < pieces.length; i++) {
            await expectSameAsAlone(checkVector(vectors[i], options.normalize), pieceText(pieces[i]!), options, `call ${c}, text ${i}`);
          }
        }
      }),
      { seed: SEED + 5, numRuns: RUNS.concurrent },
    );
  }, 300_000);
});

describe('createPool(): options', () => {
  it(`accepts ${RUNS.poolOptions} generated option sets exactly as documented, or throws TypeError/RangeError showing the value`, async () => {
    // A top-level junk object accepted as options reads the environment: keep such pools lazy too.
    expect(Object.values(ENV_VARS).filter((name) => process.env[name] !== undefined)).toEqual([]);
    process.env.WARMPOOL_WARMUP = 'lazy';
    try {
      await fc.assert(
        fc.asyncProperty(poolOptionsRecipe, async (recipe: PoolOptionsRecipe) => {
          await checkPoolOptions(recipe, availableParallelism(), settle);
        }),
        { seed: SEED + 6, numRuns: RUNS.poolOptions },
      );
    } finally {
      delete process.env.WARMPOOL_WARMUP;
    }
  }, 300_000);
});

const cases = collectionCases(() => pool, settle, expectTyped);

describe('collections: index, search, get, delete', () => {
  it(`answers ${RUNS.collections} generated collection calls correctly or with a typed error, and keeps exactly what it acknowledged`, async () => {
    await fc.assert(
      fc.asyncProperty(cases.arbitrary, async (op) => {
        await cases.check(op);
      }),
      { seed: SEED + 7, numRuns: RUNS.collections },
    );
    await cases.verifyAll();
  }, 300_000);
});

describe('after the run', () => {
  it('ran the number of generated cases the header and README give', () => {
    expect(Object.values(RUNS).reduce((sum, n) => sum + n, 0)).toBe(10_460);
  });

  it('no worker exited, crashed, hung or restarted, the counters add up, and an ordinary call answers as before', async () => {
    const health = pool.health();
    expect(health.status).toBe('healthy');
    expect(health.restarts).toBe(0);
    expect(health.warm).toBe(2);
    expect(health.workers.map((w) => w.phase)).toEqual(['ready', 'ready']);
    const s = pool.stats();
    expect(s.workerCrashes).toBe(0);
    expect(s.workersHung).toBe(0);
    expect(s.loadFailures).toBe(0);
    expect(s.retries).toBe(0);
    expect(s.recycled).toBe(0);
    expect(s.modelLoads).toBe(2);
    expect(s.workers.filter((w) => w.state === 'exited')).toEqual([]);
    // Calls that gave up (abort, timeout) may leave their task running a moment longer.
    await expect.poll(() => pool.stats().inFlight, { timeout: 10_000 }).toBe(0);
    const rest = pool.stats();
    expect(rest.queued).toBe(0);
    expect(rest.requests).toBe(rest.completed + rest.errors + rest.rejected);
    expectSame((await pool.embed(PROBE)).slice(), before, 'the probe text before and after the run');
  });

  it('the store, closed and reopened, holds exactly the acknowledged documents', async () => {
    await pool.close();
    await cases.verifyReopened(store);
  });
});
