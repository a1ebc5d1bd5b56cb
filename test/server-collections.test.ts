import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempStore } from './collections-helpers.js';
import { createPool, type WarmPool } from './helpers.js';
import { getJson, postJson, startServer, type RunningServer } from './server-helpers.js';

const store = tempStore();
let pool: WarmPool;
let server: RunningServer;
let keyed: RunningServer;

async function send(method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : (JSON.parse(text) as any) };
}

const DOCS = [
  { id: 'cat', text: 'The cat sat on the mat and purred.', metadata: { lang: 'en', topic: 'pets' } },
  { id: 'stocks', text: 'The stock market fell sharply as investors sold shares.', metadata: { lang: 'en', topic: 'finance' } },
  { id: 'river', text: 'The river flooded the valley after heavy rain.', metadata: { lang: 'en', topic: 'weather' } },
  { id: 'chat', text: 'Le chat dort sur le canapé.', metadata: { lang: 'fr', topic: 'pets' } },
];

beforeAll(async () => {
  pool = createPool({ threads: 1, storePath: store.dir, env: false });
  await pool.ready();
  server = await startServer(pool, { port: 0, env: false, maxInputs: 8 });
  keyed = await startServer(pool, { port: 0, env: false, apiKey: 'secret-key' });
});

afterAll(async () => {
  await keyed?.close();
  await server?.close();
  await pool?.close();
  store.cleanup();
});

describe('/v1/collections', () => {
  it('creates, lists, describes and drops a collection', async () => {
    const created = await postJson(`${server.url}/v1/collections`, { name: 'life', metric: 'dot', index: 'exact' });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ name: 'life', dims: 100, metric: 'dot', index: 'exact', count: 0 });
    const again = await postJson(`${server.url}/v1/collections`, { name: 'life' });
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe('ERR_WARMPOOL_COLLECTION_EXISTS');

    const list = await getJson(`${server.url}/v1/collections`);
    expect(list.status).toBe(200);
    expect(list.json.collections.map((c: { name: string }) => c.name)).toContain('life');
    const info = await getJson(`${server.url}/v1/collections/life`);
    expect(info.json).toMatchObject({ name: 'life', metric: 'dot' });

    const dropped = await send('DELETE', `${server.url}/v1/collections/life`);
    expect(dropped).toEqual({ status: 200, json: { name: 'life', dropped: true } });
    expect((await getJson(`${server.url}/v1/collections/life`)).status).toBe(404);
    expect((await send('DELETE', `${server.url}/v1/collections/life`)).status).toBe(404);
  });

  it('refuses bad settings with 400', async () => {
    for (const body of [{}, { name: 7 }, { name: 'bad name!' }, { name: 'ok', metric: 'manhattan' }, { name: 'ok', ttl: -1 }, { name: 'ok', colour: 'red' }, [1]]) {
      const r = await postJson(`${server.url}/v1/collections`, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(typeof r.json.error.message).toBe('string');
    }
    expect((await getJson(`${server.url}/v1/collections/ok`)).status).toBe(404);
  });

  it('refuses a reserved name (the store\'s lock file) with 400 and a clear message, not a 500', async () => {
    for (const name of ['LOCK', 'lock']) {
      const created = await postJson(`${server.url}/v1/collections`, { name });
      expect(created.status, name).toBe(400);
      expect(created.json.error.message).toContain('reserved');
      const written = await postJson(`${server.url}/v1/collections/${name}/documents`, { documents: ['text'] });
      expect(written.status, name).toBe(400);
      expect((await send('DELETE', `${server.url}/v1/collections/${name}`)).status).toBe(400);
    }
  });
});

describe('/v1/collections/:name/documents and /search', () => {
  beforeAll(async () => {
    expect((await postJson(`${server.url}/v1/collections`, { name: 'notes' })).status).toBe(201);
  });

  it('indexes documents and finds the right one by text and by vector', async () => {
    const written = await postJson(`${server.url}/v1/collections/notes/documents`, { documents: DOCS });
    expect(written.status).toBe(200);
    expect(written.json).toEqual({ ids: DOCS.map((d) => d.id), count: 4 });
    expect((await getJson(`${server.url}/v1/collections/notes/count`)).json).toEqual({ count: 4 });

    const byText = await postJson(`${server.url}/v1/collections/notes/search`, { query: 'shares and investors on the market', k: 2 });
    expect(byText.status).toBe(200);
    expect(byText.json.hits).toHaveLength(2);
    expect(byText.json.hits[0]).toMatchObject({ id: 'stocks', text: DOCS[1]!.text, metadata: { topic: 'finance' } });
    expect(byText.json.hits[0].score).toBeGreaterThan(byText.json.hits[1].score);

    const [vector] = await pool.embed([DOCS[2]!.text]);
    const byVector = await postJson(`${server.url}/v1/collections/notes/search`, { query: Array.from(vector!), k: 1, includeVectors: true });
    expect(byVector.json.hits[0].id).toBe('river');
    expect(byVector.json.hits[0].vector).toHaveLength(100);
  });

  it('filters hits on metadata', async () => {
    const r = await postJson(`${server.url}/v1/collections/notes/search`, { query: 'a cat sleeping', k: 10, filter: { lang: 'fr' } });
    expect(r.json.hits.map((h: { id: string }) => h.id)).toEqual(['chat']);
    const pets = await postJson(`${server.url}/v1/collections/notes/search`, { query: 'a cat sleeping', filter: { topic: { $in: ['pets'] }, lang: { $ne: 'fr' } } });
    expect(pets.json.hits.map((h: { id: string }) => h.id)).toEqual(['cat']);
  });

  it('gets, upserts, deletes and counts documents', async () => {
    const got = await postJson(`${server.url}/v1/collections/notes/documents/get`, { ids: ['cat', 'nope'] });
    expect(got.json.documents).toEqual([{ id: 'cat', text: DOCS[0]!.text, metadata: DOCS[0]!.metadata }, null]);
    const one = await getJson(`${server.url}/v1/collections/notes/documents/river`);
    expect(one.json).toMatchObject({ id: 'river', text: DOCS[2]!.text });
    expect((await getJson(`${server.url}/v1/collections/notes/documents/nope`)).status).toBe(404);

    // Upsert: the same id replaces; plain strings get generated ids.
    const up = await postJson(`${server.url}/v1/collections/notes/documents`, { documents: [{ id: 'cat', text: 'A kitten naps.' }, 'a plain string'] });
    expect(up.json.ids[0]).toBe('cat');
    expect(up.json.ids[1]).toMatch(/^[0-9a-f-]{36}$/);
    expect((await getJson(`${server.url}/v1/collections/notes/documents/cat`)).json.text).toBe('A kitten naps.');
    expect((await getJson(`${server.url}/v1/collections/notes/count`)).json.count).toBe(5);

    const deleted = await send('DELETE', `${server.url}/v1/collections/notes/documents`, { ids: ['cat', up.json.ids[1], 'nope'] });
    expect(deleted).toEqual({ status: 200, json: { deleted: 2 } });
    expect((await getJson(`${server.url}/v1/collections/notes/count`)).json.count).toBe(3);
    expect((await getJson(`${server.url}/v1/collections/notes/documents/cat`)).status).toBe(404);
  });

  it('answers 404 for an unknown collection, without creating it', async () => {
    const calls = [
      () => getJson(`${server.url}/v1/collections/ghost/count`),
      () => postJson(`${server.url}/v1/collections/ghost/search`, { query: 'anything' }),
      () => postJson(`${server.url}/v1/collections/ghost/documents`, { documents: ['text'] }),
      () => postJson(`${server.url}/v1/collections/ghost/documents/get`, { ids: ['a'] }),
      () => send('DELETE', `${server.url}/v1/collections/ghost/documents`, { ids: ['a'] }),
    ];
    for (const call of calls) {
      const r = await call();
      expect(r.status).toBe(404);
      expect(r.json.error.code).toBe('ERR_WARMPOOL_COLLECTION_NOT_FOUND');
      expect(r.json.error.message).toBe('no collection named "ghost"');
    }
    expect((await getJson(`${server.url}/v1/collections`)).json.collections.map((c: { name: string }) => c.name)).not.toContain('ghost');
  });

  it('refuses bad input with 400: missing query, wrong dimension, bad filter, bad documents, too many', async () => {
    const url = `${server.url}/v1/collections/notes`;
    const bad = [
      await postJson(`${url}/search`, {}),
      await postJson(`${url}/search`, { query: 42 }),
      await postJson(`${url}/search`, { query: [1, 2, 3] }),
      await postJson(`${url}/search`, { query: ['a'] }),
      await postJson(`${url}/search`, { query: 'x', k: 0 }),
      await postJson(`${url}/search`, { query: 'x', filter: { lang: { $regex: 'e' } } }),
      await postJson(`${url}/documents`, {}),
      await postJson(`${url}/documents`, { documents: [{ id: 'v', text: 'x', vector: [1, 2] }] }),
      await postJson(`${url}/documents`, { documents: [{ text: 'no id' }] }),
      await postJson(`${url}/documents`, { documents: Array.from({ length: 9 }, (_, i) => `text ${i}`) }),
      await postJson(`${url}/documents/get`, { ids: 5 }),
      await postJson(`${url}/search`, 'not json'),
    ];
    for (const [i, r] of bad.entries()) {
      expect(r.status, `case ${i}: ${r.text}`).toBe(400);
      expect(typeof r.json.error.message, `case ${i}`).toBe('string');
    }
    expect(bad[2]!.json.error.message).toMatch(/dimension 3 .* dimension 100/);
    expect((await getJson(`${url}/count`)).json.count).toBe(3);
  });
});

describe('authentication', () => {
  it('requires the API key on every collection route when one is set', async () => {
    expect((await getJson(`${keyed.url}/v1/collections`)).status).toBe(401);
    expect((await postJson(`${keyed.url}/v1/collections/notes/search`, { query: 'cat' })).status).toBe(401);
    expect((await send('DELETE', `${keyed.url}/v1/collections/notes`)).status).toBe(401);
    expect((await getJson(`${keyed.url}/v1/collections/notes/count`)).json).toEqual({ error: expect.anything() });
    const auth = { authorization: 'Bearer secret-key' };
    const ok = await getJson(`${keyed.url}/v1/collections/notes/count`, auth);
    expect(ok).toMatchObject({ status: 200, json: { count: 3 } });
  });
});
