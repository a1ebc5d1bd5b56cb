/** Validation of collection calls, in the main thread, before anything is embedded or sent. */
import { randomUUID } from 'node:crypto';
import { isArray, read } from '../caller-data.js';
import { InvalidInputError } from '../errors.js';
import { show } from './show.js';
import { checkFilter, type MetadataFilter } from './filter.js';
import {
  COLLECTION_DEFAULTS,
  INDEX_KINDS,
  METRICS,
  type CollectionSettings,
  type CreateCollectionOptions,
  type Doc,
  type JsonValue,
  type SearchOptions,
  type VectorInput,
} from './types.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MAX_K = 10_000;
/** Longest vector a collection takes (its `dims`). */
const MAX_DIMS = 65_536;

export function collectionName(options: { collection?: unknown } | undefined): string {
  const name = options?.collection ?? COLLECTION_DEFAULTS.collection;
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new InvalidInputError(
      `collection must be 1-128 letters, digits, '.', '_' or '-' (not starting with '.', '_' or '-'), received ${JSON.stringify(name)}`,
    );
  }
  return name;
}

export interface CheckedDoc {
  id: string;
  text: string;
  metadata: JsonValue | undefined;
  vector: Float32Array | undefined;
}

/**
 * A vector: a Float32Array, or an array of numbers, of 1 to 65,536 finite values (a NaN or an
 * infinity would make every score against it NaN; an array of numbers past float32's range
 * would become infinities).
 */
export function toVector(value: unknown, what: string): Float32Array {
  let vector: Float32Array | undefined;
  if (value instanceof Float32Array) vector = value;
  else if (isArray(value) === true) {
    const list = read(what, () => [...(value as unknown[])]);
    if (list.every((x) => typeof x === 'number')) vector = Float32Array.from(list as number[]);
  }
  if (!vector) throw new InvalidInputError(`${what} must be a Float32Array or an array of finite numbers, received ${show(value)}`);
  const bad = vector.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) throw new InvalidInputError(`${what}[${bad}] is ${vector[bad]} as a float32; a vector holds finite numbers only`);
  if (vector.length < 1 || vector.length > MAX_DIMS) {
    throw new InvalidInputError(`${what} has dimension ${vector.length}; a vector has 1 to ${MAX_DIMS} numbers`);
  }
  return vector;
}

/**
 * A text the store keeps. The store writes UTF-8, which has no lone surrogates: one would come
 * back as U+FFFD after a restart, and two different ids could become the same one.
 */
function wellFormed(text: string, where: string): string {
  if (!text.isWellFormed()) throw new InvalidInputError(`${where} contains a lone UTF-16 surrogate and is not valid Unicode text`);
  return text;
}

/** Documents as `{ id, text, metadata?, vector? }`, or plain strings (ids generated). */
export function checkDocs(docs: unknown): CheckedDoc[] {
  const list = Array.isArray(docs) ? docs : [docs];
  const seen = new Map<string, number>();
  const out = list.map((doc: unknown, i): CheckedDoc => {
    if (typeof doc === 'string') return { id: randomUUID(), text: doc, metadata: undefined, vector: undefined };
    if (typeof doc !== 'object' || doc === null) throw new InvalidInputError(`docs[${i}] must be a string or { id, text, metadata? }, received ${JSON.stringify(doc)}`);
    const d = doc as Partial<Doc>;
    if (typeof d.id !== 'string' || d.id === '') throw new InvalidInputError(`docs[${i}].id must be a non-empty string, received ${JSON.stringify(d.id)}`);
    wellFormed(d.id, `docs[${i}].id`);
    if (typeof d.text !== 'string') throw new InvalidInputError(`docs[${i}].text must be a string, received ${JSON.stringify(d.text)}`);
    wellFormed(d.text, `docs[${i}].text`);
    let metadata: JsonValue | undefined;
    if (d.metadata !== undefined) {
      try {
        metadata = JSON.parse(JSON.stringify(d.metadata)) as JsonValue;
      } catch (error) {
        throw new InvalidInputError(`docs[${i}].metadata must be JSON-serializable: ${(error as Error).message}`);
      }
    }
    const vector = d.vector === undefined ? undefined : toVector(d.vector, `docs[${i}].vector`);
    if (vector === undefined && d.text.trim() === '') throw new InvalidInputError(`docs[${i}].text is empty and no vector is given`);
    return { id: d.id, text: d.text, metadata, vector };
  });
  out.forEach((d, i) => {
    const prev = seen.get(d.id);
    if (prev !== undefined) throw new InvalidInputError(`docs[${prev}] and docs[${i}] have the same id ${JSON.stringify(d.id)}`);
    seen.set(d.id, i);
  });
  return out;
}

export function checkIds(ids: unknown): string[] {
  const list = typeof ids === 'string' ? [ids] : ids;
  if (!Array.isArray(list) || !list.every((id) => typeof id === 'string')) {
    throw new InvalidInputError(`ids must be a string or an array of strings, received ${JSON.stringify(ids)}`);
  }
  // An id with a lone surrogate can never be stored.
  (list as string[]).forEach((id, i) => wellFormed(id, typeof ids === 'string' ? 'ids' : `ids[${i}]`));
  return list as string[];
}

export interface CheckedSearch {
  collection: string;
  k: number;
  filter: MetadataFilter | undefined;
  includeVectors: boolean;
  exact: boolean;
}

export function checkSearch(options: SearchOptions | undefined): CheckedSearch {
  const k = options?.k ?? COLLECTION_DEFAULTS.k;
  if (!Number.isInteger(k) || k < 1 || k > MAX_K) throw new InvalidInputError(`k must be an integer from 1 to ${MAX_K}, received ${JSON.stringify(k)}`);
  return {
    collection: collectionName(options),
    k,
    filter: checkFilter(options?.filter),
    includeVectors: options?.includeVectors === true,
    exact: options?.exact === true,
  };
}

const positiveInt = (value: unknown, what: string, max: number): number => {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > max) {
    throw new RangeError(`${what} must be an integer from 1 to ${max}, received ${JSON.stringify(value)}`);
  }
  return value as number;
};

/** Settings of a new collection from its options; `dims` defaults to the model's. */
export function collectionSettings(name: string, options: CreateCollectionOptions | undefined, modelDims: number): CollectionSettings {
  const o = options ?? {};
  if (typeof o !== 'object') throw new TypeError(`collection options must be an object, received ${JSON.stringify(o)}`);
  const metric = o.metric ?? COLLECTION_DEFAULTS.metric;
  if (!METRICS.includes(metric)) throw new RangeError(`metric must be one of ${METRICS.map((m) => `'${m}'`).join(', ')}, received ${JSON.stringify(metric)}`);
  const index = o.index ?? COLLECTION_DEFAULTS.index;
  if (!INDEX_KINDS.includes(index)) throw new RangeError(`index must be one of ${INDEX_KINDS.map((m) => `'${m}'`).join(', ')}, received ${JSON.stringify(index)}`);
  if (o.ttl !== undefined && !(typeof o.ttl === 'number' && o.ttl > 0 && Number.isFinite(o.ttl))) {
    throw new RangeError(`ttl must be a positive number of seconds, received ${JSON.stringify(o.ttl)}`);
  }
  const h = o.hnsw ?? {};
  return {
    name,
    dims: o.dims === undefined ? modelDims : positiveInt(o.dims, 'dims', 65_536),
    metric,
    index,
    autoThreshold: o.autoThreshold === undefined ? COLLECTION_DEFAULTS.autoThreshold : positiveInt(o.autoThreshold, 'autoThreshold', 2 ** 31),
    hnsw: {
      connectivity: h.connectivity === undefined ? COLLECTION_DEFAULTS.connectivity : positiveInt(h.connectivity, 'hnsw.connectivity', 256),
      expansionAdd: h.expansionAdd === undefined ? COLLECTION_DEFAULTS.expansionAdd : positiveInt(h.expansionAdd, 'hnsw.expansionAdd', 4096),
      expansionSearch: h.expansionSearch === undefined ? COLLECTION_DEFAULTS.expansionSearch : positiveInt(h.expansionSearch, 'hnsw.expansionSearch', 4096),
    },
    ttl: o.ttl,
    createdAt: new Date().toISOString(),
  };
}

export type { VectorInput };
