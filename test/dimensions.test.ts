/**
 * `dimensions`: shortened vectors, the first n components scaled back to unit length, done after
 * the answer so that the cache keeps full vectors.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError, createPool, norm, type WarmPool } from './helpers.js';

const TEXTS = ['A man is playing a guitar.', 'Someone plays an instrument.', 'The stock market fell sharply today.'];

/** The first `n` components of `v`, scaled to unit length as the pool does it (sum in double, one multiply per component). */
function cut(v: Float32Array, n: number, normalize = true): Float32Array {
  const out = v.slice(0, n);
  if (!normalize) return out;
  let sum = 0;
  for (const x of out) sum += x * x;
  if (sum === 0) return out;
  const inv = 1 / Math.sqrt(sum);
  for (let i = 0; i < n; i++) out[i] = out[i]! * inv;
  return out;
}

describe('embed(texts, { dimensions })', () => {
  let pool: WarmPool;
  beforeAll(async () => {
    pool = createPool({ threads: 1, env: false });
    await pool.ready();
  });
  afterAll(() => pool.close());

  it('answers the first n components of the full vector, scaled back to unit length', async () => {
    // Shortened first, so the vectors come fresh from a worker, then full (from the cache).
    const short = await pool.embed(TEXTS, { dimensions: 32 });
    const full = await pool.embed(TEXTS);
    expect(short).toHaveLength(3);
    short.forEach((v, i) => {
      expect(v).toHaveLength(32);
      expect(Math.abs(norm(v) - 1)).toBeLessThan(1e-6);
      expect(v).toEqual(cut(full[i]!, 32));
    });
    const one = await pool.embed(TEXTS[0]!, { dimensions: 7 });
    expect(one).toEqual(cut(full[0]!, 7));
  });

  it('is the cut full vector for 300 generated texts, widths and options, alone and in batches', async () => {
    const words = fc.array(fc.constantFrom('river', 'guitar', 'market', 'the', 'of', 'storm', 'music', 'zzqx'), { minLength: 1, maxLength: 8 }).map((w) => w.join(' '));
    await fc.assert(
      fc.asyncProperty(fc.array(words, { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 100 }), fc.boolean(), fc.constantFrom('mean' as const, 'cls' as const), async (texts, dimensions, normalize, pooling) => {
        const [short, full] = await Promise.all([pool.embed(texts, { dimensions, normalize, pooling }), pool.embed(texts, { normalize, pooling })]);
        short.forEach((v, i) => expect(v).toEqual(cut(full[i]!, dimensions, normalize)));
      }),
      { seed: 20_251_205, numRuns: 300 },
    );
  });

  it('with normalize: false, is the first n components of the raw vector', async () => {
    const raw = await pool.embed(TEXTS[1]!, { normalize: false });
    expect(await pool.embed(TEXTS[1]!, { normalize: false, dimensions: 10 })).toEqual(raw.slice(0, 10));
  });

  it('embedPacked answers [n, dimensions]; the full width and 1 are allowed', async () => {
    const packed = await pool.embedPacked(TEXTS, { dimensions: 16 });
    expect(packed.dims).toEqual([3, 16]);
    expect(packed.data).toHaveLength(48);
    expect(packed.tokens).toBe((await pool.embedPacked(TEXTS)).tokens);
    expect(await pool.embed(TEXTS[2]!, { dimensions: 100 })).toEqual(await pool.embed(TEXTS[2]!));
    const single = await pool.embed(TEXTS[2]!, { dimensions: 1 });
    expect(Math.abs(single[0]!)).toBe(1);
    expect((await pool.embedPacked([], { dimensions: 16 })).dims).toEqual([0, 16]);
  });

  it("refuses a value wider than the model, naming the model's width, before the call runs", async () => {
    const tasks = pool.stats().tasks;
    const error = await pool.embed('text', { dimensions: 101 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(/options\.dimensions is 101, but the model's vectors have 100 components/);
    expect(pool.stats().tasks).toBe(tasks);
  });

  it.each([0, -1, 1.5, NaN, Infinity, '32', null])('refuses dimensions %s', async (dimensions) => {
    const error = await pool.embed('text', { dimensions } as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(/^options\.dimensions must be an integer from 1 to the model's width/);
  });

  it('shares the cache with full-length calls: the cache holds full vectors', async () => {
    const text = 'a text only this test embeds';
    const short = await pool.embed(text, { dimensions: 20 });
    const misses = pool.stats().cacheMisses;
    const full = await pool.embed(text);
    expect(pool.stats().cacheMisses).toBe(misses);
    expect(full).toHaveLength(100);
    expect(short).toEqual(cut(full, 20));
    expect(await pool.embed(text, { dimensions: 20 })).toEqual(short);
    expect(pool.stats().cacheMisses).toBe(misses);
  });
});

describe('dimensions before the model is loaded', () => {
  it('checks the width on the answer when it was not known when the call was made', async () => {
    const pool = createPool({ threads: 1, env: false, warmup: 'lazy' });
    try {
      expect(pool.model).toBeUndefined();
      const error = await pool.embed('text', { dimensions: 500 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((error as Error).message).toMatch(/have 100 components; it must be an integer from 1 to 100/);
      expect(pool.stats().invalidInputs).toBe(1);
    } finally {
      await pool.close();
    }
  });
});
