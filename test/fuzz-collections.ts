/**
 * Collection calls for test/fuzz.test.ts: index, search, get, delete and count with generated
 * documents, ids, k, filters and options, checked against a model of what the store must hold.
 * Every acknowledged write must be readable as written, now and after the store is reopened.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import {
  HOSTILE_NOT_OPTIONS,
  anyText,
  hostile,
  hostileKind,
  isObjectArg,
  isValidText,
  junk,
  words,
  type HostileKind,
} from './fuzz-arbitraries.js';
import { ErrorCodes, createPool, type WarmPool } from './helpers.js';

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };
type Settle = (call: () => unknown) => Promise<Outcome>;
type ExpectTyped = (outcome: Outcome, codes: readonly string[], message?: RegExp) => void;

const DIMS = 100;
/** Collections created before the run: cosine (exact below the auto threshold), dot (exact), cosine HNSW. */
const COLLECTIONS = { 'fz-a': 'cosine', 'fz-dot': 'dot', 'fz-hnsw': 'cosine', default: 'cosine' } as const;
type Name = keyof typeof COLLECTIONS;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const OPERATORS = ['$eq', '$ne', '$in', '$nin', '$exists', '$gt', '$gte', '$lt', '$lte'];

interface Stored {
  text: string;
  metadata: unknown;
  vector: Float32Array;
}

// ---------------------------------------------------------------------------------------------
// Recipes
// ---------------------------------------------------------------------------------------------

const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const idArb = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'ünï', '😀', ' ', 'a\u0000b') },
  { weight: 2, arbitrary: fc.string({ unit: codeUnit, maxLength: 3 }) },
  { weight: 1, arbitrary: junk },
);
const scalar = fc.constantFrom<unknown>('x', 'y', 'z', '', 1, 2, 2.5, -1, true, false, null);
const metadataArb = fc.oneof(
  { weight: 6, arbitrary: fc.record({ topic: scalar, n: fc.oneof(fc.integer({ min: -3, max: 3 }), scalar), tags: fc.array(scalar, { maxLength: 3 }), nested: fc.record({ a: fc.oneof(scalar, fc.record({ b: scalar })) }) }, { requiredKeys: [] }) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 1, arbitrary: junk },
);
const unitVector = fc.array(fc.float({ min: -1, max: 1, noNaN: true }), { minLength: DIMS, maxLength: DIMS });
const vectorArb = fc.oneof(
  { weight: 4, arbitrary: unitVector.map((v) => Float32Array.from(v)) },
  { weight: 2, arbitrary: unitVector },
  { weight: 1, arbitrary: fc.tuple(unitVector, fc.nat(DIMS - 1), fc.constantFrom(NaN, Infinity, -Infinity)).map(([v, i, x]) => Float32Array.from(v.map((y, j) => (j === i ? x : y)))) },
  { weight: 1, arbitrary: fc.tuple(unitVector, fc.nat(DIMS - 1), fc.constantFrom<unknown>(NaN, '1', null, 1n)).map(([v, i, x]) => v.map((y, j) => (j === i ? x : y))) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>([], [1, 2, 3], new Float32Array(7), new Float64Array(DIMS), 'vector') },
);

type DocRecipe =
  | { t: 'doc'; id: unknown; text: unknown; metadata?: unknown; vector?: unknown }
  | { t: 'string'; s: string }
  | { t: 'junk'; v: unknown }
  | { t: 'hostile'; k: HostileKind };
const docArb: fc.Arbitrary<DocRecipe> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc
      .record(
        { id: idArb, text: fc.oneof({ weight: 6, arbitrary: words }, { weight: 2, arbitrary: anyText.filter((s) => s.length < 5_000) }, { weight: 1, arbitrary: junk }), metadata: metadataArb, vector: vectorArb },
        { requiredKeys: ['id', 'text'] },
      )
      .map((d) => ({ t: 'doc' as const, ...d })),
  },
  { weight: 2, arbitrary: words.map((s) => ({ t: 'string' as const, s })) },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom('', '  ', 'a\ud800'), fc.string({ unit: codeUnit, maxLength: 3 })).map((s) => ({ t: 'string' as const, s })) },
  { weight: 1, arbitrary: junk.map((v) => ({ t: 'junk' as const, v })) },
  { weight: 1, arbitrary: hostileKind.map((k) => ({ t: 'hostile' as const, k })) },
);

const nameArb = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom<unknown>('fz-a', 'fz-dot', 'fz-hnsw', undefined) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>('fz-missing', null) },
  { weight: 2, arbitrary: fc.constantFrom<unknown>('', '../escape', '.hidden', '-x', 'a/b', 'a'.repeat(129), 'ÿ', ' a', 5, 5n, true, {}, ['fz-a']) },
  { weight: 1, arbitrary: junk },
);

type OptionsRecipe = { t: 'none' } | { t: 'junk'; v: unknown } | { t: 'hostile'; k: HostileKind } | { t: 'object'; v: Record<string, unknown> };
const optionsArb = (extra: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<OptionsRecipe> =>
  fc.oneof(
    { weight: 1, arbitrary: fc.constant({ t: 'none' as const }) },
    { weight: 1, arbitrary: junk.map((v) => ({ t: 'junk' as const, v })) },
    { weight: 1, arbitrary: hostileKind.map((k) => ({ t: 'hostile' as const, k })) },
    { weight: 12, arbitrary: fc.record({ collection: nameArb, ...extra }, { requiredKeys: [] }).map((v) => ({ t: 'object' as const, v })) },
  );

const fieldArb = fc.constantFrom('topic', 'n', 'tags', 'nested.a', 'nested.a.b', 'missing', 'tags.0', 'tags.length', 'constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf', '');
const opValue = fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }), fc.constantFrom<unknown>(NaN, Infinity, -Infinity, undefined, [NaN], {}, 1n));
const conditionArb = fc.oneof(
  { weight: 3, arbitrary: scalar },
  { weight: 4, arbitrary: fc.array(fc.tuple(fc.constantFrom(...OPERATORS, '$regex', 'eq', ''), opValue), { minLength: 1, maxLength: 2 }).map((e) => Object.fromEntries(e)) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(NaN, undefined, [1], 1n) },
);
const filterArb = fc.oneof(
  { weight: 6, arbitrary: fc.array(fc.tuple(fieldArb, conditionArb), { maxLength: 3 }).map((e) => Object.fromEntries(e) as unknown) },
  { weight: 1, arbitrary: junk },
);

const idsArb = fc.oneof(
  fc.array(fc.oneof({ weight: 6, arbitrary: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'zzz', '😀') }, { weight: 1, arbitrary: idArb }), { maxLength: 6 }),
  fc.constantFrom<unknown>('a', 'b'),
  junk,
);

type QueryRecipe = { t: 'text'; s: string } | { t: 'vector'; v: unknown } | { t: 'junk'; v: unknown } | { t: 'hostile'; k: HostileKind };
const queryArb: fc.Arbitrary<QueryRecipe> = fc.oneof(
  { weight: 4, arbitrary: fc.oneof(words, fc.constantFrom('', ' ', 'a\ud800')).map((s) => ({ t: 'text' as const, s })) },
  { weight: 4, arbitrary: vectorArb.map((v) => ({ t: 'vector' as const, v })) },
  { weight: 1, arbitrary: junk.map((v) => ({ t: 'junk' as const, v })) },
  { weight: 1, arbitrary: hostileKind.map((k) => ({ t: 'hostile' as const, k })) },
);

export type CollectionOp =
  | { op: 'index'; docs: DocRecipe[]; single: boolean; options: OptionsRecipe }
  | { op: 'search'; query: QueryRecipe; options: OptionsRecipe }
  | { op: 'get'; ids: unknown; options: OptionsRecipe }
  | { op: 'delete'; ids: unknown; options: OptionsRecipe }
  | { op: 'count'; options: OptionsRecipe };

const kArb = fc.oneof(fc.integer({ min: 1, max: 12 }), fc.constantFrom<unknown>(0, -1, 1.5, NaN, Infinity, 10_000, 10_001, '3', 3n, null));
const opArb: fc.Arbitrary<CollectionOp> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('index' as const), docs: fc.array(docArb, { maxLength: 6 }), single: fc.boolean(), options: optionsArb({ create: fc.oneof(junk, fc.constant({})) }) }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('search' as const), query: queryArb, options: optionsArb({ k: kArb, filter: filterArb, includeVectors: fc.oneof(fc.boolean(), junk), exact: fc.oneof(fc.boolean(), junk) }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('get' as const), ids: idsArb, options: optionsArb({ includeVectors: fc.oneof(fc.boolean(), junk) }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), ids: idsArb, options: optionsArb({}) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('count' as const), options: optionsArb({}) }) },
);

// ---------------------------------------------------------------------------------------------
// Oracle
// ---------------------------------------------------------------------------------------------

const isScalar = (v: unknown): boolean => v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && !Number.isNaN(v));

/** Whether a filter is valid: an object of field -> scalar or operator object (NaN is never a valid operand). */
function validFilter(filter: unknown): boolean {
  if (filter === undefined) return true;
  if (!isObjectArg(filter)) return false;
  for (const cond of Object.values(filter)) {
    if (isScalar(cond)) continue;
    if (!isObjectArg(cond)) return false;
    for (const [op, value] of Object.entries(cond)) {
      if (!OPERATORS.includes(op)) return false;
      const ok =
        op === '$in' || op === '$nin'
          ? Array.isArray(value) && [...value].every(isScalar)
          : op === '$exists'
            ? typeof value === 'boolean'
            : op === '$eq' || op === '$ne'
              ? isScalar(value)
              : (typeof value === 'number' && !Number.isNaN(value)) || typeof value === 'string';
      if (!ok) return false;
    }
  }
  return true;
}

/** A field of JSON metadata: own properties only (never the prototype's), array elements by index. */
function lookup(metadata: unknown, path: string): unknown {
  let v = metadata;
  for (const part of path.split('.')) {
    if (typeof v !== 'object' || v === null) return undefined;
    if (Array.isArray(v) ? !/^(0|[1-9]\d*)$/.test(part) || Number(part) >= v.length : !Object.hasOwn(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

function matches(metadata: unknown, filter: Record<string, unknown>): boolean {
  const equals = (value: unknown, want: unknown): boolean => (Array.isArray(value) ? value.includes(want) : value === want);
  for (const [field, cond] of Object.entries(filter)) {
    const value = lookup(metadata, field);
    if (isScalar(cond)) {
      if (!equals(value, cond)) return false;
      continue;
    }
    for (const [op, want] of Object.entries(cond as object)) {
      const v = value as number;
      const w = want as number;
      const ok =
        op === '$eq' ? equals(value, want)
        : op === '$ne' ? !equals(value, want)
        : op === '$in' ? (want as unknown[]).some((x) => equals(value, x))
        : op === '$nin' ? !(want as unknown[]).some((x) => equals(value, x))
        : op === '$exists' ? (value !== undefined) === want
        : typeof value === typeof want && (op === '$gt' ? v > w : op === '$gte' ? v >= w : op === '$lt' ? v < w : v <= w);
      if (!ok) return false;
    }
  }
  return true;
}

/** The collection a call names, or why it is refused. */
function resolveName(options: OptionsRecipe): { name: string } | { bad: true } {
  if (options.t === 'none') return { name: 'default' };
  // Most hostile objects read as options with no keys set; the others are refused.
  if (options.t === 'hostile') return HOSTILE_NOT_OPTIONS.has(options.k) ? { bad: true } : { name: 'default' };
  const o = options.v;
  if (o === undefined) return { name: 'default' };
  if (!isObjectArg(o) || ArrayBuffer.isView(o)) return { bad: true };
  // null is never a name: only a missing option means the default collection.
  if (o.collection === null) return { bad: true };
  const name = o.collection ?? 'default';
  return typeof name === 'string' && NAME.test(name) && name.toLowerCase() !== 'lock' ? { name } : { bad: true };
}

/** The keys a call reads from its options (a junk object's own keys included; a hostile one reads as empty). */
function optionsObject(options: OptionsRecipe): Record<string, unknown> {
  if (options.t === 'object') return options.v;
  if (options.t === 'junk' && isObjectArg(options.v) && !ArrayBuffer.isView(options.v)) return options.v;
  return {};
}

function buildOptions(options: OptionsRecipe): unknown {
  return options.t === 'none' ? undefined : options.t === 'hostile' ? hostile(options.k) : options.v;
}

/** A valid vector (1 to 65,536 finite float32 values), or undefined. */
function toFloat32(v: unknown): Float32Array | undefined {
  let f: Float32Array | undefined;
  if (v instanceof Float32Array) f = v;
  else if (Array.isArray(v) && [...v].every((x) => typeof x === 'number')) f = Float32Array.from(v as number[]);
  return f && f.every(Number.isFinite) && f.length >= 1 && f.length <= 65_536 ? f : undefined;
}

const bytes = (v: Float32Array): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength);

/**
 * A stored vector is the indexed one: bit for bit in a dot collection; in a cosine collection at
 * unit length (the store keeps cosine vectors normalised, and a zero vector stays zero).
 */
function expectStoredVector(got: Float32Array | undefined, want: Float32Array, metric: string, what: string): void {
  if (!(got instanceof Float32Array) || got.length !== want.length) throw new Error(`${what}: no vector of dimension ${want.length} returned`);
  if (metric !== 'cosine') {
    if (!bytes(got).equals(bytes(want))) throw new Error(`${what}: stored vector differs from what was indexed`);
    return;
  }
  let s = 0;
  for (const x of want) s += x * x;
  const inv = s === 0 ? 1 : 1 / Math.sqrt(s);
  for (let i = 0; i < want.length; i++) {
    if (Math.abs(got[i]! - want[i]! * inv) > 1e-6) throw new Error(`${what}: stored vector differs from the indexed one at unit length (at ${i}: ${got[i]} vs ${want[i]! * inv})`);
  }
}

export function collectionCases(getPool: () => WarmPool, settle: Settle, expectTyped: ExpectTyped) {
  const model = new Map<string, Map<string, Stored>>();
  const invalid = [ErrorCodes.INVALID_INPUT];

  async function embedAlone(text: string): Promise<Float32Array> {
    return (await getPool().embed(text)).slice();
  }

  async function ensureCollections(): Promise<void> {
    if (model.size > 0) return;
    const api = getPool().collections();
    await api.create('fz-a', { index: 'auto' });
    await api.create('fz-dot', { metric: 'dot', index: 'exact' });
    await api.create('fz-hnsw', { index: 'hnsw' });
    await api.create('default');
    for (const name of Object.keys(COLLECTIONS)) model.set(name, new Map());
  }

  /** The documents a call writes, or undefined when the call must be refused. */
  function expectedDocs(recipes: DocRecipe[]): { id: string | undefined; text: string; metadata: unknown; vector: Float32Array | undefined }[] | undefined {
    const out = [];
    for (const r of recipes) {
      if (r.t === 'hostile') return undefined;
      let doc: unknown = r.t === 'string' ? r.s : r.t === 'junk' ? r.v : r;
      if (typeof doc === 'string') {
        if (!isValidText(doc)) return undefined;
        out.push({ id: undefined, text: doc, metadata: undefined, vector: undefined });
        continue;
      }
      if (typeof doc !== 'object' || doc === null) return undefined;
      const d = doc as Record<string, unknown>;
      if (typeof d.id !== 'string' || d.id === '' || !d.id.isWellFormed()) return undefined;
      if (typeof d.text !== 'string' || !d.text.isWellFormed()) return undefined;
      let metadata: unknown;
      if (d.metadata !== undefined) {
        try {
          const json = JSON.stringify(d.metadata);
          if (json === undefined) return undefined;
          metadata = JSON.parse(json);
        } catch {
          return undefined;
        }
      }
      let vector: Float32Array | undefined;
      if (d.vector !== undefined) {
        vector = toFloat32(d.vector);
        if (!vector) return undefined;
      } else if (d.text.trim() === '') return undefined;
      doc = undefined;
      out.push({ id: d.id, text: d.text, metadata, vector });
    }
    const ids = out.map((d) => d.id).filter((id) => id !== undefined);
    return new Set(ids).size === ids.length ? out : undefined;
  }

  async function checkIndex(op: Extract<CollectionOp, { op: 'index' }>): Promise<void> {
    // A single document may come without its array (an array-shaped junk value would be read as a list).
    const docs = op.single && op.docs.length === 1 && op.docs[0]!.t !== 'junk' ? buildDoc(op.docs[0]!) : op.docs.map(buildDoc);
    const result = await settle(() => getPool().index(docs as never, buildOptions(op.options) as never));
    const name = resolveName(op.options);
    let expected = expectedDocs(op.docs);
    // One dimension per call: the model's when any text is embedded, else the first vector's; an
    // existing collection keeps its own (100 here), a new one takes the call's.
    if (expected && expected.length > 0) {
      const dims = expected.some((d) => !d.vector) ? DIMS : expected[0]!.vector!.length;
      const exists = !('bad' in name) && model.has(name.name);
      if (expected.some((d) => d.vector && d.vector.length !== dims) || (exists && dims !== DIMS)) expected = undefined;
    }
    const create = optionsObject(op.options).create;
    if ('bad' in name || !expected) {
      if (!result.ok && create !== undefined && (result.error instanceof TypeError || result.error instanceof RangeError)) return;
      expectTyped(result, invalid);
      return;
    }
    if (expected.length === 0) {
      expect(result).toEqual({ ok: true, value: { ids: [], count: 0 } });
      return;
    }
    if (!result.ok && create !== undefined && (result.error instanceof TypeError || result.error instanceof RangeError)) {
      // Collection settings are options: a bad `create` is a TypeError or RangeError naming the value.
      expect((result.error as Error).message).toMatch(/received|must be/);
      return;
    }
    if (!model.has(name.name)) {
      // Indexing creates a collection that does not exist yet; keep the model's names only.
      expect(result.ok).toBe(true);
      await getPool().collections().drop(name.name);
      return;
    }
    if (!result.ok) throw new Error(`a valid index call failed: ${String(result.error)}`);
    const { ids, count } = result.value as { ids: string[]; count: number };
    expect(count).toBe(expected.length);
    expect(ids).toHaveLength(expected.length);
    const stored = model.get(name.name)!;
    for (let i = 0; i < expected.length; i++) {
      const e = expected[i]!;
      if (e.id !== undefined) expect(ids[i]).toBe(e.id);
      const vector = e.vector ?? (await embedAlone(e.text));
      stored.set(ids[i]!, { text: e.text, metadata: e.metadata, vector });
    }
    await expectStored(name.name, ids);
  }

  function buildDoc(r: DocRecipe): unknown {
    if (r.t === 'string') return r.s;
    if (r.t === 'junk') return r.v;
    if (r.t === 'hostile') return hostile(r.k);
    const { t: _, ...doc } = r;
    return doc;
  }

  /** What get() returns for these ids equals the model: text, metadata and the vector, bit for bit. */
  async function expectStored(name: string, ids: string[]): Promise<void> {
    const got = (await getPool().get(ids, { collection: name, includeVectors: true })) as ({ id: string; text: string; metadata?: unknown; vector?: Float32Array } | null)[];
    const stored = model.get(name)!;
    ids.forEach((id, i) => {
      const want = stored.get(id);
      const doc = got[i];
      if (!want) {
        expect(doc).toBeNull();
        return;
      }
      expect(doc).not.toBeNull();
      expect(doc!.id).toBe(id);
      expect(doc!.text).toBe(want.text);
      expect(doc!.metadata).toEqual(want.metadata);
      expectStoredVector(doc!.vector, want.vector, COLLECTIONS[name as Name], `document ${JSON.stringify(id)} of ${name}`);
    });
  }

  async function checkSearch(op: Extract<CollectionOp, { op: 'search' }>): Promise<void> {
    // A string is a text query whatever recipe made it.
    const q: QueryRecipe = (op.query.t === 'vector' || op.query.t === 'junk') && typeof op.query.v === 'string' ? { t: 'text', s: op.query.v } : op.query;
    const query = q.t === 'text' ? q.s : q.t === 'hostile' ? hostile(q.k) : q.v;
    // The oracle below is the vector ranking: dense mode (hybrid, the default, has tests of its own).
    const options = op.options.t === 'none' ? { mode: 'dense' } : op.options.t === 'object' ? { mode: 'dense', ...op.options.v } : buildOptions(op.options);
    const result = await settle(() => getPool().search(query as never, options as never));
    const name = resolveName(op.options);
    const o = optionsObject(op.options);
    const k = o.k ?? 10;
    let vector: Float32Array | undefined;
    if (q.t === 'vector' || q.t === 'junk') vector = toFloat32(q.v);
    const validQuery = q.t === 'text' ? isValidText(q.s) : vector !== undefined;
    const valid = !('bad' in name) && Number.isInteger(k) && (k as number) >= 1 && (k as number) <= 10_000 && validFilter(o.filter) && validQuery;
    if (!valid) {
      expectTyped(result, [ErrorCodes.INVALID_INPUT, ErrorCodes.COLLECTION_NOT_FOUND]);
      return;
    }
    const stored = model.get((name as { name: string }).name);
    if (!stored) {
      expectTyped(result, [ErrorCodes.COLLECTION_NOT_FOUND]);
      return;
    }
    if (vector && vector.length !== DIMS) {
      expectTyped(result, invalid, /dimension/);
      return;
    }
    if (!result.ok) throw new Error(`a valid search failed: ${String(result.error)}`);
    const hits = result.value as { id: string; score: number; text?: string; metadata?: unknown; vector?: Float32Array }[];
    if (op.options.t === 'hostile') {
      // Options that read as none: the default (hybrid) ranking, which the vector oracle below
      // does not model; what holds for every mode is checked.
      for (let i = 0; i < hits.length; i++) {
        expect(stored.has(hits[i]!.id)).toBe(true);
        if (i > 0) expect(hits[i]!.score).toBeLessThanOrEqual(hits[i - 1]!.score + 1e-6);
      }
      return;
    }
    const qv = vector ?? (await embedAlone((q as { s: string }).s));
    const metric = COLLECTIONS[(name as { name: Name }).name];
    const filter = o.filter as Record<string, unknown> | undefined;
    const candidates = [...stored].filter(([, d]) => !filter || matches(d.metadata, filter));
    const exact = (name as { name: string }).name !== 'fz-hnsw' || o.exact === true;
    if (exact) expect(hits).toHaveLength(Math.min(k as number, candidates.length));
    else expect(hits.length).toBeLessThanOrEqual(Math.min(k as number, candidates.length));
    const score = (v: Float32Array): number => {
      let dot = 0, na = 0, nb = 0;
      for (let i = 0; i < DIMS; i++) {
        dot += qv[i]! * v[i]!;
        na += qv[i]! * qv[i]!;
        nb += v[i]! * v[i]!;
      }
      return metric === 'dot' ? dot : na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
    };
    let previous = Infinity;
    for (const hit of hits) {
      const doc = stored.get(hit.id);
      if (!doc) throw new Error(`search returned ${JSON.stringify(hit.id)}, which is not in the collection`);
      if (filter && !matches(doc.metadata, filter)) throw new Error(`hit ${JSON.stringify(hit.id)} does not match the filter`);
      expect(Number.isFinite(hit.score)).toBe(true);
      expect(hit.text).toBe(doc.text);
      expect(Math.abs(hit.score - score(doc.vector))).toBeLessThan(1e-4 * Math.max(1, Math.abs(hit.score)));
      expect(hit.score).toBeLessThanOrEqual(previous + 1e-6);
      previous = hit.score;
    }
    if (exact && hits.length > 0) {
      // Nothing left out scores better than the worst hit returned.
      const returned = new Set(hits.map((h) => h.id));
      const best = Math.max(-Infinity, ...candidates.filter(([id]) => !returned.has(id)).map(([, d]) => score(d.vector)));
      expect(best).toBeLessThanOrEqual(hits.at(-1)!.score + 1e-4);
    }
  }

  function expectedIds(ids: unknown): string[] | undefined {
    if (typeof ids === 'string') return ids.isWellFormed() ? [ids] : undefined;
    if (!Array.isArray(ids) || Object.keys(ids).length !== ids.length) return undefined;
    return ids.every((id) => typeof id === 'string' && id.isWellFormed()) ? (ids as string[]) : undefined;
  }

  async function checkGetDelete(op: Extract<CollectionOp, { op: 'get' | 'delete' }>): Promise<void> {
    const pool = getPool();
    const options = buildOptions(op.options) as never;
    const result = await settle(() => (op.op === 'get' ? pool.get(op.ids as never, options) : pool.delete(op.ids as never, options)));
    const name = resolveName(op.options);
    const ids = expectedIds(op.ids);
    if ('bad' in name || !ids) {
      expectTyped(result, invalid);
      return;
    }
    const stored = model.get(name.name);
    if (!stored) {
      expectTyped(result, [ErrorCodes.COLLECTION_NOT_FOUND]);
      return;
    }
    if (!result.ok) throw new Error(`a valid ${op.op} failed: ${String(result.error)}`);
    if (op.op === 'delete') {
      let existed = 0;
      for (const id of ids) if (stored.delete(id)) existed++;
      expect(result.value).toBe(existed);
      return;
    }
    const docs = result.value as ({ id: string; text: string; metadata?: unknown } | null)[];
    expect(docs).toHaveLength(ids.length);
    ids.forEach((id, i) => {
      const want = stored.get(id);
      if (!want) expect(docs[i]).toBeNull();
      else expect(docs[i]).toMatchObject({ id, text: want.text });
    });
  }

  async function checkCount(op: Extract<CollectionOp, { op: 'count' }>): Promise<void> {
    const result = await settle(() => getPool().count(buildOptions(op.options) as never));
    const name = resolveName(op.options);
    if ('bad' in name) return expectTyped(result, invalid);
    const stored = model.get(name.name);
    if (!stored) return expectTyped(result, [ErrorCodes.COLLECTION_NOT_FOUND]);
    expect(result).toEqual({ ok: true, value: stored.size });
  }

  return {
    arbitrary: opArb,
    async check(op: CollectionOp): Promise<void> {
      await ensureCollections();
      if (op.op === 'index') await checkIndex(op);
      else if (op.op === 'search') await checkSearch(op);
      else if (op.op === 'get' || op.op === 'delete') await checkGetDelete(op);
      else await checkCount(op);
    },
    /** Every collection holds exactly the model's documents. */
    async verifyAll(pool: WarmPool = getPool()): Promise<void> {
      for (const [name, stored] of model) {
        expect(await pool.count({ collection: name })).toBe(stored.size);
        const ids = [...stored.keys()];
        const got = (await pool.get(ids, { collection: name, includeVectors: true })) as ({ text: string; metadata?: unknown; vector?: Float32Array } | null)[];
        ids.forEach((id, i) => {
          const want = stored.get(id)!;
          expect(got[i], `document ${JSON.stringify(id)} of ${name}`).toMatchObject({ id, text: want.text });
          expect(got[i]!.metadata).toEqual(want.metadata);
          expectStoredVector(got[i]!.vector, want.vector, COLLECTIONS[name as Name], `document ${JSON.stringify(id)} of ${name}`);
        });
      }
    },
    /** The same after the store is closed and reopened by a fresh pool. */
    async verifyReopened(storePath: string): Promise<void> {
      const reopened = createPool({ warmup: 'lazy', threads: 1, storePath, env: false });
      try {
        await this.verifyAll(reopened);
      } finally {
        await reopened.close();
      }
    },
  };
}
