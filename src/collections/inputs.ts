/** Validation of collection calls, in the main thread, before anything is embedded or sent. */
import { randomUUID } from 'node:crypto';
import { SEARCH_MODES, type SearchMode } from './hybrid.js';
import { isArray, read } from '../caller-data.js';
import { InvalidInputError, describe } from '../errors.js';
import { show } from './show.js';
import { checkFilter, type MetadataFilter } from './filter.js';
import {
  COLLECTION_DEFAULTS,
  INDEX_KINDS,
  METRICS,
  QUANTIZATIONS,
  type CollectionSettings,
  type Quantization,
  type Doc,
  type JsonValue,
  type VectorInput,
} from './types.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MAX_K = 10_000;
/** Longest vector a collection takes (its `dims`). */
const MAX_DIMS = 65_536;

/**
 * A call's options: undefined or an object (anything else would silently mean the default
 * collection), with each of `keys` read once into a plain object. Not an array or a typed array:
 * their methods would read as options (a Float32Array's `filter`).
 */
export function callOptions<K extends string>(options: unknown, keys: readonly K[]): Partial<Record<K, unknown>> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || isArray(options) !== false || ArrayBuffer.isView(options)) {
    throw new InvalidInputError(`options must be an object, received ${show(options)}`);
  }
  const out: Partial<Record<K, unknown>> = {};
  for (const key of keys) out[key] = read(`options.${key}`, () => (options as Record<string, unknown>)[key]);
  return out;
}

/**
 * Names the store keeps for its own files, compared without case (a case-insensitive file system
 * would clash too). On Windows, device names cannot be folder names either.
 */
const RESERVED = new Set(['lock']);
const WINDOWS_DEVICES = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;

/**
 * A collection's name. `required`: the name of a collection to create, inspect or drop, where a
 * missing name (undefined or null) is an error; otherwise an option, where undefined means the
 * default collection (null is still an error: it is not "no option").
 */
export function collectionName(name: unknown, required = false): string {
  if (name === null || (required && name === undefined)) {
    throw new InvalidInputError(`a collection name is required, received ${show(name)}`);
  }
  const value = name ?? COLLECTION_DEFAULTS.collection;
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new InvalidInputError(
      `collection must be 1-128 letters, digits, '.', '_' or '-' (not starting with '.', '_' or '-'), received ${show(value)}`,
    );
  }
  if (RESERVED.has(value.toLowerCase()) || (process.platform === 'win32' && WINDOWS_DEVICES.test(value))) {
    throw new InvalidInputError(`collection name ${JSON.stringify(value)} is reserved (the store uses it for its own files, or the system for a device)`);
  }
  return value;
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
  // instanceof asks a Proxy for its prototype, which may throw.
  if (read(what, () => value instanceof Float32Array)) vector = value as Float32Array;
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

/** A text to embed: well-formed and not blank. */
export function checkText(text: string, where: string): string {
  if (text.trim() === '') throw new InvalidInputError(`${where} is empty or only whitespace; there is nothing to embed`);
  return wellFormed(text, where);
}

/** Documents as `{ id, text, metadata?, vector? }`, or plain strings (ids generated). Each is read once. */
export function checkDocs(docs: unknown): CheckedDoc[] {
  const list = read('docs', () => (Array.isArray(docs) ? [...(docs as unknown[])] : [docs]));
  const seen = new Map<string, number>();
  const out = list.map((doc: unknown, i): CheckedDoc => {
    const where = `docs[${i}]`;
    if (typeof doc === 'string') return { id: randomUUID(), text: checkText(doc, where), metadata: undefined, vector: undefined };
    if (typeof doc !== 'object' || doc === null) throw new InvalidInputError(`${where} must be a string or { id, text, metadata? }, received ${show(doc)}`);
    const d = read(where, () => {
      const { id, text, metadata, vector } = doc as Partial<Doc>;
      return { id: id as unknown, text: text as unknown, metadata: metadata as unknown, vector: vector as unknown };
    });
    if (typeof d.id !== 'string' || d.id === '') throw new InvalidInputError(`${where}.id must be a non-empty string, received ${show(d.id)}`);
    wellFormed(d.id, `${where}.id`);
    if (typeof d.text !== 'string') throw new InvalidInputError(`${where}.text must be a string, received ${show(d.text)}`);
    wellFormed(d.text, `${where}.text`);
    let metadata: JsonValue | undefined;
    if (d.metadata !== undefined) {
      let json: string | undefined;
      try {
        json = JSON.stringify(d.metadata);
      } catch (error) {
        throw new InvalidInputError(`${where}.metadata must be JSON-serializable: ${describe(error)}`, { cause: error });
      }
      if (json === undefined) throw new InvalidInputError(`${where}.metadata must be JSON-serializable, received ${show(d.metadata)}`);
      metadata = JSON.parse(json) as JsonValue;
    }
    const vector = d.vector === undefined ? undefined : toVector(d.vector, `${where}.vector`);
    if (vector === undefined && d.text.trim() === '') throw new InvalidInputError(`${where}.text is empty and no vector is given`);
    return { id: d.id, text: d.text, metadata, vector };
  });
  out.forEach((d, i) => {
    const prev = seen.get(d.id);
    if (prev !== undefined) throw new InvalidInputError(`docs[${prev}] and docs[${i}] have the same id ${JSON.stringify(d.id)}`);
    seen.set(d.id, i);
  });
  return out;
}

/** Ids as a string or a dense array of strings. An id with a lone surrogate can never be stored. */
export function checkIds(ids: unknown): string[] {
  if (typeof ids === 'string') return [wellFormed(ids, 'ids')];
  if (isArray(ids) !== true) throw new InvalidInputError(`ids must be a string or an array of strings, received ${show(ids)}`);
  const list = read('ids', () => [...(ids as unknown[])]);
  list.forEach((id, i) => {
    if (typeof id !== 'string') throw new InvalidInputError(`ids[${i}] must be a string, received ${show(id)}`);
    wellFormed(id, `ids[${i}]`);
  });
  return list as string[];
}

export interface CheckedSearch {
  collection: string;
  k: number;
  filter: MetadataFilter | undefined;
  includeVectors: boolean;
  exact: boolean;
  mode: SearchMode;
  /** undefined: the model's default. */
  denseWeight: number | undefined;
  candidates: number;
  /** The rerank stage, when asked for. */
  rerank: { model: string | undefined; candidates: number } | undefined;
}

/** Hybrid search: candidates taken from each side before fusing. */
export const DEFAULT_CANDIDATES = 100;
/** A search's rerank stage: hits scored again by the reranker. */
export const DEFAULT_RERANK_CANDIDATES = 50;

export function checkSearch(options: unknown): CheckedSearch {
  const o = callOptions(options, ['collection', 'k', 'filter', 'includeVectors', 'exact', 'mode', 'hybrid', 'rerank'] as const);
  const k = o.k ?? COLLECTION_DEFAULTS.k;
  if (!Number.isInteger(k) || (k as number) < 1 || (k as number) > MAX_K) throw new InvalidInputError(`k must be an integer from 1 to ${MAX_K}, received ${show(k)}`);
  const mode = o.mode ?? 'hybrid';
  if (!(SEARCH_MODES as readonly unknown[]).includes(mode)) throw new InvalidInputError(`options.mode must be one of ${SEARCH_MODES.map((m) => `'${m}'`).join(', ')}, received ${show(mode)}`);
  let denseWeight: number | undefined;
  let candidates = DEFAULT_CANDIDATES;
  if (o.hybrid !== undefined) {
    const h = callOptions(o.hybrid, ['denseWeight', 'candidates'] as const);
    if (h.denseWeight !== undefined) {
      if (!(typeof h.denseWeight === 'number' && h.denseWeight >= 0 && h.denseWeight <= 1)) throw new InvalidInputError(`options.hybrid.denseWeight must be a number from 0 to 1, received ${show(h.denseWeight)}`);
      denseWeight = h.denseWeight;
    }
    if (h.candidates !== undefined) {
      if (!Number.isInteger(h.candidates) || (h.candidates as number) < 1 || (h.candidates as number) > MAX_K) throw new InvalidInputError(`options.hybrid.candidates must be an integer from 1 to ${MAX_K}, received ${show(h.candidates)}`);
      candidates = h.candidates as number;
    }
  }
  let rerank: CheckedSearch['rerank'];
  if (o.rerank === true) rerank = { model: undefined, candidates: DEFAULT_RERANK_CANDIDATES };
  else if (o.rerank !== undefined && o.rerank !== false) {
    const r = callOptions(o.rerank, ['model', 'candidates'] as const);
    if (r.model !== undefined && typeof r.model !== 'string') throw new InvalidInputError(`options.rerank.model must be the name of a rerank model of the pool, received ${show(r.model)}`);
    const n = r.candidates ?? DEFAULT_RERANK_CANDIDATES;
    if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > MAX_K) throw new InvalidInputError(`options.rerank.candidates must be an integer from 1 to ${MAX_K}, received ${show(n)}`);
    rerank = { model: r.model as string | undefined, candidates: n as number };
  }
  return {
    collection: collectionName(o.collection),
    k: k as number,
    filter: checkFilter(o.filter),
    includeVectors: o.includeVectors === true,
    exact: o.exact === true,
    mode: mode as SearchMode,
    denseWeight,
    candidates,
    rerank,
  };
}

const positiveInt = (value: unknown, what: string, max: number): number => {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > max) {
    throw new RangeError(`${what} must be an integer from 1 to ${max}, received ${show(value)}`);
  }
  return value as number;
};

/** Settings are options: a wrong type is a TypeError, a bad value a RangeError, each showing what was received. */
function settingsObject(value: unknown, what: string, keys: readonly string[]): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || isArray(value) !== false) throw new TypeError(`${what} must be an object, received ${show(value)}`);
  return Object.fromEntries(keys.map((key) => [key, read(`${what}.${key}`, () => (value as Record<string, unknown>)[key], TypeError)]));
}

/** Settings of a new collection from its options; `dims` defaults to the model's (or the vectors'). */
export function collectionSettings(name: string, options: unknown, modelDims: number): CollectionSettings {
  const o = settingsObject(options, 'collection options', ['metric', 'index', 'autoThreshold', 'hnsw', 'ttl', 'dims', 'quantization']);
  const metric = o.metric ?? COLLECTION_DEFAULTS.metric;
  if (!(METRICS as readonly unknown[]).includes(metric)) throw new RangeError(`metric must be one of ${METRICS.map((m) => `'${m}'`).join(', ')}, received ${show(metric)}`);
  const index = o.index ?? COLLECTION_DEFAULTS.index;
  if (!(INDEX_KINDS as readonly unknown[]).includes(index)) throw new RangeError(`index must be one of ${INDEX_KINDS.map((m) => `'${m}'`).join(', ')}, received ${show(index)}`);
  const quantization = o.quantization ?? COLLECTION_DEFAULTS.quantization;
  if (!(QUANTIZATIONS as readonly unknown[]).includes(quantization)) {
    throw new RangeError(`quantization must be one of ${QUANTIZATIONS.map((m) => `'${m}'`).join(', ')}, received ${show(quantization)}`);
  }
  // i8 keeps a scale per vector, which cosine ignores: dot products and distances would need it in the graph too.
  if (quantization === 'i8' && metric !== 'cosine') throw new RangeError(`quantization 'i8' needs metric 'cosine', received metric ${show(metric)}`);
  if (o.ttl !== undefined && !(typeof o.ttl === 'number' && o.ttl > 0 && Number.isFinite(o.ttl))) {
    throw new RangeError(`ttl must be a positive number of seconds, received ${show(o.ttl)}`);
  }
  const h = settingsObject(o.hnsw, 'hnsw', ['connectivity', 'expansionAdd', 'expansionSearch']);
  return {
    name,
    dims: o.dims === undefined ? modelDims : positiveInt(o.dims, 'dims', MAX_DIMS),
    metric: metric as CollectionSettings['metric'],
    index: index as CollectionSettings['index'],
    quantization: quantization as Quantization,
    autoThreshold: o.autoThreshold === undefined ? COLLECTION_DEFAULTS.autoThreshold : positiveInt(o.autoThreshold, 'autoThreshold', 2 ** 31),
    hnsw: {
      connectivity:
        h.connectivity === undefined ? (quantization === 'i8' ? COLLECTION_DEFAULTS.i8Connectivity : COLLECTION_DEFAULTS.connectivity) : positiveInt(h.connectivity, 'hnsw.connectivity', 256),
      expansionAdd: h.expansionAdd === undefined ? COLLECTION_DEFAULTS.expansionAdd : positiveInt(h.expansionAdd, 'hnsw.expansionAdd', 4096),
      expansionSearch: h.expansionSearch === undefined ? COLLECTION_DEFAULTS.expansionSearch : positiveInt(h.expansionSearch, 'hnsw.expansionSearch', 4096),
    },
    ttl: o.ttl as number | undefined,
    createdAt: new Date().toISOString(),
  };
}

export type { VectorInput };
