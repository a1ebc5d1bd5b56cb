import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError, WarmpoolError, createPool, norm, type WarmPool } from './helpers.js';

describe('bad input', () => {
  let pool: WarmPool;
  beforeAll(async () => {
    pool = createPool({ threads: 1 });
    await pool.ready();
  });
  afterAll(() => pool.close());

  const sparse = ['a', 'b'];
  sparse.length = 4;
  sparse[3] = 'd';
  const cases: [string, unknown, RegExp][] = [
    ['null', null, /input must be a string or an array of strings, received null/],
    ['undefined', undefined, /received undefined/],
    ['a number', 42, /received number 42/],
    ['an object', { text: 'hi' }, /received an object/],
    ['a boolean', true, /received boolean true/],
    ['an array holding a number', ['ok', 7], /input\[1\] must be a string, received number 7/],
    ['an array holding null', ['ok', null], /input\[1\] must be a string, received null/],
    ['a nested array', [['x']], /input\[0\] must be a string, received an array/],
    ['an array with holes', sparse, /input\[2\] is a hole in a sparse array/],
    ['an empty string', '', /input is empty or only whitespace/],
    ['a whitespace-only string', ' \n\t ', /input is empty or only whitespace/],
    ['an empty string in an array', ['fine', ''], /input\[1\] is empty/],
    ['a lone high surrogate', 'bad \uD800 text', /lone UTF-16 surrogate/],
    ['a lone low surrogate in an array', ['ok', '\uDC00'], /input\[1\] contains a lone UTF-16 surrogate/],
  ];

  it.each(cases)('rejects %s with InvalidInputError', async (_name, input, message) => {
    const error = await pool.embed(input as string).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error).toBeInstanceOf(WarmpoolError);
    expect((error as InvalidInputError).code).toBe('ERR_WARMPOOL_INVALID_INPUT');
    expect((error as Error).message).toMatch(message);
  });

  it.each([
    ['normalize', { normalize: 'yes' }, /options.normalize must be a boolean/],
    ['pooling', { pooling: 'max' }, /options.pooling must be one of 'mean', 'cls', 'lasttoken', received the string "max"/],
    ['timeout', { timeout: -1 }, /options.timeout must be a positive number/],
    ['timeout past the timer limit', { timeout: 2 ** 31 }, /options.timeout must be a positive number of milliseconds up to 2147483647 or Infinity, received number 2147483648/],
    ['signal', { signal: {} }, /options.signal must be an AbortSignal/],
    ['options itself', 'fast', /embed options must be an object/],
  ])('rejects a bad %s option', async (_name, options, message) => {
    const error = await pool.embed('text', options as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(message);
  });

  it.each([
    ['a misspelt option', { normalise: false }, 'normalise'],
    ['an option of another API', { dimensions: 32, normalise: false }, 'normalise'],
    ['an unknown key whose value is undefined', { batchSize: undefined }, 'batchSize'],
  ])('rejects %s, naming the key and the valid ones', async (_name, options, key) => {
    for (const call of [() => pool.embed('text', options as never), () => pool.embedPacked(['text'], options as never)]) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((error as Error).message).toContain(`unknown key "${key}"`);
      expect((error as Error).message).toContain('model, normalize, pooling, truncate, dimensions, prompt, priority, signal, timeout');
    }
  });

  it('refuses an unknown key before reading any option, and an object whose keys cannot be listed', async () => {
    let reads = 0;
    const options = { get normalize() { reads++; return true; }, extra: 1 };
    expect(await pool.embed('text', options as never).catch((e: unknown) => e)).toBeInstanceOf(InvalidInputError);
    expect(reads).toBe(0);
    const keysThrow = new Proxy({}, { ownKeys: () => { throw new Error('boom'); } });
    const error = await pool.embed('text', keysThrow as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(/^options could not be read: Error: boom/);
  });

  it('takes inherited and symbol keys as no option (only own string keys are checked)', async () => {
    const options = Object.assign(Object.create({ batchSize: 3 }) as object, { normalize: false, [Symbol('tag')]: 1 });
    expect(await pool.embed('text', options as never)).toEqual(await pool.embed('text', { normalize: false }));
  });

  const boom = (): never => {
    throw new Error('boom');
  };
  const revoked = Proxy.revocable([], {});
  revoked.revoke();
  it.each([
    ['an element behind a throwing getter', Object.defineProperty(['a', 'b'], 1, { get: boom }), /input\[1\] could not be read: Error: boom/],
    ['an array Proxy whose reads throw', new Proxy(['a'], { get: (t, k) => (k === '0' ? boom() : Reflect.get(t, k)) }), /input\[0\] could not be read/],
    ['a revoked Proxy', revoked.proxy, /input could not be read: TypeError/],
    ['a function whose toString throws', Object.assign(() => 1, { toString: boom }), /input must be a string or an array of strings, received a function/],
  ])('rejects %s with InvalidInputError', async (_name, input, message) => {
    const error = await pool.embed(input as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(message);
  });

  it.each([
    ['a throwing getter', Object.defineProperty({}, 'normalize', { get: boom, enumerable: true }), /options.normalize could not be read: Error: boom/],
    ['a Proxy whose reads throw', new Proxy({}, { get: boom }), /could not be read/],
    ['an object made from AbortSignal.prototype', { signal: Object.create(AbortSignal.prototype) as AbortSignal }, /options.signal must be an AbortSignal, received an object/],
    ['a pooling that is a function whose toString throws', { pooling: Object.assign(() => 1, { toString: boom }) }, /options.pooling must be one of 'mean', 'cls', 'lasttoken', received a function/],
  ])('rejects options with %s', async (_name, options, message) => {
    const error = await pool.embed('text', options as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(message);
  });

  it('reads each option once, so a getter cannot pass the check with one value and run with another', async () => {
    let reads = 0;
    const options = { get pooling() { return reads++ === 0 ? 'cls' : 'max'; } };
    const v = await pool.embed('a man playing a guitar', options as never);
    expect(reads).toBe(1);
    expect(v).toEqual(await pool.embed('a man playing a guitar', { pooling: 'cls' }));
  });

  it('never throws synchronously', () => {
    expect(() => pool.embed(null as never).catch(() => {})).not.toThrow();
  });

  it('resolves an empty array to no vectors without reaching a worker', async () => {
    const before = pool.stats().workers[0]!.tasks;
    expect(await pool.embed([])).toEqual([]);
    expect((await pool.embedPacked([])).dims).toEqual([0, 100]);
    expect(pool.stats().workers[0]!.tasks).toBe(before);
  });

  it('truncates a 1 MB string to the model limit by default', async () => {
    const big = 'word '.repeat(200_000);
    const before = pool.stats().tokens;
    const v = await pool.embed(big);
    expect(norm(v)).toBeCloseTo(1, 5);
    expect(pool.stats().tokens - before).toBe(512);
  });

  it('rejects a too-long text with truncate: false, naming its index and the limit', async () => {
    const long = 'word '.repeat(600);
    const error = await pool.embed(['short', long], { truncate: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(/input\[1\] has 602 tokens; the model takes at most 512/);
    // A text within the limit is fine with truncate: false.
    expect(await pool.embed('short enough', { truncate: false })).toHaveLength(100);
  });

  it('keeps the worker alive and warm through all of it', async () => {
    const s = pool.stats();
    expect(s.modelLoads).toBe(1);
    expect(s.workers.filter((w) => w.state === 'ready')).toHaveLength(1);
    expect(s.invalidInputs).toBeGreaterThanOrEqual(cases.length + 13);
    expect(await pool.embed('still fine')).toHaveLength(100);
  });
});
