/**
 * The index worker: the one thread that owns every collection of a pool's store. Requests arrive
 * tagged with an id and are answered with the same id; being the only writer, it needs no locks.
 * Searches run while log writes wait on the disk (those are asynchronous).
 *
 * It opens the store (and recovers the collections it is asked to reopen) before it takes any
 * request, and says so with its first message: `ready`, or `load-error` with the cause.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorToWire, InvalidInputError } from '../src/errors.js';
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
    if (await opened.get(name).then(() => true, () => false)) open.push(name);
  }
  return { opened, open };
}

let store: Store | undefined;
const opening = openStore().then(
  ({ opened, open }) => {
    store = opened;
    post({ event: 'ready', open });
  },
  (error: unknown) => post({ event: 'load-error', error: errorToWire(error) }),
);

function checkDims(c: Collection, dims: number, what: string): void {
  if (dims !== c.settings.dims) {
    throw new InvalidInputError(
      `${what} has dimension ${dims} but collection ${JSON.stringify(c.settings.name)} has dimension ${c.settings.dims}`,
    );
  }
}

async function handle(req: IndexRequest): Promise<{ result: unknown; transfer?: ArrayBuffer[] }> {
  if (req.op === 'close') {
    await store?.close();
    store = undefined;
    return { result: true };
  }
  if (!store) throw new Error('the collection store is closed');
  switch (req.op) {
    case 'upsert': {
      const c = await store.create(req.settings, false);
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
      return { result: await (await store.get(req.collection)).delete(req.ids) };
    case 'get':
      return { result: (await store.get(req.collection)).get(req.ids, req.includeVectors) };
    case 'count':
      return { result: (await store.get(req.collection)).count };
    case 'ids':
      return { result: (await store.get(req.collection)).ids() };
    case 'search': {
      const c = await store.get(req.collection);
      if (req.vector) checkDims(c, req.vector.length, 'the query vector');
      const { op: _op, collection: _collection, ...plan } = req;
      const hits = c.search(plan);
      const transfer = hits.flatMap((h) => (h.vector ? [h.vector.buffer as ArrayBuffer] : []));
      return { result: hits, transfer };
    }
    case 'list':
      return { result: await store.list() };
    case 'create':
      return { result: (await store.create(req.settings, true)).info() };
    case 'drop':
      return { result: await store.drop(req.collection) };
    case 'info':
      return { result: (await store.get(req.collection)).info() };
  }
}

/** Test-only: fails the worker on purpose, from a fresh stack so that nothing catches it. */
function fail(kind: 'crash' | 'exit'): void {
  if (kind === 'exit') process.exit(1);
  setImmediate(() => {
    throw new Error('injected index worker crash');
  });
}

let received = 0;
parentPort!.on('message', (msg: IndexMessage) => {
  const n = msg.op === 'close' ? 0 : ++received;
  const fault = n > 0 ? (hooks.indexCrash === n ? 'crash' : hooks.indexExit === n ? 'exit' : undefined) : undefined;
  void opening
    .then(() => handle(msg))
    .then(
      ({ result, transfer }) => ({ reply: { id: msg.id, result }, transfer: transfer ?? [] }),
      (error: unknown) => ({ reply: { id: msg.id, error: errorToWire(error) }, transfer: [] }),
    )
    .then(({ reply, transfer }) => {
      // After the request was handled (a write is on disk by now), before it is answered.
      if (fault) return fail(fault);
      post(reply, transfer);
    });
});
