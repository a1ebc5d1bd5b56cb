/**
 * One collection inside the index worker: documents in memory, vectors in a {@link VectorIndex},
 * every change written to the log (group-committed: the writes that arrive during one fsync share
 * the next) before it is applied and acknowledged, and periodic snapshots that bound recovery.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { CollectionCorruptError, CollectionNotFoundError, InvalidInputError, WarmpoolError } from '../errors.js';
import type { PoolStats } from '../stats.js';
import type { CollectionRecovery } from '../types.js';
import { matches, type MetadataFilter } from './filter.js';
import { encodeDelete, encodeUpsert, Op, type LogRecord } from './records.js';
import { listSnapshots, readSnapshot, writeSnapshot, type SnapshotContent } from './snapshot.js';
import { QUANTIZATIONS, type CollectionInfo, type CollectionSettings, type JsonValue, type SearchHit, type StoredDoc } from './types.js';
import type { ModelFingerprint } from './fingerprint.js';
import { VectorIndex } from './vector-index.js';
import { KeywordIndex } from './keyword-index.js';
import { fuse, type SearchPlan } from './hybrid.js';
import { decodeRecords } from './records.js';
import { RecoveryReport } from './recovery.js';
import { testHooks } from '../test-hooks.js';
import { fsyncDir, keepDamaged, listSegments, MANIFEST, segmentStates, WalWriter, zeroRange } from './wal.js';

/** Log records since the last snapshot that trigger the next one. */
const SNAPSHOT_EVERY = 50_000;
const META = 'meta.json';
/** Written into meta.json: collections of this format keep the list of their log's segments. */
const LOG_FORMAT = 2;
/** Prefix of the temporary folder a collection is created in (a collection name cannot start with '.'). */
export const CREATING = '.creating-';

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
  /** BM25 over the stored texts, derived from them (see keyword-index.ts). */
  readonly #kw = new KeywordIndex();
  /** False only under the benchmarks' `noKeywordIndex` hook. */
  readonly #keywords = !testHooks().noKeywordIndex;
  readonly #wal: WalWriter;
  #seq = 0;
  #applied = 0;
  #pending: Batch[] = [];
  #flushing: Promise<void> | undefined;
  #sinceSnapshot = 0;
  #snapshotting: Promise<void> | undefined;
  #broken: Error | undefined;
  #format = LOG_FORMAT;
  lastUsed = Date.now();
  recovery: CollectionRecovery | undefined;

  private constructor(dir: string, settings: CollectionSettings, stats: PoolStats) {
    this.dir = dir;
    this.settings = settings;
    this.#stats = stats;
    this.#vi = new VectorIndex(settings);
    this.#wal = new WalWriter(dir);
  }

  /**
   * Creates the collection's folder whole, or not at all: settings, the log's first segment and its
   * list are written into a temporary folder that is then renamed into place. A collection folder
   * therefore always has its log; one that lacks it was damaged from outside.
   */
  static async create(dir: string, settings: CollectionSettings, stats: PoolStats): Promise<Collection> {
    const root = join(dir, '..');
    const tmp = join(root, `${CREATING}${randomUUID()}`);
    mkdirSync(tmp, { recursive: true });
    try {
      writeFileSync(join(tmp, META), JSON.stringify({ ...settings, format: LOG_FORMAT }, null, 2), { flush: true });
      const wal = new WalWriter(tmp);
      await wal.rotate(1);
      await wal.close();
      fsyncDir(tmp);
      renameSync(tmp, dir);
    } catch (error) {
      rmSync(tmp, { recursive: true, force: true });
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ENOTEMPTY' || code === 'ENOTDIR' || code === 'EISDIR' || code === 'EPERM') {
        throw new InvalidInputError(
          `cannot create collection ${JSON.stringify(settings.name)}: a file or folder of that name that is not a collection is in the store`,
        );
      }
      throw error;
    }
    fsyncDir(root);
    return Collection.open(dir, stats);
  }

  static async open(dir: string, stats: PoolStats): Promise<Collection> {
    const metaFile = join(dir, META);
    if (!existsSync(metaFile)) throw new CollectionNotFoundError(`no collection in ${dir}`);
    let settings: CollectionSettings & { format?: number };
    try {
      settings = JSON.parse(readFileSync(metaFile, 'utf8')) as CollectionSettings;
      if (!Number.isInteger(settings.dims) || typeof settings.metric !== 'string') throw new Error('missing dims or metric');
      settings.quantization ??= 'f32';
      if (!QUANTIZATIONS.includes(settings.quantization)) throw new Error(`unknown quantization ${JSON.stringify(settings.quantization)}`);
    } catch (error) {
      throw new CollectionCorruptError(`collection settings ${metaFile} are damaged: ${(error as Error).message}`);
    }
    const { format = 1, ...rest } = settings;
    const c = new Collection(dir, rest, stats);
    c.#format = format;
    await c.#recover(format);
    return c;
  }

  /**
   * Records the model that made the vectors of a collection that has none recorded (one made
   * before fingerprints were kept): meta.json is rewritten through a temporary file, fsynced and
   * renamed over the old one, so a crash leaves the old settings or the new, never a mix.
   */
  recordModel(model: ModelFingerprint): void {
    const next = { ...this.settings, model };
    const file = join(this.dir, META);
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify({ ...next, format: this.#format }, null, 2), { flush: true });
    renameSync(tmp, file);
    fsyncDir(this.dir);
    this.settings.model = model;
  }

  /** The ids of the documents stored with an empty text (vectors of one's own): nothing to re-embed. */
  textlessIds(): string[] {
    const out: string[] = [];
    for (const [id, e] of this.#docs) if (e.text.trim() === '') out.push(id);
    return out;
  }

  /** The ids of every document, in no particular order (a copy). */
  ids(): string[] {
    return [...this.#docs.keys()];
  }

  /** `format`: 2 for a collection whose log has a list of its segments (1: written before it had). */
  async #recover(format: number): Promise<void> {
    const snapshots = listSnapshots(this.dir);
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
    const report = new RecoveryReport();
    const { segments, listed, problem: listProblem } = segmentStates(this.dir);
    if (listProblem) report.lost(listProblem, 0);
    else if (!listed && format >= LOG_FORMAT) {
      report.lost(`the log's list of segments (${MANIFEST}) is missing; the ${segments.length} segment${segments.length === 1 ? '' : 's'} on disk were used`, 0);
    }
    // Segments the snapshot covers (the next one starts at or before the snapshot's sequence + 1)
    // are not needed, and not read: damage in them loses nothing.
    const needed = segments.filter((s, i) => {
      const next = segments[i + 1];
      return !next || next.firstSeq - 1 > baseSeq;
    });
    // The log must reach back to just after the snapshot we start from (to seq 1 without one).
    if (damaged.length > 0 && (needed[0]?.firstSeq ?? 1) > baseSeq + 1) throw damaged[0]!.error;

    // Read every needed segment and decide what to repair before anything on disk changes, so that
    // a collection that cannot be opened is left exactly as found.
    const records: LogRecord[] = [];
    const repairs: (() => void)[] = [];
    let end: number | undefined;
    for (const s of needed) {
      const name = basename(s.file);
      end = undefined;
      if (s.length === undefined) {
        // Listed in log.json but gone from the folder.
        report.lost(`write-ahead log segment ${name} is missing (${s.size} bytes allocated)`, s.size ?? 0);
        continue;
      }
      const buf = readFileSync(s.file);
      const result = decodeRecords(buf);
      for (const record of result.records) records.push(record);
      end = result.validLength;
      const shortened = s.size !== undefined && s.length < s.size;
      if (result.problem && !result.problem.atTail) {
        const { offset, reason } = result.problem;
        throw new CollectionCorruptError(`write-ahead log ${s.file} is damaged: ${reason} at byte ${offset} of ${buf.length}`);
      }
      if (!result.problem && !shortened) continue;
      const last = result.records.at(-1)?.seq ?? s.firstSeq - 1;
      // The torn bytes run from the end of the last whole record to the last non-zero byte.
      let tornEnd = result.validLength;
      if (result.problem) {
        tornEnd = buf.length;
        while (tornEnd > result.validLength && buf[tornEnd - 1] === 0) tornEnd--;
      }
      const torn = tornEnd - result.validLength;
      if (shortened) {
        // Cut from outside. Records ending before the cut, with only zeros after them, lost nothing.
        const cleanCut = !result.problem && result.validLength < buf.length;
        const what = `write-ahead log segment ${name} was cut short from ${s.size} to ${s.length} bytes`;
        if (cleanCut) report.problem(`${what}; only its unused space was cut`);
        else report.lost(`${what}: records after sequence ${last} that were in the cut part are lost`, s.size! - s.length);
      }
      if (torn > 0) report.dropped(`a record cut short at byte ${result.validLength} of ${name} (${torn} bytes${shortened ? '' : ': a write interrupted by a crash, never acknowledged'}) was dropped`, torn);
      const { file, size } = s;
      const from = result.validLength;
      repairs.push(() => {
        report.kept(keepDamaged(this.dir, file));
        // The torn bytes are zeroed (their copy is kept) and the segment gets its allocated size back.
        zeroRange(file, from, tornEnd, size ?? buf.length);
      });
    }

    if (base) for (const doc of base.docs) this.#applyUpsert(doc.id, doc.text, doc.metadata, doc.vector, false);
    let expected = baseSeq + 1;
    for (const record of records) {
      if (record.seq < expected) continue;
      if (record.seq !== expected) {
        throw new CollectionCorruptError(`write-ahead log of ${this.dir} skips from sequence ${expected - 1} to ${record.seq}`);
      }
      this.#replay(record);
      expected++;
    }
    // A damaged snapshot covered up to its sequence: what replaces it must reach at least as far,
    // or documents would be silently missing.
    const reach = Math.max(0, ...damaged.map((d) => d.seq));
    if (expected - 1 < reach) throw damaged[0]!.error;
    this.#seq = this.#applied = expected - 1;
    this.#sinceSnapshot = this.#seq - baseSeq;
    for (const repair of repairs) repair();
    for (const { file, error } of damaged) {
      renameSync(file, `${file}.corrupt`);
      report.kept(basename(`${file}.corrupt`));
      // File names only, never the store's path: the report is served over HTTP with the collection's info.
      report.problem(`${error.message.replaceAll(file, basename(file))}; recovered from ${base ? 'the previous snapshot' : 'the log alone'} and the log`);
    }
    this.recovery = report.result();
    this.#vi.finishLoad();
    const kept = segments.filter((s) => s.length !== undefined);
    // The last segment is written on where its records end when the list names it (and it was read).
    const lastNeeded = needed.at(-1);
    const resumeAt = lastNeeded && lastNeeded === kept.at(-1) && lastNeeded.size !== undefined && listed ? end : undefined;
    await this.#wal.resume(
      kept.map((s) => ({ firstSeq: s.firstSeq, size: Math.max(s.size ?? 0, s.length!) })),
      resumeAt,
      this.#seq + 1,
    );
  }

  #replay(record: LogRecord): void {
    if (record.op === Op.upsert) this.#applyUpsert(record.id, record.text, record.metadata, record.vector, false);
    else if (record.op === Op.delete) this.#applyDelete(record.id, false);
  }

  #applyUpsert(id: string, text: string, metaJson: string | undefined, vector: Float32Array, count: boolean): void {
    const old = this.#docs.get(id);
    const slot = this.#vi.put(vector, old?.slot);
    if (this.#keywords) {
      if (old && old.slot !== slot) this.#kw.remove(old.slot);
      this.#kw.put(slot, text);
    }
    this.#ids[slot] = id;
    const metadata = metaJson === undefined ? undefined : (JSON.parse(metaJson) as JsonValue);
    this.#docs.set(id, { slot, text, metadata, metaJson });
    if (count) this.#stats.inc('docsIndexed');
  }

  #applyDelete(id: string, count: boolean): boolean {
    const old = this.#docs.get(id);
    if (!old) return false;
    this.#vi.remove(old.slot);
    this.#kw.remove(old.slot);
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
        const first = group[0]!;
        await this.#wal.append(group.flatMap((b) => b.frames), first.lastSeq - first.frames.length + 1);
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
    const gone = segments.filter((_, i) => i + 1 < segments.length && segments[i + 1]!.firstSeq - 1 <= covered);
    // Unlisted first, then deleted: a listed segment is never missing unless damaged from outside.
    this.#wal.forget(gone.map((s) => s.firstSeq));
    for (const s of gone) unlinkSync(s.file);
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

  /**
   * The best `k` documents for a query, best first: by vector (`dense`), by BM25 over the texts
   * (`keyword`), or both fused (`hybrid`, see hybrid.ts). A query with no text searches dense; one
   * with no vector, keyword.
   */
  search(plan: SearchPlan): SearchHit[] {
    this.lastUsed = Date.now();
    this.#stats.inc('searches');
    const { k, filter, includeVectors, exact } = plan;
    const accept = filter ? (slot: number) => matches(this.#docs.get(this.#ids[slot]!)?.metadata, filter) : undefined;
    const dense = (n: number) => (plan.vector ? this.#vi.search(plan.vector, n, accept, exact) : []);
    const keyword = (n: number) => (plan.text !== undefined ? this.#kw.search(plan.text, n, accept) : []);
    let scored: { slot: number; score: number }[];
    if (plan.mode === 'keyword' || !plan.vector) scored = keyword(k);
    else if (plan.mode === 'dense' || plan.text === undefined || this.#kw.size === 0) scored = dense(k);
    else {
      const candidates = Math.max(k, plan.candidates);
      scored = fuse(dense(candidates), keyword(candidates), plan, this.settings.metric === 'l2').slice(0, k);
    }
    return scored.map(({ slot, score }) => {
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
      quantization: s.quantization,
      hnswActive: this.#vi.hnswActive,
      ttl: s.ttl,
      count: this.#docs.size,
      createdAt: s.createdAt,
    };
    if (s.model !== undefined) info.model = s.model;
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
