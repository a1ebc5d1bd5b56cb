/**
 * Metadata filters: `{ field: value }` is equality, `{ field: { $in: [...] } }` membership; also
 * `$eq`, `$ne`, `$nin`, `$exists`, `$gt`, `$gte`, `$lt`, `$lte`. Fields may be dotted paths. All
 * conditions must hold.
 */
import { isArray, read } from '../caller-data.js';
import { InvalidInputError } from '../errors.js';
import { show } from './show.js';

export type Scalar = string | number | boolean | null;
export interface FieldCondition {
  $eq?: Scalar;
  $ne?: Scalar;
  $in?: Scalar[];
  $nin?: Scalar[];
  $exists?: boolean;
  $gt?: number | string;
  $gte?: number | string;
  $lt?: number | string;
  $lte?: number | string;
}
export type MetadataFilter = Record<string, Scalar | FieldCondition>;

const OPERATORS = ['$eq', '$ne', '$in', '$nin', '$exists', '$gt', '$gte', '$lt', '$lte'];

/** NaN is no scalar: it equals nothing (metadata is JSON, which has no NaN) and orders against nothing. */
const isScalar = (v: unknown): v is Scalar =>
  v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && !Number.isNaN(v));

/**
 * Checks a filter and returns a plain copy of it: what is checked is exactly what is sent to the
 * index worker (cloning the caller's object would run its getters again). Throws
 * {@link InvalidInputError} for a filter this module cannot evaluate.
 */
export function checkFilter(filter: unknown): MetadataFilter | undefined {
  if (filter === undefined) return undefined;
  if (typeof filter !== 'object' || filter === null || isArray(filter) !== false) {
    throw new InvalidInputError(`filter must be an object such as { lang: 'en' }, received ${show(filter)}`);
  }
  const fields: [string, Scalar | FieldCondition][] = [];
  for (const [field, cond] of read('filter', () => Object.entries(filter))) {
    if (isScalar(cond)) {
      fields.push([field, cond]);
      continue;
    }
    if (typeof cond !== 'object' || cond === null || isArray(cond) !== false) {
      throw new InvalidInputError(`filter.${field} must be a string, number, boolean, null or an operator object, received ${show(cond)}`);
    }
    const ops: [string, unknown][] = [];
    for (const [op, raw] of read(`filter.${field}`, () => Object.entries(cond))) {
      if (!OPERATORS.includes(op)) {
        throw new InvalidInputError(`filter.${field} uses unknown operator ${JSON.stringify(op)}; valid operators are ${OPERATORS.join(', ')}`);
      }
      const value = op === '$in' || op === '$nin' ? (isArray(raw) === true ? read(`filter.${field}.${op}`, () => [...(raw as unknown[])]) : raw) : raw;
      const ok =
        op === '$in' || op === '$nin'
          ? Array.isArray(value) && value.every(isScalar)
          : op === '$exists'
            ? typeof value === 'boolean'
            : op === '$eq' || op === '$ne'
              ? isScalar(value)
              : (typeof value === 'number' && !Number.isNaN(value)) || typeof value === 'string';
      if (!ok) throw new InvalidInputError(`filter.${field}.${op} has an invalid value ${show(value)}`);
      ops.push([op, value]);
    }
    fields.push([field, Object.fromEntries(ops) as FieldCondition]);
  }
  // fromEntries defines own properties, so a field named __proto__ stays a field.
  return Object.fromEntries(fields) as MetadataFilter;
}

/** A field of JSON metadata by dotted path: own properties only (never `constructor` or `toString` of a prototype), array elements by index. */
function lookup(metadata: unknown, path: string): unknown {
  let v: unknown = metadata;
  for (const part of path.split('.')) {
    if (typeof v !== 'object' || v === null) return undefined;
    if (Array.isArray(v) ? !/^(0|[1-9]\d*)$/.test(part) || Number(part) >= v.length : !Object.hasOwn(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** Equality that also lets a scalar match an element of an array field (`tags: 'x'`). */
function equals(value: unknown, want: Scalar): boolean {
  return Array.isArray(value) ? value.includes(want) : value === want;
}

function compare(value: unknown, op: string, bound: number | string): boolean {
  if (typeof value !== typeof bound) return false;
  const v = value as number | string;
  return op === '$gt' ? v > bound : op === '$gte' ? v >= bound : op === '$lt' ? v < bound : v <= bound;
}

export function matches(metadata: unknown, filter: MetadataFilter): boolean {
  for (const [field, cond] of Object.entries(filter)) {
    const value = lookup(metadata, field);
    if (isScalar(cond)) {
      if (!equals(value, cond)) return false;
      continue;
    }
    for (const [op, want] of Object.entries(cond)) {
      switch (op) {
        case '$eq':
          if (!equals(value, want as Scalar)) return false;
          break;
        case '$ne':
          if (equals(value, want as Scalar)) return false;
          break;
        case '$in':
          if (!(want as Scalar[]).some((w) => equals(value, w))) return false;
          break;
        case '$nin':
          if ((want as Scalar[]).some((w) => equals(value, w))) return false;
          break;
        case '$exists':
          if ((value !== undefined) !== want) return false;
          break;
        default:
          if (!compare(value, op, want as number | string)) return false;
      }
    }
  }
  return true;
}
