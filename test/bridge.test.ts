import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, CollectionNotFoundError, InvalidInputError, SLOW_TEXTS, PoolClosedError, TaskTimeoutError, WarmpoolError, createPool, type WarmPool } from './helpers.js';
import { connectPool, electronPortEndpoint, exposePool, type PoolClient } from '../dist/src/bridge/index.js';
import { preferUnpacked } from '../dist/src/asar-path.js';
import { unpackedPath } from '../dist/src/electron.js';

const TEXTS = ['A man is playing a guitar.', 'Someone plays an instrument.', 'The stock market fell sharply today.'];
let pool: WarmPool;
let store: string;
const ports: MessagePort[] = [];

beforeAll(async () => {
  store = mkdtempSync(join(tmpdir(), 'warmpool-bridge-'));
  pool = createPool({ threads: 1, env: false, storePath: store });
  await pool.ready();
});

afterAll(async () => {
  for (const p of ports) p.close();
  await pool?.close();
  if (store) rmSync(store, { recursive: true, force: true });
});

function channel(owner: WarmPool = pool) {
  const { port1, port2 } = new MessageChannel();
  ports.push(port1, port2);
  // Record what the pool's side hands over, by forwarding its postMessage.
  const transferred: ArrayBuffer[] = [];
  const post = port1.postMessage.bind(port1);
  port1.postMessage = ((message: unknown, transfer?: readonly ArrayBuffer[]) => {
    for (const t of transfer ?? []) if (t instanceof ArrayBuffer) transferred.push(t);
    post(message, transfer as never);
  }) as typeof port1.postMessage;
  exposePool(owner, port1);
  return { client: connectPool(port2), transferred };
}

describe('the bridge over a Node MessageChannel', () => {
  it('gives the same vectors as pool.embed, transferred rather than copied', async () => {
    const { client, transferred } = channel();
    const got = await client.embed(TEXTS);
    expect(got).toEqual(await pool.embed(TEXTS));
    expect(transferred).toHaveLength(1);
    // A transferred buffer is detached on the sending side.
    expect(transferred[0]!.byteLength).toBe(0);
    expect(await client.embed(TEXTS[0]!)).toEqual(await pool.embed(TEXTS[0]!));
    const packed = await client.embedPacked(TEXTS);
    expect(packed.dims).toEqual([3, 100]);
    expect(packed.tokens).toBeGreaterThan(3);
    client.release();
  });

  it('passes options through: normalize false, pooling, truncate', async () => {
    const { client } = channel();
    expect(await client.embed(TEXTS, { normalize: false })).toEqual(await pool.embed(TEXTS, { normalize: false }));
    expect(await client.embed(TEXTS, { pooling: 'cls' })).toEqual(await pool.embed(TEXTS, { pooling: 'cls' }));
    const long = Array(700).fill('word').join(' ');
    await expect(client.embed(long, { truncate: false })).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('rebuilds errors as the same warmpool class with the same code', async () => {
    const { client } = channel();
    const error = await client.embed(['ok', 42 as unknown as string]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error).toBeInstanceOf(WarmpoolError);
    expect((error as WarmpoolError).code).toBe('ERR_WARMPOOL_INVALID_INPUT');
    expect((error as Error).message).toMatch(/input\[1\] must be a string, received number 42/);
    const clone = await client.embed([() => 'x'] as unknown as string[]).catch((e: unknown) => e);
    expect(clone).toBeInstanceOf(InvalidInputError);
  });

  it('reports ready(), stats(), and PoolClosedError once the owner closes the pool', async () => {
    const owned = createPool({ threads: 1, env: false });
    const { client } = channel(owned);
    expect(await client.ready()).toMatchObject({ dims: 100, maxTokens: 512 });
    await client.embed('counted');
    expect((await client.stats()).completed).toBe(1);
    await owned.close();
    const error = await client.embed('too late').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PoolClosedError);
    expect((error as WarmpoolError).code).toBe('ERR_WARMPOOL_POOL_CLOSED');
  });

  it('carries timeouts and aborts the remote call when the signal fires', async () => {
    const slow = createPool({ model: 'minilm-shape', threads: 1, env: false });
    try {
      const { client } = channel(slow);
      await client.ready();
      const timedOut = await client.embed(SLOW_TEXTS, { timeout: 50 }).catch((e: unknown) => e);
      expect(timedOut).toBeInstanceOf(TaskTimeoutError);
      const controller = new AbortController();
      const call = client.embed(SLOW_TEXTS, { signal: controller.signal });
      while ((await client.stats()).inFlight === 0) await new Promise((r) => setTimeout(r, 5));
      controller.abort(new Error('user left'));
      const aborted = await call.catch((e: unknown) => e);
      expect(aborted).toBeInstanceOf(AbortError);
      expect((aborted as Error).cause).toEqual(new Error('user left'));
      // The owner's pool counted the abort: the remote call was stopped, not left to finish unseen.
      await expect.poll(async () => (await client.stats()).aborted, { timeout: 5000 }).toBe(1);
    } finally {
      await slow.close();
    }
  });
});

const DOCS = [
  { id: 'cat', text: 'The cat sat on the mat.', metadata: { kind: 'animal' } },
  { id: 'sort', text: 'To sort a list, call its sort method.', metadata: { kind: 'code' } },
  { id: 'rain', text: 'Heavy rain is expected tonight.', metadata: { kind: 'weather' } },
  { id: 'dog', text: 'A dog chased the ball across the park.', metadata: { kind: 'animal' } },
];

/** Documents for a stream: `n` of them, numbered, generated lazily. */
async function* numbered(n: number, prefix: string): AsyncGenerator<{ id: string; text: string }> {
  for (let i = 0; i < n; i++) yield { id: `${prefix}-${i}`, text: `document ${i} about ${['cats', 'rain', 'lists', 'music'][i % 4]}` };
}

/** The collection calls of the client and of the pool: the same signatures, checked by the test build (tsc -p test). */
type CollectionCalls = 'index' | 'indexStream' | 'search' | 'get' | 'delete' | 'count' | 'collections';
export const sameSignatures: [(p: Pick<WarmPool, CollectionCalls>) => Pick<PoolClient, CollectionCalls>, (c: Pick<PoolClient, CollectionCalls>) => Pick<WarmPool, CollectionCalls>] = [(p) => p, (c) => c];

describe('collections over the bridge', () => {
  it('index, search, get, count, delete and collections() answer what the pool answers', async () => {
    const { client, transferred } = channel();
    const written = await client.index(DOCS, { collection: 'bridged' });
    expect(written).toEqual({ ids: DOCS.map((d) => d.id), count: 4 });
    await pool.index(DOCS, { collection: 'local' });
    // Through the bridge, a text query and a vector query (Float32Array and number[]) give what the pool gives.
    const local = await pool.search('where did the cat sit?', { collection: 'local', k: 2 });
    expect(await client.search('where did the cat sit?', { collection: 'bridged', k: 2 })).toEqual(local);
    expect(await client.search('where did the cat sit?', { collection: 'bridged', k: 2 })).toEqual(await pool.search('where did the cat sit?', { collection: 'bridged', k: 2 }));
    for (const mode of ['dense', 'keyword', 'hybrid'] as const) {
      expect(await client.search('where did the cat sit?', { collection: 'bridged', k: 2, mode })).toEqual(await pool.search('where did the cat sit?', { collection: 'bridged', k: 2, mode }));
    }
    expect(local[0]!.id).toBe('cat');
    const query = await pool.embed('rain tonight');
    expect(await client.search(query, { collection: 'bridged', k: 3, filter: { kind: 'weather' } })).toEqual(await pool.search(query, { collection: 'bridged', k: 3, filter: { kind: 'weather' } }));
    expect(await client.search(Array.from(query), { collection: 'bridged', k: 4 })).toEqual(await pool.search(query, { collection: 'bridged', k: 4 }));
    // Stored vectors cross as Float32Arrays, transferred: one buffer per vector.
    const before = transferred.length;
    const withVectors = await client.search(query, { collection: 'bridged', k: 2, includeVectors: true });
    expect(withVectors).toEqual(await pool.search(query, { collection: 'bridged', k: 2, includeVectors: true }));
    expect(withVectors[0]!.vector).toBeInstanceOf(Float32Array);
    expect(transferred.length - before).toBe(2);
    const got = await client.get(['sort', 'missing', 'cat'], { collection: 'bridged', includeVectors: true });
    expect(got).toEqual(await pool.get(['sort', 'missing', 'cat'], { collection: 'bridged', includeVectors: true }));
    expect(got[1]).toBeNull();
    expect(got[0]!.vector).toBeInstanceOf(Float32Array);
    expect(await client.get('rain', { collection: 'bridged' })).toEqual(await pool.get('rain', { collection: 'bridged' }));
    expect(await client.count({ collection: 'bridged' })).toBe(4);
    expect(await client.delete(['dog', 'nobody'], { collection: 'bridged' })).toBe(1);
    expect(await client.count({ collection: 'bridged' })).toBe(await pool.count({ collection: 'bridged' }));
    expect(await client.count({ collection: 'bridged' })).toBe(3);
    // collections(): list, create, info, drop.
    const api = client.collections();
    const created = await api.create('made-remotely', { metric: 'dot', index: 'exact' });
    expect(created).toMatchObject({ name: 'made-remotely', dims: 100, metric: 'dot', index: 'exact', count: 0 });
    expect(await api.info('bridged')).toEqual(await pool.collections().info('bridged'));
    expect((await api.list()).map((c) => c.name).sort()).toEqual((await pool.collections().list()).map((c) => c.name).sort());
    expect(await api.drop('made-remotely')).toBe(true);
    expect(await api.drop('made-remotely')).toBe(false);
    client.release();
  });

  it('rebuilds bad input and a missing collection as their warmpool classes', async () => {
    const { client } = channel();
    const empty = await client.index([{ id: 'x', text: '' }], { collection: 'errors' }).catch((e: unknown) => e);
    expect(empty).toBeInstanceOf(InvalidInputError);
    expect((empty as WarmpoolError).code).toBe('ERR_WARMPOOL_INVALID_INPUT');
    const missing = await client.search('anything', { collection: 'no-such-collection' }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(CollectionNotFoundError);
    expect((missing as WarmpoolError).code).toBe('ERR_WARMPOOL_COLLECTION_NOT_FOUND');
    await expect(client.count({ collection: 'no-such-collection' })).rejects.toBeInstanceOf(CollectionNotFoundError);
    await expect(client.collections().info('no-such-collection')).rejects.toBeInstanceOf(CollectionNotFoundError);
    await expect(client.get('a', { collection: 'bad name!' })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(client.collections().create('')).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('indexStream sends 1,000 documents in batches of 100 and reports each batch, in order', async () => {
    const { client } = channel();
    const progress: { indexed: number; batches: number }[] = [];
    let pulled = 0;
    let ahead = 0;
    async function* counted() {
      for await (const doc of numbered(1000, 'doc')) {
        pulled++;
        yield doc;
      }
    }
    const result = await client.indexStream(counted(), {
      collection: 'streamed',
      batchSize: 100,
      onProgress: ({ indexed, batches, elapsedMs }) => {
        expect(elapsedMs).toBeGreaterThanOrEqual(0);
        progress.push({ indexed, batches });
        ahead = Math.max(ahead, pulled - indexed);
      },
    });
    // At most two batches on their way or being indexed, and the next one being pulled: never more pulled ahead.
    expect(ahead).toBeLessThanOrEqual(300);
    expect(result).toEqual({ count: 1000, batches: 10 });
    expect(progress).toEqual(Array.from({ length: 10 }, (_, i) => ({ indexed: (i + 1) * 100, batches: i + 1 })));
    expect(await client.count({ collection: 'streamed' })).toBe(1000);
    expect((await client.get('doc-999', { collection: 'streamed' }))[0]).toMatchObject({ id: 'doc-999', text: 'document 999 about music' });
    // A plain array is an iterable too; the default batch size applies.
    expect(await client.indexStream(['one', 'two', 'three'], { collection: 'streamed-plain' })).toEqual({ count: 3, batches: 1 });
  });

  it('aborting an indexStream midway rejects with AbortError and leaves whole acknowledged batches only', async () => {
    const { client } = channel();
    const controller = new AbortController();
    let last = 0;
    let pulled = 0;
    async function* counted() {
      for await (const doc of numbered(1000, 'abort')) {
        pulled++;
        yield doc;
      }
    }
    const error = await client
      .indexStream(counted(), {
        collection: 'aborted',
        batchSize: 100,
        signal: controller.signal,
        onProgress: ({ indexed }) => {
          last = indexed;
          if (indexed === 300) controller.abort(new Error('enough'));
        },
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect((error as Error).cause).toEqual(new Error('enough'));
    expect(pulled).toBeLessThan(1000);
    const count = await client.count({ collection: 'aborted' });
    expect(count % 100).toBe(0);
    expect(count).toBeGreaterThanOrEqual(300);
    expect(count).toBeLessThan(1000);
    // Every batch written was acknowledged and reported, and the message says how many.
    expect(count).toBe(last);
    expect((error as Error).message).toContain(`after ${count} documents`);
    // Nothing arrives later: the batches still waiting were dropped, not written after the rejection.
    await new Promise((r) => setTimeout(r, 200));
    expect(await client.count({ collection: 'aborted' })).toBe(count);
    // A signal aborted before the call: nothing is sent.
    await expect(client.indexStream(numbered(10, 'never'), { collection: 'never', signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    await expect(client.count({ collection: 'never' })).rejects.toBeInstanceOf(CollectionNotFoundError);
  });

  it('an abort drops the batch still waiting on the owner\'s side: it is never written', async () => {
    // The owner's pool, with each index() call held 300 ms, and counted.
    let writes = 0;
    const slow = new Proxy(pool, {
      get(target, key) {
        if (key === 'index') {
          return async (...args: Parameters<WarmPool['index']>) => {
            writes++;
            await new Promise((r) => setTimeout(r, 300));
            return target.index(...args);
          };
        }
        const value = Reflect.get(target, key, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const { client } = channel(slow);
    const controller = new AbortController();
    const progress: number[] = [];
    let pulled = 0;
    async function* counted() {
      for await (const doc of numbered(1000, 'dropped')) {
        pulled++;
        yield doc;
      }
    }
    // Batch 1 is written first; once it is answered, batch 3 is sent while batch 2 is being written
    // and waits behind it. The abort comes then: batch 2 finishes, batch 3 is dropped.
    const call = client.indexStream(counted(), {
      collection: 'dropped',
      batchSize: 100,
      signal: controller.signal,
      onProgress: ({ indexed }) => {
        progress.push(indexed);
        if (indexed === 100) setTimeout(() => controller.abort(), 50);
      },
    });
    const error = await call.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect(pulled).toBeGreaterThanOrEqual(300);
    expect(progress).toEqual([100, 200]);
    await new Promise((r) => setTimeout(r, 400));
    expect(writes).toBe(2);
    expect(await client.count({ collection: 'dropped' })).toBe(200);
  });

  it('a bad document in a stream rejects with InvalidInputError and stops there', async () => {
    const { client } = channel();
    let pulled = 0;
    function* docs() {
      for (let i = 0; i < 1000; i++) {
        pulled++;
        yield { id: `bad-${i}`, text: i === 250 ? '' : `text number ${i}` };
      }
    }
    const progress: number[] = [];
    const error = await client.indexStream(docs(), { collection: 'bad-stream', batchSize: 100, onProgress: (p) => progress.push(p.indexed) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(/empty/);
    // Batches 1 and 2 were written; batch 3 failed, and nothing after it was indexed.
    expect(progress).toEqual([100, 200]);
    expect(pulled).toBeLessThan(1000);
    expect(await client.count({ collection: 'bad-stream' })).toBe(200);
    await expect(client.indexStream(docs(), { batchSize: 0 })).rejects.toBeInstanceOf(RangeError);
    await expect(client.indexStream(docs(), { onProgress: 'no' as never })).rejects.toBeInstanceOf(InvalidInputError);
  });
});

describe('rerank and classify over the bridge', () => {
  it('answers what the pool answers, with typed errors and aborts', async () => {
    const owner = createPool({ threads: 1, env: false, preallocate: false, models: { rerank: { task: 'rerank', model: 'glove-rerank' }, tags: { task: 'classify', model: 'glove-rerank' } } });
    try {
      await owner.ready();
      const { client } = channel(owner);
      const docs = ['The cat sat on the mat.', 'To sort a list, call its sort method.', 'Rain is expected tonight.'];
      const remote = await client.rerank('how do I sort a list?', docs, { topN: 2, returnDocuments: true });
      expect(remote).toEqual(await owner.rerank('how do I sort a list?', docs, { topN: 2, returnDocuments: true }));
      expect(remote[0]!.index).toBe(1);
      expect(await client.classify(['one text', 'another'])).toEqual(await owner.classify(['one text', 'another']));
      expect(await client.classify('one text', { model: 'tags' })).toEqual(await owner.classify('one text', { model: 'tags' }));
      await expect(client.rerank('', docs)).rejects.toBeInstanceOf(InvalidInputError);
      const unknown = await client.rerank('q', docs, { model: 'nope' }).catch((e: unknown) => e);
      expect(unknown).toBeInstanceOf(WarmpoolError);
      expect((unknown as WarmpoolError).code).toBe('ERR_WARMPOOL_UNKNOWN_MODEL');
      const controller = new AbortController();
      controller.abort();
      await expect(client.rerank('q', docs, { signal: controller.signal })).rejects.toBeInstanceOf(AbortError);
      client.release();
    } finally {
      await owner.close();
    }
  });
});

describe('the bridge with a worker thread as the renderer', () => {
  it('embeds, and errors keep their class and code on the worker side', async () => {
    const { port1, port2 } = new MessageChannel();
    exposePool(pool, port1);
    const worker = new Worker(new URL('./fixtures/bridge-renderer.mjs', import.meta.url), { workerData: { port: port2, texts: TEXTS }, transferList: [port2] });
    const result = await new Promise<any>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    port1.close();
    const want = await pool.embed(TEXTS);
    expect(result.vectors).toEqual(want);
    expect(result.single).toEqual(want[0]);
    expect(result.info).toMatchObject({ dims: 100 });
    expect(result.error).toEqual({
      name: 'InvalidInputError',
      code: 'ERR_WARMPOOL_INVALID_INPUT',
      message: 'input[1] is empty or only whitespace; there is nothing to embed',
      warmpool: true,
      invalidInput: true,
    });
    expect(result.completed).toBeGreaterThan(0);
    // Collections from the worker: index, a stream with its progress, search, get and typed errors.
    expect(result.indexed).toEqual({ ids: ['guitar', 'instrument', 'market'], count: 3 });
    expect(result.streamed).toEqual({ count: 25, batches: 3 });
    expect(result.progress).toEqual([10, 20, 25]);
    expect(result.count).toBe(28);
    expect(result.hits).toEqual(await pool.search(TEXTS[1]!, { collection: 'renderer', k: 2 }));
    expect(result.hits[0].id).toBe('instrument');
    expect(result.vector).toEqual((await pool.get('market', { collection: 'renderer', includeVectors: true }))[0]!.vector);
    expect(result.missing).toEqual({ name: 'CollectionNotFoundError', code: 'ERR_WARMPOOL_COLLECTION_NOT_FOUND', notFound: true });
    expect(result.badDoc).toEqual({ name: 'InvalidInputError', invalidInput: true });
  });
});

describe('Electron helpers', () => {
  it('electronPortEndpoint speaks to ports whose message events carry { data }', async () => {
    // Electron's MessagePortMain hands listeners an event object; this wraps a real Node port the same way.
    const { port1, port2 } = new MessageChannel();
    ports.push(port1, port2);
    const listeners = new Map<(e: { data: unknown }) => void, (d: unknown) => void>();
    const mainPort = {
      postMessage: (m: unknown) => port1.postMessage(m),
      on: (_: 'message', l: (e: { data: unknown }) => void) => {
        const inner = (data: unknown) => l({ data });
        listeners.set(l, inner);
        port1.on('message', inner);
      },
      off: (_: 'message', l: (e: { data: unknown }) => void) => port1.off('message', listeners.get(l)!),
      start: () => port1.start(),
    };
    exposePool(pool, electronPortEndpoint(mainPort));
    const client = connectPool(port2);
    expect(await client.embed(TEXTS)).toEqual(await pool.embed(TEXTS));
    await expect(client.embed('')).rejects.toBeInstanceOf(InvalidInputError);
    // Collections too, with stored vectors copied (such a port transfers no buffers) and progress on this side.
    const progress: number[] = [];
    expect(await client.indexStream(TEXTS, { collection: 'electron', batchSize: 2, onProgress: (p) => progress.push(p.indexed) })).toEqual({ count: 3, batches: 2 });
    expect(progress).toEqual([2, 3]);
    const hits = await client.search(TEXTS[0]!, { collection: 'electron', k: 3, includeVectors: true });
    expect(hits).toEqual(await pool.search(TEXTS[0]!, { collection: 'electron', k: 3, includeVectors: true }));
    expect(hits[0]!.vector).toBeInstanceOf(Float32Array);
    await expect(client.count({ collection: 'not-there' })).rejects.toBeInstanceOf(CollectionNotFoundError);
  });

  it('unpackedPath maps paths inside an asar archive to app.asar.unpacked, and leaves others alone', () => {
    expect(unpackedPath('/opt/App/resources/app.asar/node_modules/warmpool/dist/workers/embed-worker.js')).toBe(
      '/opt/App/resources/app.asar.unpacked/node_modules/warmpool/dist/workers/embed-worker.js',
    );
    expect(unpackedPath('C:\\App\\resources\\app.asar\\node_modules\\warmpool\\models')).toBe('C:\\App\\resources\\app.asar.unpacked\\node_modules\\warmpool\\models');
    expect(unpackedPath('/opt/App/resources/app.asar.unpacked/x.js')).toBe('/opt/App/resources/app.asar.unpacked/x.js');
    expect(unpackedPath('/home/me/project/dist/workers/embed-worker.js')).toBe('/home/me/project/dist/workers/embed-worker.js');
    expect(unpackedPath('/home/me/app.asar')).toBe('/home/me/app.asar');
  });

  it('preferUnpacked picks the unpacked copy only when it exists', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warmpool-asar-'));
    try {
      mkdirSync(join(dir, 'app.asar.unpacked', 'workers'), { recursive: true });
      writeFileSync(join(dir, 'app.asar.unpacked', 'workers', 'w.js'), '');
      expect(preferUnpacked(join(dir, 'app.asar', 'workers', 'w.js'))).toBe(join(dir, 'app.asar.unpacked', 'workers', 'w.js'));
      expect(preferUnpacked(join(dir, 'app.asar', 'workers', 'other.js'))).toBe(join(dir, 'app.asar', 'workers', 'other.js'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
