import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, InvalidInputError, SLOW_TEXTS, PoolClosedError, TaskTimeoutError, WarmpoolError, createPool, type WarmPool } from './helpers.js';
import { connectPool, electronPortEndpoint, exposePool } from '../dist/src/bridge/index.js';
import { preferUnpacked } from '../dist/src/asar-path.js';
import { unpackedPath } from '../dist/src/electron.js';

const TEXTS = ['A man is playing a guitar.', 'Someone plays an instrument.', 'The stock market fell sharply today.'];
let pool: WarmPool;
const ports: MessagePort[] = [];

beforeAll(async () => {
  pool = createPool({ threads: 1, env: false });
  await pool.ready();
});

afterAll(async () => {
  for (const p of ports) p.close();
  await pool?.close();
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
