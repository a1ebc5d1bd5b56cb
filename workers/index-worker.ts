/**
 * The index worker: the one thread that owns every collection of a pool's store. Requests arrive
 * tagged with an id and are answered with the same id; being the only writer, it needs no locks.
 * Searches run while log writes wait on the disk (those are asynchronous).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorToWire, InvalidInputError } from '../src/errors.js';
import type { Collection } from '../src/collections/collection.js';
import type { IndexMessage, IndexRequest, IndexResponse, IndexWorkerData } from '../src/collections/protocol.js';
import { Store } from '../src/collections/store.js';
import { PoolStats } from '../src/stats.js';

const { root, statsBuffer } = workerData as IndexWorkerData;
const stats = new PoolStats(statsBuffer);
let store: Store | undefined;
let openError: unknown;
try {
  store = new Store(root, stats);
} catch (error) {
  openError = error;
}

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
  if (!store) throw openError ?? new Error('the collection store is closed');
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
    case 'search': {
      const c = await store.get(req.collection);
      checkDims(c, req.vector.length, 'the query vector');
      const hits = c.search(req.vector, req.k, req.filter, req.includeVectors, req.exact);
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

parentPort!.on('message', (msg: IndexMessage) => {
  handle(msg).then(
    ({ result, transfer }) => parentPort!.postMessage({ id: msg.id, result } satisfies IndexResponse, transfer ?? []),
    (error: unknown) => parentPort!.postMessage({ id: msg.id, error: errorToWire(error) } satisfies IndexResponse),
  );
});
