/**
 * The index worker: the one thread that owns every collection of a pool's store. Requests arrive
 * tagged with an id and are answered with the same id; being the only writer, it needs no locks.
 * Searches run while log writes wait on the disk (those are asynchronous).
 *
 * It opens the store (and recovers the collections it is asked to reopen) before it takes any
 * request, and says so with its first message: `ready`, or `load-error` with the cause.
 *
 * It ends itself, never by the pool's hand: after a `load-error`, and after `close` (which waits
 * for the requests in hand, closes the store and answers). A thread terminated from outside in
 * the middle of a usearch call aborts the whole process (the addon's C++ exception cannot reach
 * JavaScript in a thread being stopped), so the pool never terminates this one.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorToWire, InvalidInputError, MigrationRunningError } from '../src/errors.js';
import { fingerprintDiff, mismatchError, unrecordedMismatchError, type ModelFingerprint } from '../src/collections/fingerprint.js';
import type { Collection } from '../src/collections/collection.js';
import type { IndexMessage, IndexReply, IndexRequest, IndexWorkerData } from '../src/collections/protocol.js';
import { Store } from '../src/collections/store.js';
import { PoolStats } from '../src/stats.js';
import { testHooks, type TestHooks } from '../src/test-hooks.js';

const { root, statsBuffer, reopen } = workerData as IndexWorkerData;
const stats = new PoolStats(statsBuffer);
const post = (reply: IndexReply, transfer: ArrayBuffer[] = []): void => parentPort!.postMessage(reply, transfer);

/**
 * Test-only failures (`indexLoadExit`, `indexCrash`, `indexExit`), from the environment this
 * worker started with; read as opening begins (before any request), so a malformed variable is a
 * load error like any other.
 */
let hooks: TestHooks = {};

async function openStore(): Promise<{ opened: Store; open: string[] }> {
  hooks = testHooks();
  if (hooks.indexLoadExit) process.exit(3);
  const opened = new Store(root, stats, (collection, recovery) => post({ event: 'recovery', collection, recovery }));
  // A collection that cannot be recovered does not keep the others from being served: the calls
  // that use it get its error (opening is tried again on each, so a repaired folder is picked up).
  const open: string[] = [];
  for (const name of reopen) {
    // A pool closing meanwhile needs nothing more opened.
    if (closeRequested) break;
    if (await opened.get(name).then(() => true, () => false)) open.push(name);
  }
  return { opened, open };
}

let store: Store | undefined;
/** Set as the pool's `close` arrives: opening stops early and the thread ends once it is answered. */
let closeRequested = false;
const opening = openStore().then(
  ({ opened, open }) => {
    store = opened;
    post({ event: 'ready', open });
  },
  (error: unknown) => {
    post({ event: 'load-error', error: errorToWire(error) });
    // The pool starts a new worker for the next call; this one is done.
    end();
  },
);

/**
 * Ends this thread from its own JavaScript, outside any native call, once what it posted is on
 * its way (the parent reads a thread's last messages before its exit).
 */
function end(): void {
  setImmediate(() => process.exit(0));
}

function checkDims(c: Collection, dims: number, what: string): void {
  if (dims !== c.settings.dims) {
    throw new InvalidInputError(
      `${what} has dimension ${dims} but collection ${JSON.stringify(c.settings.name)} has dimension ${c.settings.dims}`,
    );
  }
}

/** Re-embed migrations running, by collection: the new collection and the old one's ids when it began. */
const migrations = new Map<string, { target: Collection; ids: string[] }>();

function notMigrating(name: string, what: string): void {
  if (migrations.has(name)) {
    throw new MigrationRunningError(
      `cannot ${what} collection ${JSON.stringify(name)}: a re-embed migration of it is running, and writes are refused until it ends (searches are answered)`,
    );
  }
}

/**
 * Checks that `model` made the collection's vectors. A collection with none recorded (made before
 * fingerprints were kept) records it, when its vectors have the model's length; one of vectors of
 * one's own (`null`) is never checked.
 */
function checkModel(c: Collection, model: ModelFingerprint): void {
  const stored = c.settings.model;
  if (stored === null) return;
  if (stored === undefined) {
    if (model.dims !== c.settings.dims) throw unrecordedMismatchError(c.settings.name, c.settings.dims, model);
    c.recordModel(model);
    return;
  }
  if (fingerprintDiff(stored, model).length > 0) throw mismatchError(c.settings.name, stored, model);
}

function migration(name: string): { target: Collection; ids: string[] } {
  const m = migrations.get(name);
  if (!m) throw new InvalidInputError(`no re-embed migration of collection ${JSON.stringify(name)} is running (it ended, or the index worker restarted)`);
  return m;
}

async function handle(req: IndexRequest): Promise<{ result: unknown; transfer?: ArrayBuffer[] }> {
  if (req.op === 'close') {
    for (const [name, m] of migrations) {
      migrations.delete(name);
      if (m.target) await store?.abortMigration(m.target);
    }
    await store?.close();
    store = undefined;
    return { result: true };
  }
  if (!store) throw new Error('the collection store is closed');
  switch (req.op) {
    case 'upsert': {
      notMigrating(req.collection, 'write to');
      const c = await store.create({ ...req.settings, model: req.model }, false);
      if (req.model) checkModel(c, req.model);
      checkDims(c, req.dims, 'the vectors to index');
      const docs = req.ids.map((id, i) => {
        const doc = { id, text: req.texts[i]!, vector: req.vectors.subarray(i * req.dims, (i + 1) * req.dims) } as {
          id: string; text: string; vector: Float32Array; metadata?: unknown;
        };
        if (req.metadata[i] !== undefined) doc.metadata = req.metadata[i];
        return doc;
      });
      await c.upsert(docs as Parameters<Collection['upsert']>[0]);
      return { result: c.count };
    }
    case 'delete':
      notMigrating(req.collection, 'delete from');
      return { result: await (await store.get(req.collection)).delete(req.ids) };
    case 'get':
      return { result: (await store.get(req.collection)).get(req.ids, req.includeVectors) };
    case 'count':
      return { result: (await store.get(req.collection)).count };
    case 'ids':
      return { result: (await store.get(req.collection)).ids() };
    case 'search': {
      const c = await store.get(req.collection);
      const { op: _op, collection: _collection, model, ...plan } = req;
      const stored = c.settings.model;
      if (model && migrations.has(req.collection) && !(stored && fingerprintDiff(stored, model).length === 0)) {
        // While a migration to the pool's model runs, a text search that the old vectors cannot
        // answer is answered by keyword (BM25 over the stored texts needs no model); only an
        // explicit dense search fails. Nothing is recorded on the old collection meanwhile.
        if (plan.mode === 'dense') throw stored ? mismatchError(c.settings.name, stored, model) : unrecordedMismatchError(c.settings.name, c.settings.dims, model);
        plan.vector = undefined;
        plan.mode = 'keyword';
      } else if (model) {
        checkModel(c, model);
      }
      if (plan.vector) checkDims(c, plan.vector.length, 'the query vector');
      const hits = c.search(plan);
      const transfer = hits.flatMap((h) => (h.vector ? [h.vector.buffer as ArrayBuffer] : []));
      return { result: hits, transfer };
    }
    case 'list':
      return { result: await store.list() };
    case 'create':
      return { result: (await store.create(req.settings, true)).info() };
    case 'drop':
      notMigrating(req.collection, 'drop');
      return { result: await store.drop(req.collection) };
    case 'info':
      return { result: (await store.get(req.collection)).info() };
    case 'migrate-begin': {
      notMigrating(req.collection, 'start a migration of');
      const c = await store.get(req.collection);
      const from = c.settings.model;
      if (from === null) {
        throw new InvalidInputError(`collection ${JSON.stringify(req.collection)} holds vectors of its own (no model made them): there is nothing to re-embed with a model`);
      }
      if (from !== undefined && fingerprintDiff(from, req.model).length === 0) return { result: { total: c.count, from, same: true } };
      const textless = c.textlessIds();
      if (textless.length > 0) {
        throw new InvalidInputError(
          `collection ${JSON.stringify(req.collection)} has ${textless.length} document${textless.length === 1 ? '' : 's'} stored with a vector of its own and no text ` +
            `(${textless.slice(0, 5).map((id) => JSON.stringify(id)).join(', ')}${textless.length > 5 ? ', ...' : ''}), which cannot be re-embedded; delete them, or index them again with a text, first`,
        );
      }
      const ids = c.ids();
      // Reserved before the first await: a second migration or a write arriving meanwhile is refused.
      const pending = { target: undefined as unknown as Collection, ids };
      migrations.set(req.collection, pending);
      try {
        pending.target = await store.beginMigration(req.collection, { ...c.settings, dims: req.model.dims, model: req.model, createdAt: new Date().toISOString() });
      } catch (error) {
        migrations.delete(req.collection);
        throw error;
      }
      return { result: { total: ids.length, from, same: false } };
    }
    case 'migrate-read': {
      const { ids } = migration(req.collection);
      const c = await store.get(req.collection);
      return { result: c.get(ids.slice(req.offset, req.offset + req.limit), false).filter((d) => d !== null) };
    }
    case 'migrate-write': {
      const { target } = migration(req.collection);
      const docs = req.ids.map((id, i) => {
        const doc = { id, text: req.texts[i]!, vector: req.vectors.subarray(i * req.dims, (i + 1) * req.dims) } as Parameters<Collection['upsert']>[0][number];
        if (req.metadata[i] !== undefined) doc.metadata = req.metadata[i];
        return doc;
      });
      await target.upsert(docs);
      return { result: target.count };
    }
    case 'migrate-commit': {
      if (!migrations.has(req.collection)) {
        // Sent again after the worker that ran the swap died: the new collection is in place when
        // the store's start finished the swap.
        const c = await store.get(req.collection);
        if (c.settings.model && fingerprintDiff(c.settings.model, req.model).length === 0) return { result: c.info() };
      }
      const { target } = migration(req.collection);
      try {
        return { result: (await store.commitMigration(req.collection, target)).info() };
      } finally {
        migrations.delete(req.collection);
      }
    }
    case 'migrate-abort': {
      const m = migrations.get(req.collection);
      if (!m) return { result: false };
      migrations.delete(req.collection);
      await store.abortMigration(m.target);
      return { result: true };
    }
  }
}

/** Test-only: fails the worker on purpose, from a fresh stack so that nothing catches it. */
function fail(kind: 'crash' | 'exit'): void {
  if (kind === 'exit') process.exit(1);
  setImmediate(() => {
    throw new Error('injected index worker crash');
  });
}

/** Requests being handled: `close` waits for them (their answers go out first). */
const inHand = new Set<Promise<unknown>>();

let received = 0;
parentPort!.on('message', (msg: IndexMessage) => {
  const closing = msg.op === 'close';
  if (closing) closeRequested = true;
  const n = closing ? 0 : ++received;
  const fault = n > 0 ? (hooks.indexCrash === n ? 'crash' : hooks.indexExit === n ? 'exit' : undefined) : undefined;
  const work = opening
    .then(async () => {
      if (closing) await Promise.allSettled([...inHand]);
      else if (hooks.indexSlow) await new Promise((resolve) => setTimeout(resolve, hooks.indexSlow));
      return handle(msg);
    })
    .then(
      ({ result, transfer }) => ({ reply: { id: msg.id, result }, transfer: transfer ?? [] }),
      (error: unknown) => ({ reply: { id: msg.id, error: errorToWire(error) }, transfer: [] }),
    )
    .then(({ reply, transfer }) => {
      // After the request was handled (a write is on disk by now), before it is answered.
      if (fault) return fail(fault);
      post(reply, transfer);
      if (closing) end();
    });
  if (!closing) {
    inHand.add(work);
    void work.finally(() => inHand.delete(work));
  }
});
