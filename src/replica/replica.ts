/**
 * A replica of a replicated store: the pool's own collection store, kept equal to every other
 * replica's by applying one log in Redis in its order.
 *
 * Writes (index, delete, drop) are appended to the log, never applied directly: the replica's
 * follower reads the log (XREAD BLOCK) and applies each entry to the local store through the
 * pool's ordinary collection calls, then records how far it got (see state.ts). A write resolves
 * once it is in the log and, by default, applied here, with its log position; reads may wait for
 * a position (read-your-writes). Searches never touch Redis: they answer from the local copy,
 * also while Redis is down.
 */
import { randomUUID } from 'node:crypto';
import type { WarmPool } from '../pool.js';
import { InvalidInputError, PoolClosedError, ReplicaLogError, ReplicaTimeoutError, ReplicaUnavailableError, describe } from '../errors.js';
import { received } from '../option-table.js';
import { callOptions, checkDocs, checkIds, collectionName, collectionSettings } from '../collections/inputs.js';
import { PRIORITIES, type Priority } from '../types.js';
import type { CollectionInfo, CollectionOption, CreateCollectionOptions, Doc, GetOptions, IndexResult, SearchHit, SearchOptions, StoredDoc, VectorInput } from '../collections/types.js';
import { applyBatch } from './apply.js';
import type { ReplicaHealth, ReplicaIndexOptions, ReplicaOptions, ReplicaReadOptions, ReplicaWriteOptions } from './types.js';

export type { ReplicaHealth, ReplicaIndexOptions, ReplicaOptions, ReplicaReadOptions, ReplicaWriteOptions } from './types.js';
import { compareIds, createOptionsOf, encodeEntry, type EntryBody } from './entry.js';
import { connect, logKeys, maxDeletedId, type LogKeys, type LogRedis } from './redis.js';
import { contentHash, installSnapshot, parseSnapshot, SNAPSHOT_FORMAT, takeSnapshot, type Snapshot } from './snapshot.js';
import { readState, stateFile, writeState, type ReplicaState } from './state.js';

const DEFAULT_WAIT_MS = 10_000;
const DEFAULT_SNAPSHOT_EVERY = 10_000;
/** Entries read per XREAD. */
const BATCH = 256;
/** How long one XREAD blocks: also how often the follower checks the log's epoch when idle. */
const BLOCK_MS = 1000;
/** How long one replica holds the right to take the periodic snapshot. */
const SNAPSHOT_LOCK_MS = 60_000;
const LOG_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
interface Waiter {
  n: number;
  resolve: () => void;
  reject: (error: unknown) => void;
  timer: NodeJS.Timeout;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

function nonNegativeInt(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} must be a non-negative integer, received ${received(value)}`);
  return value;
}

export class Replica {
  readonly log: string;
  readonly #pool: WarmPool;
  readonly #url: string;
  readonly #keys: LogKeys;
  readonly #waitMs: number;
  readonly #snapshotEvery: number;
  readonly #stateFile: string;
  readonly #cmd: LogRedis;
  readonly #blocking: LogRedis;
  #state: ReplicaState | undefined;
  /** The epoch this replica follows; undefined while (re)joining. */
  #epoch: string | undefined;
  #head = 0;
  #snapn = 0;
  #heardAt: number | undefined;
  /** Entries deleted from the log (XDEL) with no snapshot behind them, up to this id: not a trimmed gap. */
  #deletedSeen = '0-0';
  #halted: { entry: string; message: string; error: ReplicaLogError } | undefined;
  #lastError: string | undefined;
  #closed = false;
  #waiters: Waiter[] = [];
  readonly #results = new Map<number, unknown>();
  #snapshotAsked: { resolve: (n: number) => void; reject: (e: unknown) => void }[] = [];
  readonly #loop: Promise<void>;
  #joined: (() => void) | undefined;
  #hasJoined = false;
  readonly #ready: Promise<void>;

  constructor(pool: WarmPool, options: ReplicaOptions) {
    const o = callOptions(options, ['redis', 'log', 'waitMs', 'snapshotEvery'] as const);
    if (typeof o.redis !== 'string' || !/^rediss?:\/\//.test(o.redis)) throw new TypeError(`redis must be a redis:// or rediss:// URL, received ${received(o.redis)}`);
    const log = o.log ?? 'default';
    if (typeof log !== 'string' || !LOG_NAME.test(log)) throw new TypeError(`log must be 1-128 letters, digits, '.', '_' or '-', received ${received(log)}`);
    this.log = log;
    this.#pool = pool;
    this.#url = o.redis;
    this.#keys = logKeys(log);
    this.#waitMs = o.waitMs === undefined ? DEFAULT_WAIT_MS : nonNegativeInt(o.waitMs, 'waitMs');
    this.#snapshotEvery = o.snapshotEvery === undefined ? DEFAULT_SNAPSHOT_EVERY : nonNegativeInt(o.snapshotEvery, 'snapshotEvery');
    this.#stateFile = stateFile(pool.options.storePath, log);
    this.#ready = new Promise<void>((resolve) => (this.#joined = resolve)).then(() => {
      this.#hasJoined = true;
    });
    this.#cmd = connect(this.#url, false, () => this.#closed);
    this.#blocking = connect(this.#url, true, () => this.#closed);
    this.#loop = this.#follow();
  }

  /** Resolves once the replica has joined the log (it may still be behind it: see `health().behind`). */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Whether the replica has joined the log once: before that, every write is refused (`ReplicaUnavailableError`). */
  get joined(): boolean {
    return this.#hasJoined;
  }

  /** The position of the last entry applied here. */
  get applied(): number {
    return this.#state?.n ?? 0;
  }

  health(): ReplicaHealth {
    const applied = this.applied;
    let state: ReplicaHealth['state'] = 'following';
    if (this.#closed) state = 'closed';
    else if (this.#halted) state = 'halted';
    else if (this.#cmd.status !== 'ready') state = 'unreachable';
    else if (this.#epoch === undefined) state = 'joining';
    const h: ReplicaHealth = {
      log: this.log,
      state,
      epoch: this.#epoch ?? this.#state?.epoch,
      applied,
      head: Math.max(this.#head, applied),
      behind: Math.max(0, this.#head - applied),
      secondsSinceHeard: this.#heardAt === undefined ? null : (Date.now() - this.#heardAt) / 1000,
    };
    if (this.#halted) h.halted = { entry: this.#halted.entry, message: this.#halted.message };
    if (this.#lastError !== undefined) h.lastError = this.#lastError;
    return h;
  }

  // --- writes -------------------------------------------------------------------------------

  /** Indexes documents on every replica: embedded here, appended to the log with their vectors. */
  async index(docs: readonly (Doc | string)[] | Doc | string, options?: ReplicaIndexOptions): Promise<IndexResult & { position: number }> {
    const o = callOptions(options, ['collection', 'create', 'priority', 'waitApplied', 'waitMs'] as const);
    const collection = collectionName(o.collection);
    if (o.priority !== undefined && !(PRIORITIES as readonly unknown[]).includes(o.priority)) throw new InvalidInputError(`options.priority must be one of ${PRIORITIES.join(', ')}, received ${received(o.priority)}`);
    if (o.create !== undefined && (o.create as CreateCollectionOptions | null)?.ttl !== undefined) {
      throw new InvalidInputError('a replicated collection has no ttl: replicas would expire it each on its own');
    }
    const checked = checkDocs(docs);
    if (checked.length === 0) return { ids: [], count: 0, position: this.applied };
    const toEmbed = checked.filter((d) => !d.vector);
    let embedded: Float32Array | undefined;
    let dims = checked[0]!.vector?.length ?? 0;
    if (toEmbed.length > 0) {
      const packed = await this.#pool.embedPacked(
        toEmbed.map((d) => d.text),
        { ...(await this.#documentPrompt()), priority: (o.priority as Priority | undefined) ?? (checked.length > 64 ? 'batch' : 'interactive') },
      );
      embedded = packed.data;
      dims = packed.dims[1];
    }
    const vectors = new Float32Array(checked.length * dims);
    let e = 0;
    checked.forEach((d, i) => {
      const v = d.vector ?? embedded!.subarray(e * dims, (e++ + 1) * dims);
      if (v.length !== dims) throw new InvalidInputError(`docs[${i}].vector has dimension ${v.length} but the other vectors of the call have dimension ${dims}`);
      vectors.set(v, i * dims);
    });
    const create = createOptionsOf(collectionSettings(collection, o.create, dims));
    // Refused here rather than in the log, where it would stop every replica.
    const existing = await this.#pool.collections().info(collection).catch(() => undefined);
    if (existing && existing.dims !== dims) throw new InvalidInputError(`the vectors to index have dimension ${dims} but collection ${JSON.stringify(collection)} has dimension ${existing.dims}`);
    const ids = checked.map((d) => d.id);
    const body: EntryBody = {
      op: 'upsert',
      collection,
      create,
      dims,
      vectors,
      docs: checked.map((d) => (d.metadata === undefined ? { id: d.id, text: d.text } : { id: d.id, text: d.text, metadata: d.metadata })),
    };
    const { position } = await this.#write(body, o);
    return { ids, count: ids.length, position };
  }

  /**
   * Creates a collection on every replica (settings as `pool.collections().create()`, without
   * `ttl`). Resolves to its info here once applied; `CollectionExistsError` when it exists with
   * other settings (every replica finds the same).
   */
  async create(name: string, options?: Omit<CreateCollectionOptions, 'ttl'> & ReplicaWriteOptions): Promise<CollectionInfo & { position: number }> {
    const collection = collectionName(name, true);
    const { waitApplied: _w, waitMs, ...settings } = (options ?? {}) as Omit<CreateCollectionOptions, 'ttl'> & ReplicaWriteOptions & { ttl?: unknown };
    if (settings.ttl !== undefined) throw new InvalidInputError('a replicated collection has no ttl: replicas would expire it each on its own');
    let dims = 0;
    if (settings.dims === undefined) {
      if (!this.#pool.model) await this.#pool.ready();
      dims = this.#pool.model?.dims ?? 0;
    }
    const create = createOptionsOf(collectionSettings(collection, settings, dims));
    const { position, result } = await this.#write({ op: 'create', collection, create }, waitMs === undefined ? {} : { waitMs });
    if (result instanceof Error) throw result;
    return { ...(result as CollectionInfo), position };
  }

  /** Deletes ids on every replica. `deleted`: how many existed here (when the write waited to be applied). */
  async delete(ids: string | readonly string[], options?: CollectionOption & ReplicaWriteOptions): Promise<{ position: number; deleted: number | undefined }> {
    const o = callOptions(options, ['collection', 'waitApplied', 'waitMs'] as const);
    const { position, result } = await this.#write({ op: 'delete', collection: collectionName(o.collection), ids: checkIds(ids) }, o);
    return { position, deleted: result as number | undefined };
  }

  /** Drops a collection on every replica. `existed`: whether it existed here (when the write waited). */
  async drop(name: string, options?: ReplicaWriteOptions): Promise<{ position: number; existed: boolean | undefined }> {
    const o = callOptions(options, ['waitApplied', 'waitMs'] as const);
    const { position, result } = await this.#write({ op: 'drop', collection: collectionName(name, true) }, o);
    return { position, existed: result as boolean | undefined };
  }

  async #documentPrompt(): Promise<{ prompt?: string }> {
    if (!this.#pool.model) await this.#pool.ready();
    const prompts = this.#pool.model?.prompts ?? {};
    const name = ['document', 'passage'].find((n) => Object.hasOwn(prompts, n));
    return name === undefined ? {} : { prompt: name };
  }

  async #write(body: EntryBody, o: { waitApplied?: unknown; waitMs?: unknown }): Promise<{ position: number; result: unknown }> {
    if (o.waitApplied !== undefined && typeof o.waitApplied !== 'boolean') throw new InvalidInputError(`options.waitApplied must be a boolean, received ${received(o.waitApplied)}`);
    const waitMs = o.waitMs === undefined ? this.#waitMs : nonNegativeInt(o.waitMs, 'options.waitMs');
    if (this.#closed) throw new PoolClosedError('the replica is closed');
    if (this.#halted) throw this.#halted.error;
    const epoch = this.#epoch;
    if (epoch === undefined) throw new ReplicaUnavailableError(`the replica of log ${JSON.stringify(this.log)} is joining it${this.#lastError ? ` (${this.#lastError})` : ''}; nothing was written`);
    let position: number;
    try {
      const k = this.#keys;
      [, position] = await this.#cmd.wpAppend(k.epoch, k.seq, k.log, epoch, ...encodeEntry(body));
      position = Number(position);
      this.#heard();
    } catch (error) {
      const message = (error as Error).message ?? '';
      if (message.startsWith('EPOCH')) {
        // Redis lost the log (or it was seeded again): the follower joins the new epoch.
        if (this.#epoch === epoch) this.#epoch = undefined;
        throw new ReplicaUnavailableError(`the log ${JSON.stringify(this.log)} began a new epoch; the replica is joining it; nothing was written`, { cause: error });
      }
      throw new ReplicaUnavailableError(`cannot append to the log ${JSON.stringify(this.log)}: Redis is unreachable (${message}); nothing was written`, { cause: error });
    }
    this.#head = Math.max(this.#head, position);
    if (o.waitApplied === false) return { position, result: undefined };
    await this.waitFor(position, waitMs);
    return { position, result: this.#results.get(position) };
  }

  // --- reads --------------------------------------------------------------------------------

  /** Resolves once this replica applied the log up to `position`; `ReplicaTimeoutError` after `waitMs`. */
  waitFor(position: number, waitMs = this.#waitMs): Promise<void> {
    if (typeof position !== 'number' || !Number.isSafeInteger(position) || position < 0) {
      return Promise.reject(new InvalidInputError(`a log position must be a non-negative integer, received ${received(position)}`));
    }
    if (this.applied >= position) return Promise.resolve();
    if (this.#halted) return Promise.reject(this.#halted.error);
    if (this.#closed) return Promise.reject(new PoolClosedError('the replica is closed'));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        n: position,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          const h = this.health();
          reject(new ReplicaTimeoutError(`the replica did not apply log position ${position} within ${waitMs} ms: it applied ${h.applied}, state ${h.state}, last heard from Redis ${h.secondsSinceHeard === null ? 'never' : `${h.secondsSinceHeard.toFixed(1)} s ago`}`));
        }, waitMs),
      };
      this.#waiters.push(waiter);
    });
  }

  /** The call's options without `after` and `waitMs`, once this replica applied `after`. */
  async #after<T extends object>(options: (T & ReplicaReadOptions) | undefined): Promise<T | undefined> {
    // Anything but an object goes to the pool as it is, which says what is wrong with it.
    if (typeof options !== 'object' || options === null || Array.isArray(options)) return options;
    const { after, waitMs, ...rest } = options;
    if (after !== undefined) await this.waitFor(after, waitMs === undefined ? this.#waitMs : nonNegativeInt(waitMs, 'options.waitMs'));
    return rest as T;
  }

  /** A search of the local copy; with `after`, once this replica applied that position. */
  async search(query: string | VectorInput, options?: SearchOptions & ReplicaReadOptions): Promise<SearchHit[]> {
    return this.#pool.search(query, await this.#after(options));
  }

  async get(ids: string | readonly string[], options?: GetOptions & ReplicaReadOptions): Promise<(StoredDoc | null)[]> {
    return this.#pool.get(ids, await this.#after(options));
  }

  async count(options?: CollectionOption & ReplicaReadOptions): Promise<number> {
    return this.#pool.count(await this.#after(options));
  }

  /** A hash of the local copy's content (ids, texts, metadata, vectors): equal on replicas at the same position. */
  contentHash(): Promise<string> {
    return contentHash(this.#pool);
  }

  /**
   * Uploads a snapshot of this replica's store to Redis (when it is newer than the stored one) and
   * trims the log behind it. Resolves to the snapshot's position.
   */
  snapshot(): Promise<number> {
    if (this.#closed) return Promise.reject(new PoolClosedError('the replica is closed'));
    return new Promise((resolve, reject) => this.#snapshotAsked.push({ resolve, reject }));
  }

  // --- the follower -------------------------------------------------------------------------

  #heard(): void {
    this.#heardAt = Date.now();
    this.#lastError = undefined;
  }

  #save(state: ReplicaState): void {
    writeState(this.#stateFile, state);
    this.#state = state;
  }

  async #follow(): Promise<void> {
    try {
      this.#state = readState(this.#stateFile);
    } catch (error) {
      this.#halt('state', error as ReplicaLogError);
      return;
    }
    let failures = 0;
    while (!this.#closed && !this.#halted) {
      try {
        if (this.#epoch === undefined) {
          await this.#join();
          this.#joined?.();
        }
        const reply = (await this.#blocking.xread('COUNT', BATCH, 'BLOCK', BLOCK_MS, 'STREAMS', this.#keys.log, this.#state!.last)) as [string, [string, string[]][]][] | null;
        if (this.#closed) break;
        this.#heard();
        if (reply && reply[0]![1].length > 0) {
          // Entries after our position were trimmed away: this replica fell behind the snapshot.
          const deleted = await maxDeletedId(this.#cmd, this.#keys.log);
          if (compareIds(deleted, this.#state!.last) > 0 && compareIds(deleted, this.#deletedSeen) > 0) {
            this.#epoch = undefined;
            continue;
          }
          await this.#apply(reply[0]![1]);
        }
        const [epoch, seq, snapn] = await this.#cmd.mget(this.#keys.epoch, this.#keys.seq, this.#keys.snapn);
        this.#head = Number(seq ?? 0);
        this.#snapn = Number(snapn ?? 0);
        if (epoch !== this.#epoch) {
          this.#epoch = undefined;
          continue;
        }
        const asked = this.#snapshotAsked.splice(0);
        const due = this.#snapshotEvery > 0 && this.applied - this.#snapn >= this.#snapshotEvery && this.#head === this.applied;
        // A periodic snapshot is taken by one replica (the first to take the lock), not by all.
        if (asked.length > 0 || (due && (await this.#cmd.set(this.#keys.snaplock, String(process.pid), 'PX', SNAPSHOT_LOCK_MS, 'NX')) === 'OK')) {
          await this.#upload().then(
            (n) => asked.forEach((a) => a.resolve(n)),
            (error: unknown) => asked.forEach((a) => a.reject(error)),
          );
        }
        failures = 0;
      } catch (error) {
        if (this.#closed) break;
        if (error instanceof ReplicaLogError) {
          this.#halt((error as ReplicaLogError & { entry?: string }).entry ?? 'snapshot', error);
          break;
        }
        if (error instanceof PoolClosedError) break;
        this.#lastError = describe(error);
        await sleep(Math.min(1000, 100 * 2 ** failures++));
      }
    }
    const asked = this.#snapshotAsked.splice(0);
    for (const a of asked) a.reject(this.#halted?.error ?? new PoolClosedError('the replica is closed'));
  }

  #halt(entry: string, error: ReplicaLogError): void {
    this.#halted = { entry, message: error.message, error };
    for (const w of this.#waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(error);
    }
  }

  /** Applies a batch of entries in order (see apply.ts), then records the position durably and wakes the waiters. */
  async #apply(raw: [string, string[]][]): Promise<void> {
    const state = { ...this.#state!, creates: { ...this.#state!.creates } };
    await applyBatch(raw, state, {
      pool: this.#pool,
      results: this.#results,
      stop: (applied: ReplicaState) => {
        this.#save(applied);
        this.#wake();
      },
    });
    this.#save(state);
    this.#wake();
  }

  #wake(): void {
    const applied = this.applied;
    this.#waiters = this.#waiters.filter((w) => {
      if (w.n > applied) return true;
      clearTimeout(w.timer);
      w.resolve();
      return false;
    });
  }

  /**
   * Joins the log's current epoch: goes on from the saved position when it is of that epoch and the
   * log still holds what follows it; otherwise installs the log's snapshot. With no epoch at all
   * (a new log, or Redis lost its data), seeds one from this replica's store.
   */
  async #join(): Promise<void> {
    const k = this.#keys;
    const epoch = await this.#cmd.get(k.epoch);
    this.#heard();
    const st = this.#state;
    if (epoch === null) {
      const next = randomUUID();
      const hasData = st !== undefined && (st.n > 0 || (await this.#pool.collections().list()).length > 0);
      let json = '';
      if (hasData) {
        const snap: Snapshot = { format: SNAPSHOT_FORMAT, epoch: next, last: '0-0', n: st.n, from: { epoch: st.epoch, n: st.n }, collections: await takeSnapshot(this.#pool, st.creates) };
        json = JSON.stringify(snap);
      }
      if (await this.#cmd.wpSeed(k.epoch, k.seq, k.snapshot, k.snapn, k.log, next, String(st?.n ?? 0), json)) {
        this.#save({ epoch: next, last: '0-0', n: st?.n ?? 0, creates: st?.creates ?? {} });
        this.#epoch = next;
        return;
      }
      return this.#join();
    }
    const deleted = await maxDeletedId(this.#cmd, k.log);
    if (st && st.epoch === epoch && (compareIds(deleted, st.last) <= 0 || compareIds(deleted, this.#deletedSeen) <= 0)) {
      this.#epoch = epoch;
      return;
    }
    // Trimming only ever cuts up to the snapshot's position: entries missing past it (or with no
    // snapshot at all) were deleted by hand (XDEL of an entry that stopped the replicas), and the
    // log goes on without them.
    this.#deletedSeen = deleted;
    const json = await this.#cmd.get(k.snapshot);
    if (json === null) {
      // A log never trimmed and never seeded from a snapshot: it starts empty, from its beginning.
      if (!st || st.epoch !== epoch) {
        await installSnapshot(this.#pool, { format: SNAPSHOT_FORMAT, epoch, last: '0-0', n: 0, collections: [] });
        this.#save({ epoch, last: '0-0', n: 0, creates: {} });
      }
      this.#epoch = epoch;
      return;
    }
    const snap = parseSnapshot(json);
    if (snap.epoch !== epoch) throw new Error('the snapshot changed while joining; trying again');
    if (snap.from && st && st.epoch === snap.from.epoch && st.n === snap.from.n) {
      // Seeded by a replica that had applied exactly what this one has: the content is the same.
      this.#save({ epoch, last: snap.last, n: snap.n, creates: st.creates });
    } else {
      // Drop the saved position first: a crash while installing makes the next start install again.
      if (st) this.#save({ ...st, epoch: '' });
      await installSnapshot(this.#pool, snap);
      this.#save({ epoch, last: snap.last, n: snap.n, creates: Object.fromEntries(snap.collections.map((c) => [c.name, c.create])) });
    }
    this.#epoch = epoch;
    this.#wake();
  }

  /** Takes a snapshot between two batches (so it is exactly the store at `applied`) and uploads it. */
  async #upload(): Promise<number> {
    const st = this.#state!;
    const snap: Snapshot = { format: SNAPSHOT_FORMAT, epoch: st.epoch, last: st.last, n: st.n, collections: await takeSnapshot(this.#pool, st.creates) };
    const k = this.#keys;
    const stored = await this.#cmd.wpSnapshot(k.epoch, k.snapshot, k.snapn, k.log, st.epoch, String(st.n), JSON.stringify(snap), st.last);
    if (stored === -1) throw new ReplicaUnavailableError('the log began a new epoch while the snapshot was taken; nothing was uploaded');
    this.#snapn = Math.max(this.#snapn, st.n);
    return st.n;
  }

  /** Stops following and closes the Redis connections (the pool stays open: close it after). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return this.#loop;
    this.#closed = true;
    this.#joined?.();
    for (const w of this.#waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new PoolClosedError('the replica is closed'));
    }
    this.#blocking.disconnect();
    this.#cmd.disconnect();
    await this.#loop;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** A replica of the log `options.log` in Redis, kept in `pool`'s collection store (see docs/scaling-out.md). */
export function createReplica(pool: WarmPool, options: ReplicaOptions): Replica {
  return new Replica(pool, options);
}
