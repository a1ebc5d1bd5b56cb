/**
 * Applying log entries to a replica's store, through the pool's ordinary collection calls.
 *
 * Entries are applied in log order. Consecutive upserts of one collection with no id in common are
 * applied as one call (one log write and fsync on this replica); should that call be refused, they
 * are applied again one by one (harmless: applying is idempotent) to find the entry at fault.
 *
 * A failure that every replica meets the same way (a malformed entry, one the collection refuses)
 * stops the replica at that entry as a `ReplicaLogError` naming it; any other failure (the index
 * worker restarting, say) is thrown as it is, for the batch to be tried again.
 */
import type { WarmPool } from '../pool.js';
import { CollectionNotFoundError, ErrorCodes, ReplicaLogError, WarmpoolError, describe } from '../errors.js';
import { decodeEntry, type Entry } from './entry.js';
import type { ReplicaState } from './state.js';

type Upsert = Extract<Entry, { op: 'upsert' }>;

/** Results of applied writes kept for the writers waiting on them. */
const KEEP_RESULTS = 4096;

export interface ApplyContext {
  pool: WarmPool;
  /** Each applied entry's result (what the write that made it resolves to), by position. */
  results: Map<number, unknown>;
  /** Records what was applied before an entry that stops the replica, before that is thrown. */
  stop: (applied: ReplicaState) => void;
}

/** Failures of applying an entry that every replica meets the same way: the log, not this replica, is wrong. */
const deterministic = (error: unknown): boolean =>
  error instanceof WarmpoolError && (error.code === ErrorCodes.INVALID_INPUT || error.code === ErrorCodes.COLLECTION_EXISTS || error.code === ErrorCodes.REPLICA_LOG);

/**
 * Applies `raw` (stream entries, as XREAD gives them) in order, advancing `state` (position and
 * collection settings) past each applied entry. Entries at or before `state.n` were applied
 * before (a batch tried again) and are passed over.
 */
export async function applyBatch(raw: [string, string[]][], state: ReplicaState, ctx: ApplyContext): Promise<void> {
  let group: Upsert[] = [];
  let ids = new Set<string>();
  let seen = state.n;
  const done = (entry: Entry, result: unknown): void => {
    ctx.results.set(entry.n, result);
    if (ctx.results.size > KEEP_RESULTS) ctx.results.delete(ctx.results.keys().next().value!);
    state.last = entry.id;
    state.n = entry.n;
  };
  const refused = (id: string, error: unknown): unknown => {
    if (!deterministic(error)) return error;
    ctx.stop(state);
    const logError = error instanceof ReplicaLogError ? error : new ReplicaLogError(`log entry ${id} cannot be applied: ${describe(error)}`, { cause: error });
    return Object.assign(logError, { entry: id });
  };
  const one = async (entry: Entry): Promise<void> => {
    let result: unknown;
    try {
      result = await applyOne(ctx.pool, entry, state);
    } catch (error) {
      throw refused(entry.id, error);
    }
    done(entry, result);
  };
  const flush = async (): Promise<void> => {
    const entries = group;
    group = [];
    ids = new Set();
    if (entries.length <= 1) return entries[0] && one(entries[0]);
    try {
      await applyUpserts(ctx.pool, entries, state);
    } catch (error) {
      if (!deterministic(error)) throw error;
      for (const e of entries) await one(e);
      return;
    }
    for (const e of entries) done(e, e.docs.length);
  };
  for (const [id, fields] of raw) {
    let entry: Entry;
    try {
      entry = decodeEntry(id, fields);
    } catch (error) {
      await flush();
      throw refused(id, error);
    }
    if (entry.n <= seen) {
      if (group.length === 0) state.last = id;
      continue;
    }
    seen = entry.n;
    if (entry.op === 'upsert') {
      const joins = group.length === 0 || (group[0]!.collection === entry.collection && entry.docs.every((d) => !ids.has(d.id)));
      if (!joins) await flush();
      group.push(entry);
      for (const d of entry.docs) ids.add(d.id);
      continue;
    }
    await flush();
    await one(entry);
  }
  await flush();
}

async function applyUpserts(pool: WarmPool, entries: Upsert[], state: ReplicaState): Promise<void> {
  const { collection } = entries[0]!;
  state.creates[collection] ??= entries[0]!.create;
  const docs = entries.flatMap((e) => e.docs.map((d, i) => ({ ...d, vector: e.vectors.subarray(i * e.dims, (i + 1) * e.dims) })));
  await pool.index(docs, { collection, create: state.creates[collection], priority: 'batch' });
}

async function applyOne(pool: WarmPool, entry: Entry, state: ReplicaState): Promise<unknown> {
  const { collection } = entry;
  switch (entry.op) {
    case 'upsert':
      await applyUpserts(pool, [entry], state);
      return entry.docs.length;
    case 'create':
      try {
        const info = await pool.collections().create(collection, entry.create);
        state.creates[collection] ??= entry.create;
        return info;
      } catch (error) {
        // Every replica finds the same: the write that asked is told, the log goes on.
        if (error instanceof WarmpoolError && error.code === ErrorCodes.COLLECTION_EXISTS) return error;
        throw error;
      }
    case 'delete':
      return pool.delete(entry.ids, { collection }).catch((error: unknown) => {
        if (error instanceof CollectionNotFoundError) return 0;
        throw error;
      });
    case 'drop':
      delete state.creates[collection];
      return pool.collections().drop(collection);
  }
}
