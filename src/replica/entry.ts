/**
 * Entries of a replicated store's log: one Redis stream entry per write, flat string fields.
 *
 * Upserts carry the vectors (float32, little-endian, base64) so that every replica stores the very
 * same numbers without embedding again, and the settings the collection is created with, so that
 * the first upsert creates it the same way everywhere. Decoding is strict and deterministic: an
 * entry one replica refuses, every replica refuses, at the same place.
 */
import { ReplicaLogError } from '../errors.js';
import { collectionName, collectionSettings } from '../collections/inputs.js';
import type { CollectionSettings, CreateCollectionOptions, JsonValue } from '../collections/types.js';

/** Written into every entry; a replica refuses entries of a format it does not know. */
export const ENTRY_FORMAT = '1';

export interface LogDoc {
  id: string;
  text: string;
  metadata?: JsonValue;
}

/** What a write appends (the log's sequence number `n` is added by Redis, see redis.ts). */
export type EntryBody =
  | { op: 'upsert'; collection: string; create: CreateCollectionOptions; docs: LogDoc[]; dims: number; vectors: Float32Array }
  | { op: 'create'; collection: string; create: CreateCollectionOptions }
  | { op: 'delete'; collection: string; ids: string[] }
  | { op: 'drop'; collection: string };

/** An entry read back: its stream id and its sequence number in the log. */
export type Entry = EntryBody & { id: string; n: number };

/** The settings a collection is created with, as the log carries them (no ttl: replicas never expire one on their own). */
export function createOptionsOf(s: CollectionSettings): CreateCollectionOptions {
  return { dims: s.dims, metric: s.metric, index: s.index, autoThreshold: s.autoThreshold, hnsw: { ...s.hnsw } };
}

export function vectorsToBase64(v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
}

/** Float32 values from base64; `count` of them exactly, or a `ReplicaLogError` naming `where`. */
export function vectorsFromBase64(text: string, count: number, where: string): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== count * 4 || text.length !== Math.ceil((count * 4) / 3) * 4) {
    throw new ReplicaLogError(`${where}: its vectors hold ${bytes.length} bytes, expected ${count * 4}`);
  }
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = bytes.readFloatLE(i * 4);
  for (let i = 0; i < count; i++) if (!Number.isFinite(out[i])) throw new ReplicaLogError(`${where}: vector value ${i} is not finite`);
  return out;
}

/** The stream fields of an entry body, as [field, value, ...]. */
export function encodeEntry(body: EntryBody): string[] {
  const fields = ['v', ENTRY_FORMAT, 'op', body.op, 'c', body.collection];
  if (body.op === 'upsert') {
    const docs = body.docs.map((d) => (d.metadata === undefined ? [d.id, d.text] : [d.id, d.text, d.metadata]));
    fields.push('create', JSON.stringify(body.create), 'docs', JSON.stringify(docs), 'dims', String(body.dims), 'vec', vectorsToBase64(body.vectors));
  } else if (body.op === 'create') {
    fields.push('create', JSON.stringify(body.create));
  } else if (body.op === 'delete') {
    fields.push('ids', JSON.stringify(body.ids));
  }
  return fields;
}

function parseJson(text: string | undefined, field: string, where: string): unknown {
  if (text === undefined) throw new ReplicaLogError(`${where}: field '${field}' is missing`);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ReplicaLogError(`${where}: field '${field}' is not JSON (${(error as Error).message})`);
  }
}

const isId = (x: unknown): x is string => typeof x === 'string' && x !== '' && x.isWellFormed();

/** Reads one stream entry (`fields` as Redis returns them: [field, value, ...]), or throws `ReplicaLogError`. */
export function decodeEntry(id: string, fields: string[]): Entry {
  const where = `log entry ${id}`;
  const f = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!);
  if (f.get('v') !== ENTRY_FORMAT) throw new ReplicaLogError(`${where}: format ${JSON.stringify(f.get('v') ?? null)} is not ${ENTRY_FORMAT}`);
  const n = Number(f.get('n'));
  if (!Number.isSafeInteger(n) || n < 1) throw new ReplicaLogError(`${where}: sequence number ${JSON.stringify(f.get('n') ?? null)} is not a positive integer`);
  let collection: string;
  try {
    collection = collectionName(f.get('c'), true);
  } catch (error) {
    throw new ReplicaLogError(`${where}: ${(error as Error).message}`);
  }
  const op = f.get('op');
  if (op === 'drop') return { id, n, op, collection };
  if (op === 'delete') {
    const ids = parseJson(f.get('ids'), 'ids', where);
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every(isId)) throw new ReplicaLogError(`${where}: 'ids' is not a non-empty list of ids`);
    return { id, n, op, collection, ids };
  }
  if (op !== 'upsert' && op !== 'create') throw new ReplicaLogError(`${where}: op ${JSON.stringify(op ?? null)} is not upsert, create, delete or drop`);
  const create = parseJson(f.get('create'), 'create', where);
  if (typeof create !== 'object' || create === null || Array.isArray(create)) throw new ReplicaLogError(`${where}: 'create' is not an object`);
  try {
    if ((create as CreateCollectionOptions).ttl !== undefined) throw new Error('a replicated collection has no ttl');
    collectionSettings(collection, create, 1);
  } catch (error) {
    throw new ReplicaLogError(`${where}: 'create' is not valid collection settings: ${(error as Error).message}`);
  }
  if (op === 'create') return { id, n, op, collection, create: create as CreateCollectionOptions };
  const rows = parseJson(f.get('docs'), 'docs', where);
  if (!Array.isArray(rows) || rows.length === 0) throw new ReplicaLogError(`${where}: 'docs' is not a non-empty list`);
  const docs = rows.map((row: unknown, i): LogDoc => {
    if (!Array.isArray(row) || row.length < 2 || row.length > 3 || !isId(row[0]) || typeof row[1] !== 'string') {
      throw new ReplicaLogError(`${where}: docs[${i}] is not [id, text, metadata?]`);
    }
    return row.length === 3 ? { id: row[0], text: row[1], metadata: row[2] as JsonValue } : { id: row[0], text: row[1] };
  });
  const dims = Number(f.get('dims'));
  if (!Number.isSafeInteger(dims) || dims < 1 || dims > 65_536) throw new ReplicaLogError(`${where}: dims ${JSON.stringify(f.get('dims') ?? null)} is not 1-65536`);
  const vectors = vectorsFromBase64(f.get('vec') ?? '', docs.length * dims, where);
  return { id, n, op, collection, create: create as CreateCollectionOptions, docs, dims, vectors };
}

/** Orders two stream ids ('<ms>-<seq>'): negative, zero or positive. */
export function compareIds(a: string, b: string): number {
  const [am, as = '0'] = a.split('-');
  const [bm, bs = '0'] = b.split('-');
  const d = BigInt(am!) - BigInt(bm!);
  if (d !== 0n) return d < 0n ? -1 : 1;
  const e = BigInt(as) - BigInt(bs);
  return e === 0n ? 0 : e < 0n ? -1 : 1;
}
