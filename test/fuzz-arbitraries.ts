/**
 * Generators and oracles for test/fuzz.test.ts.
 *
 * Generators yield *recipes* (plain, printable data); `build()` turns a recipe into the value a call
 * receives. Hostile values (Proxies, throwing getters, revoked proxies) are built fresh for every
 * run, so fast-check can print and shrink the recipe without touching them, and the oracles judge
 * the recipe, never the hostile value.
 */
import fc from 'fast-check';

/** Node's timers hold a signed 32-bit count of milliseconds (about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const isValidText = (value: unknown): value is string =>
  typeof value === 'string' && value.trim().length > 0 && value.isWellFormed();

// ---------------------------------------------------------------------------------------------
// Hostile values
// ---------------------------------------------------------------------------------------------

export const HOSTILE_KINDS = [
  'getter-throws', // an object whose property getter throws
  'proxy-get-throws', // every property read throws
  'proxy-has-throws', // an array Proxy whose `in` throws
  'proxy-keys-throws', // Object.keys() throws
  'proxy-proto-throws', // instanceof throws
  'revoked-proxy', // every operation, Array.isArray included, throws
  'tostring-throws', // String(x) and template literals throw
  'fn-tostring-throws', // a function whose toString throws
  'toprimitive-throws',
  'tojson-throws', // JSON.stringify throws
  'array-getter-throws', // an array whose element 1 is a throwing getter
  'array-proxy-get-throws', // an array Proxy that throws reading element 1
  'fake-signal', // passes `instanceof AbortSignal`, is not one
  'throws-non-error', // a getter that throws a Proxy, not an Error
] as const;
export type HostileKind = (typeof HOSTILE_KINDS)[number];

export function hostile(kind: HostileKind): unknown {
  const boom = (): never => {
    throw new Error(`hostile value (${kind}) was touched`);
  };
  switch (kind) {
    case 'getter-throws':
      return Object.defineProperty({}, 'value', { get: boom, enumerable: true });
    case 'proxy-get-throws':
      return new Proxy({}, { get: boom });
    case 'proxy-has-throws':
      return new Proxy(['a', 'b'], { has: boom });
    case 'proxy-keys-throws':
      return new Proxy({}, { ownKeys: boom });
    case 'proxy-proto-throws':
      return new Proxy({}, { getPrototypeOf: boom });
    case 'revoked-proxy': {
      const r = Proxy.revocable([] as unknown[], {});
      r.revoke();
      return r.proxy;
    }
    case 'tostring-throws':
      return { toString: boom, valueOf: boom };
    case 'fn-tostring-throws':
      return Object.assign(() => 1, { toString: boom });
    case 'toprimitive-throws':
      return { [Symbol.toPrimitive]: boom };
    case 'tojson-throws':
      return { toJSON: boom };
    case 'array-getter-throws':
      return Object.defineProperty(['a', 'b'], 1, { get: boom, enumerable: true });
    case 'array-proxy-get-throws':
      return new Proxy(['a', 'b'], { get: (t, k) => (k === '1' ? boom() : Reflect.get(t, k)) });
    case 'fake-signal':
      return Object.create(AbortSignal.prototype) as unknown;
    case 'throws-non-error':
      return Object.defineProperty({}, 'value', {
        get() {
          throw new Proxy({}, { get: boom });
        },
        enumerable: true,
      });
  }
}

export const hostileKind = fc.constantFrom(...HOSTILE_KINDS);

/**
 * Hostile values that cannot serve as an options object: reading a named property throws, or they
 * are arrays or functions. The others read as an empty options object (their traps and getters
 * are on keys no option has), so a reader that only reads its own option names must accept them.
 */
export const HOSTILE_NOT_OPTIONS: ReadonlySet<HostileKind> = new Set([
  'proxy-get-throws',
  'proxy-has-throws',
  'revoked-proxy',
  'fn-tostring-throws',
  'array-getter-throws',
  'array-proxy-get-throws',
]);

// ---------------------------------------------------------------------------------------------
// Texts
// ---------------------------------------------------------------------------------------------

const VOCAB = [
  'river', 'market', 'guitar', 'doctor', 'storm', 'pasta', 'the', 'a', 'of', 'music', 'ocean', 'train',
  'café', 'naïve', 'Zürich', '東京', 'москва', 'emoji', '😀', '👩‍👩‍👧', 'e\u0301', 'x²', 'ﬁne', 'İstanbul', 'ß',
  '...', '!!', '"quoted"', "it's", 'co-op', '3.14', '1,000', '#tag', '@user', 'http://example.com/x?y=1',
];

/** Readable text from a small vocabulary, so most vectors are not zero. */
export const words = fc
  .array(fc.constantFrom(...VOCAB), { minLength: 1, maxLength: 24 })
  .map((ws) => ws.join(' '));

/** Any UTF-16 code unit, lone surrogates included. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const controlChar = fc.integer({ min: 0, max: 0x9f }).filter((c) => c < 0x20 || c >= 0x7f).map((c) => String.fromCharCode(c));
const space = fc.constantFrom(' ', '\t', '\n', '\r', '\v', '\f', '\u00a0', '\u1680', '\u2000', '\u2028', '\u2029', '\u202f', '\u3000', '\ufeff');

/** A long text: a unit repeated up to a few hundred KB, far past the model's 512 tokens. */
export const longText = fc
  .tuple(fc.oneof(words.map((w) => `${w} `), fc.string({ unit: 'binary', minLength: 1, maxLength: 6 }), fc.constant('a')), fc.integer({ min: 2_000, max: 300_000 }))
  .map(([unit, length]) => unit.repeat(Math.ceil(length / unit.length)).slice(0, length));

export const anyText = fc.oneof(
  { weight: 6, arbitrary: words },
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: codeUnit, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: controlChar, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: space, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.tuple(words, fc.string({ unit: codeUnit, minLength: 1, maxLength: 2 })).map(([w, u]) => `${w} ${u}`) },
  { weight: 1, arbitrary: fc.tuple(words, fc.integer({ min: 20, max: 80 })).map(([w, n]) => `${w} `.repeat(n)) },
);

// ---------------------------------------------------------------------------------------------
// Junk
// ---------------------------------------------------------------------------------------------

/** Anything printable that is not a recipe: nested objects, arrays with holes, typed arrays, BigInt, Symbols, functions, boxed values... */
export const junk: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.anything({
      maxDepth: 2,
      maxKeys: 4,
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withObjectString: true,
      withSparseArray: true,
      withTypedArray: true,
    }),
  },
  { weight: 1, arbitrary: fc.string().map((s) => Symbol(s)) },
  { weight: 1, arbitrary: fc.func(fc.anything()) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(null, undefined, NaN, Infinity, -Infinity, 0, -0, 1n, true, [], {}, [[]], new Float32Array(3), new ArrayBuffer(4)) },
);

/** Numbers at and around every boundary an option might have. */
export const edgeNumber = fc.oneof(
  fc.constantFrom(
    0, -0, 1, -1, 0.5, 1.5, 2, 3, 63, 64, 65, 100, 101, 1000, 4096, 4097, 60_000, 60_001, 65_536, 65_537,
    1023, 1024, 1025, 2 ** 30, 2 ** 30 + 1, MAX_TIMER_MS, MAX_TIMER_MS + 1, 3e9, 1e300, Number.MAX_VALUE, Number.MIN_VALUE,
    Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, NaN, Infinity, -Infinity, 1e-9,
  ),
  fc.integer(),
  fc.double(),
);

/** An option value: valid for its key, junk, a boundary number, hostile, a getter that throws, or a getter that changes its answer. */
export type ValueRecipe =
  | { t: 'plain'; v: unknown }
  | { t: 'hostile'; k: HostileKind }
  | { t: 'throws' }
  | { t: 'flip'; first: unknown; then: unknown };

export function valueRecipe(valid: fc.Arbitrary<unknown>): fc.Arbitrary<ValueRecipe> {
  return fc.oneof(
    { weight: 6, arbitrary: valid.map((v) => ({ t: 'plain' as const, v })) },
    { weight: 3, arbitrary: junk.map((v) => ({ t: 'plain' as const, v })) },
    { weight: 3, arbitrary: edgeNumber.map((v) => ({ t: 'plain' as const, v })) },
    { weight: 1, arbitrary: hostileKind.map((k) => ({ t: 'hostile' as const, k })) },
    { weight: 1, arbitrary: fc.constant({ t: 'throws' as const }) },
    { weight: 1, arbitrary: fc.tuple(valid, junk).map(([first, then]) => ({ t: 'flip' as const, first, then })) },
  );
}

/** Builds an object from per-key recipes; `throws` and `flip` become accessors. */
export function buildObject(recipes: Record<string, ValueRecipe>, target: Record<string, unknown> = {}): Record<string, unknown> {
  for (const [key, r] of Object.entries(recipes)) {
    if (r.t === 'plain') target[key] = r.v;
    else if (r.t === 'hostile') target[key] = hostile(r.k);
    else if (r.t === 'throws') {
      Object.defineProperty(target, key, {
        enumerable: true,
        get() {
          throw new Error(`getter of ${key} throws`);
        },
      });
    } else {
      let reads = 0;
      Object.defineProperty(target, key, { enumerable: true, get: () => (reads++ === 0 ? r.first : r.then) });
    }
  }
  return target;
}

/** The value the first read of a recipe's property sees (what a validate-once reader acts on). */
export const firstRead = (r: ValueRecipe | undefined): unknown =>
  r === undefined ? undefined : r.t === 'plain' ? r.v : r.t === 'flip' ? r.first : HOSTILE;

/** Stands for a value that cannot be read safely (hostile, or a getter that throws). */
export const HOSTILE = Symbol('hostile');

/** Whether a value, as the test generated it, is a plain non-array object (what options must be). */
export const isObjectArg = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (!isObjectArg(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
};
