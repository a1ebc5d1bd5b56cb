/**
 * A replicated store's snapshot: every collection's documents, vectors and creation settings at one
 * log position. A replica uploads one to Redis (one key, replaced by newer ones); a new replica, or
 * one that fell behind the trimmed log, installs it and follows the log from its position.
 */
import { createHash } from 'node:crypto';
import type { WarmPool } from '../pool.js';
import { ReplicaLogError } from '../errors.js';
import type { CreateCollectionOptions, JsonValue, StoredDoc } from '../collections/types.js';
import { vectorsFromBase64, vectorsToBase64 } from './entry.js';

export const SNAPSHOT_FORMAT = 1;

export interface SnapshotCollection {
  name: string;
  create: CreateCollectionOptions;
  dims: number;
  /** [id, text] or [id, text, metadata], sorted by id. */
  docs: ([string, string] | [string, string, JsonValue])[];
  /** Every document's vector, in the order of `docs` (float32 little-endian, base64). */
  vec: string;
}

export interface Snapshot {
  format: typeof SNAPSHOT_FORMAT;
  epoch: string;
  /** The stream id of the last entry it holds ('0-0': it starts its epoch). */
  last: string;
  /** The sequence number of that entry. */
  n: number;
  /** For a snapshot that seeds a new epoch: the position of the replica that made it in the old one. */
  from?: { epoch: string; n: number };
  collections: SnapshotCollection[];
}

/** Documents fetched this many at a time. */
const CHUNK = 1000;

/** Every document of a collection with its vector, sorted by id. */
async function readAll(pool: WarmPool, name: string): Promise<StoredDoc[]> {
  const ids = (await pool.collections().ids(name)).sort();
  const out: StoredDoc[] = [];
  for (let i = 0; i < ids.length; i += CHUNK) {
    const docs = await pool.get(ids.slice(i, i + CHUNK), { collection: name, includeVectors: true });
    for (const d of docs) if (d) out.push(d);
  }
  return out;
}

/** The store's content as a snapshot body (the caller adds where it stands in the log). */
export async function takeSnapshot(pool: WarmPool, creates: Record<string, CreateCollectionOptions>): Promise<SnapshotCollection[]> {
  const out: SnapshotCollection[] = [];
  for (const info of await pool.collections().list()) {
    const docs = await readAll(pool, info.name);
    const vectors = new Float32Array(docs.length * info.dims);
    docs.forEach((d, i) => vectors.set(d.vector!, i * info.dims));
    out.push({
      name: info.name,
      create: creates[info.name] ?? { dims: info.dims, metric: info.metric, index: info.index },
      dims: info.dims,
      docs: docs.map((d) => (d.metadata === undefined ? [d.id, d.text] : [d.id, d.text, d.metadata])),
      vec: vectorsToBase64(vectors),
    });
  }
  return out;
}

/** Reads a snapshot from its JSON, checking its shape (a `ReplicaLogError` when it is damaged). */
export function parseSnapshot(json: string): Snapshot {
  let s: Snapshot;
  try {
    s = JSON.parse(json) as Snapshot;
  } catch (error) {
    throw new ReplicaLogError(`the log's snapshot is not JSON: ${(error as Error).message}`);
  }
  if (s?.format !== SNAPSHOT_FORMAT || typeof s.epoch !== 'string' || typeof s.last !== 'string' || !Number.isSafeInteger(s.n) || !Array.isArray(s.collections)) {
    throw new ReplicaLogError(`the log's snapshot has format ${JSON.stringify(s?.format ?? null)} or misses fields; expected format ${SNAPSHOT_FORMAT}`);
  }
  return s;
}

/** Replaces every collection of the local store with the snapshot's. */
export async function installSnapshot(pool: WarmPool, snap: Snapshot): Promise<void> {
  const api = pool.collections();
  for (const info of await api.list()) await api.drop(info.name);
  for (const c of snap.collections) {
    const vectors = vectorsFromBase64(c.vec, c.docs.length * c.dims, `the snapshot of collection ${c.name}`);
    await api.create(c.name, { ...c.create, dims: c.dims });
    for (let i = 0; i < c.docs.length; i += CHUNK) {
      const docs = c.docs.slice(i, i + CHUNK).map(([id, text, metadata], j) => {
        const vector = vectors.subarray((i + j) * c.dims, (i + j + 1) * c.dims);
        return metadata === undefined ? { id, text, vector } : { id, text, metadata, vector };
      });
      await pool.index(docs, { collection: c.name, priority: 'batch' });
    }
  }
}

/**
 * A hash of the store's content: every collection's name, and each document's id, text,
 * metadata and vector bytes, in id order. Two replicas that applied the same log agree on it.
 */
export async function contentHash(pool: WarmPool): Promise<string> {
  const hash = createHash('sha256');
  for (const info of await pool.collections().list()) {
    hash.update(`collection\0${info.name}\0${info.dims}\0${info.metric}\0`);
    for (const d of await readAll(pool, info.name)) {
      hash.update(`${d.id}\0${d.text}\0${d.metadata === undefined ? '' : JSON.stringify(d.metadata)}\0`);
      hash.update(Buffer.from(d.vector!.buffer, d.vector!.byteOffset, d.vector!.byteLength));
    }
  }
  return hash.digest('hex');
}
