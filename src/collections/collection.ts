/**
 * One collection inside the index worker: documents in memory, vectors in a {@link VectorIndex},
 * every change written to the log (group-committed: the writes that arrive during one fsync share
 * the next) before it is applied and acknowledged, and periodic snapshots that bound recovery.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CollectionCorruptError, CollectionNotFoundError, WarmpoolError } from '../errors.js';
import type { PoolStats } from '../stats.js';
import { matches, type MetadataFilter } from './filter.js';
import { encodeDelete, encodeUpsert, Op, type LogRecord } from './records.js';
import { listSnapshots, readSnapshot, writeSnapshot, type SnapshotContent } from './snapshot.js';
import type { CollectionInfo, CollectionSettings, JsonValue, SearchHit, StoredDoc } from './types.js';
import { VectorIndex } from './vector-index.js';
import { fsyncDir, listSegments, readSegments, WalWriter } from './wal.js';

/** Log records since the last snapshot that trigger the next one. */
const SNAPSHOT_EVERY = 50_000;
const META = 'meta.json';

interface Entry {
  slot: number;
  text: string;
  metadata: JsonValue | undefined;
  metaJson: string | undefined;
}

export interface UpsertDoc {
  id: string;
  text: string;
  metadata?: JsonValue;
  vector: Float32Array;
}

interface Batch {
  frames: Buffer[];
  lastSeq: number;
  apply: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class Collection {
  readonly dir: string;
  readonly settings: CollectionSettings;
  readonly #stats: PoolStats;
  readonly #docs = new Map<string, Entry>();
  readonly #ids: string[] = [];
  readonly #vi: VectorIndex;
  readonly #wal: WalWriter;
  #seq = 0;
  #applied = 0;
  #pending: Batch[] = [];
  #flushing: Promise<void> | undefined;
  #sinceSnapshot = 0;
  #snapshotting: Promise<void> | undefined;
  #broken: Error | undefined;
  lastUsed = Date.now();
  recovery: string | undefined;

  private constructor(dir: string, settings: CollectionSettings, stats: PoolStats) {
    this.dir = dir;
    this.settings = settings;
    this.#stats = stats;
    this.#vi = new VectorIndex(settings);
    this.#wal = new WalWriter(dir);
  }

  static async create(dir: string, settings: CollectionSettings, stats: PoolStats): Promise<Collection> {
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `${META}.tmp`);
    writeFileSync(tmp, JSON.stringify(settings, null, 2), { flush: true });
    renameSync(tmp, join(dir, META));
    fsyncDir(dir);
    fsyncDir(join(dir, '..'));
    return Collection.open(dir, stats);
  }

  static async open(dir: string, stats: PoolStats): Promise<Collection> {
    const metaFile = join(dir, META);
    if (!existsSync(metaFile)) throw new CollectionNotFoundError(`no collection in ${dir}`);
    let settings: CollectionSettings;
    try {
      settings = JSON.parse(readFileSync(metaFile, 'utf8')) as CollectionSettings;
      if (!Number.isInteger(settings.dims) || typeof settings.metric !== 'string') throw new Error('missing dims or metric');
    } catch (error) {
      throw new CollectionCorruptError(`collection settings ${metaFile} are damaged: ${(error as Error).message}`);
    }
    const c = new Collection(dir, settings, stats);
    await c.#recover();
    return c;
  }

  async #recover(): Promise<void> {
    const snapshots = listSnapshots(this.dir);
    const segments = listSegments(this.dir);
    let base: SnapshotContent | undefined;
    const damaged: { file: string; seq: number; error: WarmpoolError }[] = [];
    for (const snap of snapshots) {
      try {
        base = readSnapshot(snap);
        break;
      } catch (error) {
        damaged.push({ file: snap.file, seq: snap.seq, error: error as WarmpoolError });
      }
    }
    const baseSeq = base?.seq ?? 0;
    // The log must reach back to just after the snapshot we start from (to seq 1 without one).
    if (damaged.length > 0 && (segments[0]?.firstSeq ?? 1) > baseSeq + 1) throw damaged[0]!.error;
    if (base) for (const doc of base.docs) this.#applyUpsert(doc.id, doc.text, doc.metadata, doc.vector, false);
    let expected = baseSeq + 1;
    for (const record of readSegments(segments)) {
      if (record.seq < expected) continue;
      if (record.seq !== expected) {
        throw new CollectionCorruptError(`write-ahead log of ${this.dir} skips from sequence ${expected - 1} to ${record.seq}`);
      }
      this.#replay(record);
      expected++;
    }
    // A damaged snapshot covered up to its sequence: what replaces it must reach at least as far,
    // or documents would be silently missing.
    const needed = Math.max(0, ...damaged.map((d) => d.seq));
    if (expected - 1 < needed) throw damaged[0]!.error;
    this.#seq = this.#applied = expected - 1;
    this.#sinceSnapshot = this.#seq - baseSeq;
    for (const { file, error } of damaged) {
      renameSync(file, `${file}.corrupt`);
      this.recovery = `${error.message}; recovered from ${base ? 'the previous snapshot' : 'the log alone'} and the log, file kept as ${file}.corrupt`;
    }
    this.#vi.finishLoad();
    await this.#wal.openLast(this.#seq + 1);
  }

  #replay(record: LogRecord): void {
    if (record.op === Op.upsert) this.#applyUpsert(record.id, record.text, record.metadata, record.vector, false);
    else if (record.op === Op.delete) this.#applyDelete(record.id, false);
  }

  #applyUpsert(id: string, text: string, metaJson: string | undefined, vector: Float32Array, count: boolean): void {
    const old = this.#docs.get(id);
    const slot = this.#vi.put(vector, old?.slot);
    this.#ids[slot] = id;
    const metadata = metaJson === undefined ? undefined : (JSON.parse(metaJson) as JsonValue);
    this.#docs.set(id, { slot, text, metadata, metaJson });
    if (count) this.#stats.inc('docsIndexed');
  }

  #applyDelete(id: string, count: boolean): boolean {
    const old = this.#docs.get(id);
    if (!old) return false;
    this.#vi.remove(old.slot);
    this.#docs.delete(id);
    if (count) this.#stats.inc('docsDeleted');
    return true;
  }

  get count(): number {
    return this.#docs.size;
  }

  /** Writes the documents (replacing those with the same id); resolves once they are on disk. */
  upsert(docs: UpsertDoc[]): Promise<void> {
    const metaJsons = docs.map((d) => (d.metadata === undefined ? undefined : JSON.stringify(d.metadata)));
    const frames = docs.map((d, i) => encodeUpsert(++this.#seq, d.id, d.text, metaJsons[i], d.vector));
    return this.#enqueue(frames, () => {
      docs.forEach((d, i) => this.#applyUpsert(d.id, d.text, metaJsons[i], d.vector, true));
      this.#vi.commit();
    }) as Promise<void>;
  }

  /** Deletes the ids; resolves to how many existed, once the deletion is on disk. */
  delete(ids: string[]): Promise<number> {
    const frames = ids.map((id) => encodeDelete(++this.#seq, id));
    return this.#enqueue(frames, () => ids.filter((id) => this.#applyDelete(id, true)).length) as Promise<number>;
  }

  #enqueue(frames: Buffer[], apply: () => unknown): Promise<unknown> {
    this.lastUsed = Date.now();
    if (this.#broken) return Promise.reject(this.#broken);
    return new Promise((resolve, reject) => {
      this.#pending.push({ frames, lastSeq: this.#seq, apply, resolve, reject });
      this.#flushing ??= this.#flush().finally(() => {
        this.#flushing = undefined;
      });
    });
  }

  async #flush(): Promise<void> {
    while (this.#pending.length > 0) {
      const group = this.#pending;
      this.#pending = [];
      try {
        await this.#wal.append(group.flatMap((b) => b.frames));
      } catch (error) {
        // What reached the file is unknown: refuse further writes rather than log after a hole.
        this.#broken = new CollectionCorruptError(`writing the log of ${this.dir} failed; reopen the store: ${(error as Error).message}`);
        for (const b of [...group, ...this.#pending]) b.reject(this.#broken);
        this.#pending = [];
        return;
      }
      for (const b of group) {
        try {
          b.resolve(b.apply());
        } catch (error) {
          b.reject(error);
        }
        this.#applied = b.lastSeq;
        this.#sinceSnapshot += b.frames.length;
      }
      if (this.#sinceSnapshot >= SNAPSHOT_EVERY && !this.#snapshotting) await this.#startSnapshot();
    }
  }

  /** Copies the state (synchronously, so it is consistent), moves the log to a new segment, writes in the background. */
  async #startSnapshot(): Promise<void> {
    const seq = this.#applied;
    const frames: Buffer[] = [];
    for (const [id, e] of this.#docs) frames.push(encodeUpsert(seq, id, e.text, e.metaJson, this.#vi.vector(e.slot)));
    this.#sinceSnapshot = 0;
    await this.#wal.rotate(seq + 1);
    this.#snapshotting = writeSnapshot(this.dir, seq, { ...this.settings }, frames)
      .then(() => this.#prune())
      .catch(() => {
        // The log still holds everything since the previous snapshot; try again later.
        this.#sinceSnapshot = Math.max(this.#sinceSnapshot, SNAPSHOT_EVERY / 2);
      })
      .finally(() => {
        this.#snapshotting = undefined;
      });
  }

  /** Keeps the two newest snapshots and the log since the older one: a damaged newest one can be recovered from. */
  #prune(): void {
    const snaps = listSnapshots(this.dir);
    for (const old of snaps.slice(2)) unlinkSync(old.file);
    if (snaps.length < 2) return;
    const covered = snaps[1]!.seq;
    const segments = listSegments(this.dir);
    for (let i = 0; i + 1 < segments.length; i++) {
      if (segments[i + 1]!.firstSeq - 1 <= covered) unlinkSync(segments[i]!.file);
    }
    fsyncDir(this.dir);
  }

  get(ids: string[], includeVectors: boolean): (StoredDoc | null)[] {
    this.lastUsed = Date.now();
    return ids.map((id) => {
      const e = this.#docs.get(id);
      if (!e) return null;
      const doc: StoredDoc = { id, text: e.text };
      if (e.metadata !== undefined) doc.metadata = e.metadata;
      if (includeVectors) doc.vector = this.#vi.vector(e.slot).slice();
      return doc;
    });
  }

  search(query: Float32Array, k: number, filter: MetadataFilter | undefined, includeVectors: boolean, exact: boolean): SearchHit[] {
    this.lastUsed = Date.now();
    this.#stats.inc('searches');
    const accept = filter ? (slot: number) => matches(this.#docs.get(this.#ids[slot]!)?.metadata, filter) : undefined;
    return this.#vi.search(query, k, accept, exact).map(({ slot, score }) => {
      const id = this.#ids[slot]!;
      const e = this.#docs.get(id)!;
      const hit: SearchHit = { id, score, text: e.text };
      if (e.metadata !== undefined) hit.metadata = e.metadata;
      if (includeVectors) hit.vector = this.#vi.vector(slot).slice();
      return hit;
    });
  }

  info(): CollectionInfo {
    const s = this.settings;
    const info: CollectionInfo = {
      name: s.name,
      dims: s.dims,
      metric: s.metric,
      index: s.index,
      hnswActive: this.#vi.hnswActive,
      ttl: s.ttl,
      count: this.#docs.size,
      createdAt: s.createdAt,
    };
    if (this.recovery) info.recovery = this.recovery;
    return info;
  }

  /** Waits for pending writes, snapshots what the log holds beyond the last snapshot, closes the log. */
  async close(): Promise<void> {
    while (this.#flushing || this.#snapshotting) await (this.#flushing ?? this.#snapshotting);
    if (this.#sinceSnapshot > 0 && !this.#broken) {
      await this.#startSnapshot();
      await this.#snapshotting;
    }
    await this.#wal.close();
  }
}
