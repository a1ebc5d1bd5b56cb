/**
 * What the option tables are made of. Each family of options (the pool's in `options.ts`, the
 * server's in `server/options.ts`, the queue client's and worker's in `queue/queue-options.ts`)
 * is one table, one row per option: its environment variable, CLI flag, default, parser, whether
 * a reload may change it, and its doc. Defaults, environment names, the known keys and
 * resolution are derived from the table here, and `docs/options.md` is generated from it.
 *
 * The parsers are shared by every family, so a value is judged, and a bad one reported, the same
 * way wherever it comes in: `TypeError` for a wrong type, `RangeError` for a value out of range,
 * and always the value received, shown by {@link received}.
 */
import { isArray, read as readCallerData } from './caller-data.js';

/**
 * Node's timers hold a signed 32-bit count of milliseconds (about 24.8 days): a longer delay fires
 * after 1 ms instead, with a warning on stderr. Options that arm a timer stop there (or are Infinity).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Shows a received value in a message. Never throws (a revoked Proxy throws even in Array.isArray). */
export function received(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol') return value.toString();
  if (isArray(value) === true) return 'an array';
  return `a value of type ${typeof value}`;
}

/** Reads caller data: a getter or Proxy trap that throws makes a TypeError naming what was being read. */
export const read = <T>(what: string, get: () => T): T => readCallerData(what, get, TypeError);

/** An object literal (or one made with Object.create(null)), not an array, class instance or boxed value. */
export function isPlainObject(value: unknown, what: string): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = read(what, () => Object.getPrototypeOf(value) as unknown);
  return proto === Object.prototype || proto === null;
}

/** A value to parse, and where it came from: `options.port` or `environment variable WARMPOOL_PORT`. */
export interface Source {
  readonly from: string;
  readonly value: unknown;
  /** A string from the environment: numbers and booleans are spelled out in it. */
  readonly fromEnv: boolean;
}

/** Turns a value into the option's value or throws (`TypeError`, `RangeError`) naming `src.from`. */
export interface Parser<T> {
  (src: Source): T;
  /** What it takes, as its messages and the reference say it: `an integer from 1 to 1024`. */
  readonly takes: string;
}

export const parser = <T>(takes: string, parse: (src: Source) => T): Parser<T> => Object.assign(parse, { takes });

const mustBe = (src: Source, what: string): string => `${src.from} must be ${what}, received ${received(src.value)}`;

/** A number, from a number or from an environment string (`inf` and `Infinity` spell Infinity). */
function toNumber(src: Source): number {
  if (src.fromEnv) {
    const text = String(src.value).toLowerCase();
    if (text === 'infinity' || text === 'inf') return Infinity;
    const n = Number(text);
    if (Number.isNaN(n)) throw new TypeError(mustBe(src, 'a number'));
    return n;
  }
  if (typeof src.value !== 'number' || Number.isNaN(src.value)) throw new TypeError(mustBe(src, 'a number'));
  return src.value;
}

interface NumberRule {
  /** Inclusive lower bound; without it the number must be above 0 (`positive`). */
  min?: number;
  max: number;
  integer?: boolean;
  /** Infinity is taken too (no limit). */
  infinity?: boolean;
  unit?: string;
}

/** A number within a rule; how the rule reads is also how the reference shows it. */
export function numberOf(rule: NumberRule): Parser<number> {
  const { min, max, integer = false, infinity = false, unit } = rule;
  const orInfinity = infinity ? ' or Infinity' : '';
  const of = unit ? ` of ${unit}` : '';
  const takes =
    min === undefined
      ? `a positive number${of}${Number.isFinite(max) ? ` up to ${max}` : ''}${orInfinity}`
      : `${integer ? 'an integer' : `a number${of}`} from ${min} to ${max}${orInfinity}`;
  return parser(takes, (src) => {
    const n = toNumber(src);
    if (n === Infinity && infinity) return n;
    const inRange = min === undefined ? n > 0 : n >= min;
    if (!Number.isFinite(n) || !inRange || n > max || (integer && !Number.isInteger(n))) throw new RangeError(mustBe(src, takes));
    return n;
  });
}

/** An integer from `min` to `max`. */
export const integer = (min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> => numberOf({ min, max, integer: true });

/** A positive number of milliseconds a timer can hold (or up to `max`), or Infinity where allowed. */
export const millis = (o: { infinity: boolean; max?: number; unit?: string }): Parser<number> =>
  numberOf({ max: o.max ?? MAX_TIMER_MS, infinity: o.infinity, unit: o.unit ?? 'milliseconds' });

const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['0', 'false', 'no', 'off'];

/** A boolean; from the environment `1`, `true`, `yes`, `on` or `0`, `false`, `no`, `off`. */
export const boolean = parser('a boolean', (src): boolean => {
  if (src.fromEnv) {
    const text = String(src.value).toLowerCase();
    if (TRUE.includes(text)) return true;
    if (FALSE.includes(text)) return false;
    throw new TypeError(mustBe(src, `one of ${[...TRUE, ...FALSE].join(', ')}`));
  }
  if (typeof src.value !== 'boolean') throw new TypeError(mustBe(src, 'a boolean'));
  return src.value;
});

/** A string with something in it besides spaces (kept as given). */
export const text = parser('a non-empty string', (src): string => {
  if (typeof src.value !== 'string' || src.value.trim() === '') throw new TypeError(mustBe(src, 'a non-empty string'));
  return src.value;
});

/** A path, made absolute against the working directory of the moment it is resolved. */
export const path = (resolvePath: (p: string) => string): Parser<string> => parser(text.takes, (src) => resolvePath(text(src)));

/** One of a few strings: anything else that is a string is out of range, anything else the wrong type. */
export function oneOf<T extends string>(choices: readonly T[]): Parser<T> {
  const takes = `one of ${choices.map((c) => `'${c}'`).join(', ')}`;
  return parser(takes, (src) => {
    if (typeof src.value !== 'string') throw new TypeError(mustBe(src, takes));
    if (!(choices as readonly string[]).includes(src.value)) throw new RangeError(mustBe(src, takes));
    return src.value as T;
  });
}

/** A function. */
export const callable = <F extends (...args: never[]) => unknown>(): Parser<F> =>
  parser('a function', (src) => {
    if (typeof src.value !== 'function') throw new TypeError(mustBe(src, 'a function'));
    return src.value as F;
  });

/** A plain object whose every value `each` accepts (named `from.key`); `takes` says so in words. */
export function recordOf<T>(each: Parser<T>, takes: string): Parser<Readonly<Record<string, T>>> {
  return parser(takes, (src) => {
    if (!isPlainObject(src.value, src.from)) throw new TypeError(mustBe(src, 'an object'));
    const out: Record<string, T> = {};
    for (const [key, value] of read(src.from, () => Object.entries(src.value as object))) {
      out[key] = each({ from: `${src.from}.${key}`, value, fromEnv: false });
    }
    return Object.freeze(out);
  });
}

/** An array whose every item `each` accepts; `takes` says so in words. */
export function arrayOf<T>(each: Parser<T>, takes: string): Parser<readonly T[]> {
  return parser(takes, (src) => {
    const value = src.value;
    if (read(src.from, () => Array.isArray(value)) !== true) throw new TypeError(mustBe(src, takes));
    const items = read(src.from, () => [...(value as unknown[])]);
    items.forEach((item, i) => {
      try {
        each({ from: `${src.from}[${i}]`, value: item, fromEnv: false });
      } catch {
        throw new TypeError(mustBe(src, takes));
      }
    });
    return Object.freeze(items as T[]);
  });
}

/** A value computed from other options where it is not given: how the reference says it, and how. */
export interface Computed<T> {
  readonly doc: string;
  /** `resolved` holds every option that is not computed, and those computed before this one. */
  readonly of: (resolved: Readonly<Record<string, unknown>>, context: never) => T;
}

/** One option. */
export interface OptionRow<T = unknown> {
  readonly parse: Parser<T>;
  /** The environment variable read when the option is not given (an explicit option wins). */
  readonly env?: string;
  /** The flag that sets it on the command line, where commands take one (see `warmpool <command> --help`). */
  readonly flag?: string;
  /** Its value when neither given nor in the environment (put through `parse` too). */
  readonly default?: T;
  /** A default that depends on other options (or on the machine); then `default`, if set, is the nominal one. */
  readonly computed?: Computed<T>;
  /** How the reference shows the lack of a default (`none` unless said). */
  readonly none?: string;
  /** Must be given. */
  readonly required?: true;
  /** A rolling reload (`pool.reload()`) may change it. */
  readonly reload?: true;
  /** The key it is given under, where that is not its own (several rows may share one, like `threads`). */
  readonly option?: string;
  /** Finds it in the options object, where that is not just `options[key]`. */
  readonly given?: (options: Readonly<Record<string, unknown>>) => Source | undefined;
  /** How the reference names it, where not by its key. */
  readonly name?: string;
  /** One or two sentences for the reference. */
  readonly doc: string;
}

export type OptionTable = Readonly<Record<string, OptionRow<any>>>;

/** What a row resolves to: its parser's type, or undefined too where it may have no value. */
export type ValueOf<R> = R extends OptionRow<infer T>
  ? R extends { default: unknown } | { computed: unknown } | { required: true }
    ? T
    : T | undefined
  : never;

/** The resolved options of a table. */
/** True exactly when `A` and `B` are the same type: for compile-time checks that a hand-written type matches its table. */
export type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false;

export type Resolved<T extends OptionTable> = { readonly [K in keyof T]: ValueOf<T[K]> };

/** The rows of a table that have a fixed default. */
type WithDefault<T extends OptionTable> = { [K in keyof T]: T[K] extends { default: unknown } ? K : never }[keyof T];
type WithEnv<T extends OptionTable> = { [K in keyof T]: T[K] extends { env: string } ? K : never }[keyof T];
type WithReload<T extends OptionTable> = { [K in keyof T]: T[K] extends { reload: true } ? K : never }[keyof T];

/** The fixed defaults of a table, frozen. */
export function defaultsOf<T extends OptionTable>(table: T): Readonly<{ [K in WithDefault<T>]: T[K] extends OptionRow<infer V> ? V : never }> {
  const out: Record<string, unknown> = {};
  for (const [key, row] of Object.entries(table)) if (row.default !== undefined) out[key] = row.default;
  return Object.freeze(out) as never;
}

/** The environment variable of each option that has one, frozen. */
export function envVarsOf<T extends OptionTable>(table: T): Readonly<{ [K in WithEnv<T>]: T[K] extends { env: infer E } ? E : never }> {
  const out: Record<string, string> = {};
  for (const [key, row] of Object.entries(table)) if (row.env !== undefined) out[key] = row.env;
  return Object.freeze(out) as never;
}

/** The options a rolling reload may change. */
export function reloadableOf<T extends OptionTable>(table: T): readonly WithReload<T>[] {
  return Object.freeze(Object.keys(table).filter((key) => table[key]!.reload)) as readonly WithReload<T>[];
}

/** A family: its table, how its messages name the options object, and whether it takes `env`. */
export interface Family<T extends OptionTable> {
  readonly table: T;
  /** `options`, `server options`, `queue client options`. */
  readonly label: string;
  /** Whether `env` (where to read variables from, or false) is one of its options. */
  readonly env: boolean;
}

/** The keys an options object of the family may hold, in table order. */
export function knownKeysOf(family: Family<OptionTable>): readonly string[] {
  const keys = new Set(Object.entries(family.table).map(([key, row]) => row.option ?? key));
  if (family.env) keys.add('env');
  return Object.freeze([...keys]);
}

type Env = Readonly<Record<string, string | undefined>> | false;

/** The option's variable, when there is one and it holds more than spaces. */
function fromEnvironment(env: Env, name: string): Source | undefined {
  if (env === false) return undefined;
  const from = `environment variable ${name}`;
  const raw: unknown = read(from, () => env[name]);
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') throw new TypeError(`${from} must be a string, received ${received(raw)}`);
  if (raw.trim() === '') return undefined;
  return { from, value: raw.trim(), fromEnv: true };
}

/**
 * Validates an options object of the family once and fills in environment variables and defaults:
 * each option is read once (a getter could answer a valid value to the check and another later),
 * an unknown key is a TypeError naming the valid ones. Checks between options are the caller's.
 */
export function resolveWith<T extends OptionTable>(family: Family<T>, input: unknown, context?: unknown): Record<string, unknown> {
  const { label, table } = family;
  if (typeof input !== 'object' || input === null || read(label, () => Array.isArray(input))) {
    throw new TypeError(`${label} must be an object, received ${received(input)}`);
  }
  const known = knownKeysOf(family);
  for (const key of read(label, () => Object.keys(input))) {
    if (!known.includes(key)) {
      throw new TypeError(`unknown ${label.replace(/options$/, 'option')} ${JSON.stringify(key)}; valid options are ${known.join(', ')}`);
    }
  }
  const options: Record<string, unknown> = {};
  for (const key of known) options[key] = read(`options.${key}`, () => (input as Record<string, unknown>)[key]);

  let env: Env = false;
  if (family.env) {
    const given = options.env === undefined ? process.env : options.env;
    if (given !== false && (typeof given !== 'object' || given === null)) {
      throw new TypeError(`options.env must be an object or false, received ${received(given)}`);
    }
    env = given as Env;
  }

  const out: Record<string, unknown> = {};
  const pending: string[] = [];
  for (const [key, row] of Object.entries(table)) {
    const explicit = row.given ? row.given(options) : options[key] === undefined ? undefined : { from: `options.${key}`, value: options[key], fromEnv: false };
    const src = explicit ?? (row.env === undefined ? undefined : fromEnvironment(env, row.env));
    if (src) out[key] = row.parse(src);
    else if (row.required) out[key] = row.parse({ from: `options.${key}`, value: undefined, fromEnv: false });
    else if (row.computed) pending.push(key);
    else out[key] = row.default === undefined ? undefined : row.parse({ from: `the default of ${key}`, value: row.default, fromEnv: false });
  }
  for (const key of pending) out[key] = table[key]!.computed!.of(out, context as never);
  return out;
}
