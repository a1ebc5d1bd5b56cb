import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textGenerator } from '../bench/synthetic-text.js';
import { tempStore } from './collections-helpers.js';
import {
  CollectionExistsError,
  CollectionNotFoundError,
  InvalidInputError,
  PoolClosedError,
  chunkText,
  closeDefaultPool,
  createPool,
  index,
  readCorpus,
  search,
  type WarmPool,
} from './helpers.js';

const store = tempStore();
let pool: WarmPool;

beforeAll(async () => {
  pool = createPool({ threads: 1, storePath: store.dir, env: false });
  await pool.ready();
});
afterAll(async () => {
  await pool.close();
  store.cleanup();
});

describe('#index / #get / #delete / #count', () => {
  it('upserts by id and round-trips text and metadata', async () => {
    const c = { collection: 'roundtrip' };
    const r = await pool.index(
      [
        { id: 'a', text: 'The cat sat on the mat.', metadata: { lang: 'en', n: 1 } },
        { id: 'b', text: 'Stock markets fell sharply today.' },
      ],
      c,
    );
    expect(r).toEqual({ ids: ['a', 'b'], count: 2 });
    expect(await pool.count(c)).toBe(2);
    await pool.index({ id: 'a', text: 'A dog slept by the fire.', metadata: { lang: 'fr' } }, c);
    expect(await pool.count(c)).toBe(2);
    const [a, b, missing] = await pool.get(['a', 'b', 'zzz'], { ...c, includeVectors: true });
    expect(a).toMatchObject({ id: 'a', text: 'A dog slept by the fire.', metadata: { lang: 'fr' } });
    expect(a!.vector).toBeInstanceOf(Float32Array);
    expect(a!.vector!.length).toBe(100);
    expect(b!.metadata).toBeUndefined();
    expect(missing).toBeNull();
    const hits = await pool.search('a dog sleeping near a fireplace', { ...c, k: 1 });
    expect(hits[0]!.id).toBe('a');
    expect(await pool.delete(['a', 'nope'], c)).toBe(1);
    expect(await pool.count(c)).toBe(1);
    expect(await pool.get('a', c)).toEqual([null]);
  });

  it('generates ids for plain strings', async () => {
    const r = await pool.index(['first text about rivers', 'second text about music'], { collection: 'plain' });
    expect(r.ids).toHaveLength(2);
    expect(new Set(r.ids).size).toBe(2);
    const [doc] = await pool.get(r.ids[0]!, { collection: 'plain' });
    expect(doc!.text).toBe('first text about rivers');
  });

  it('rejects bad documents with InvalidInputError before writing anything', async () => {
    const c = { collection: 'bad-docs' };
    await expect(pool.index([{ id: '', text: 'x' }], c)).rejects.toThrow(InvalidInputError);
    await expect(pool.index([{ id: 'x', text: 'a' }, { id: 'x', text: 'b' }], c)).rejects.toThrow(/same id "x"/);
    await expect(pool.index([{ id: 'x', text: 42 } as never], c)).rejects.toThrow(/docs\[0\]\.text must be a string/);
    await expect(pool.index('x', { collection: '../escape' })).rejects.toThrow(InvalidInputError);
    await expect(pool.count(c)).rejects.toThrow(CollectionNotFoundError);
  });
});

describe('#search', () => {
  const c = { collection: 'search' };
  beforeAll(async () => {
    await pool.index(
      [
        { id: 'guitar', text: 'A man is playing a guitar on stage.', metadata: { topic: 'music', year: 2001, tags: ['live'] } },
        { id: 'violin', text: 'She practices the violin every evening.', metadata: { topic: 'music', year: 2010 } },
        { id: 'stocks', text: 'Stock markets fell sharply on Wall Street.', metadata: { topic: 'finance', year: 2008 } },
        { id: 'storm', text: 'Heavy rain and strong winds are expected tonight.', metadata: { topic: 'weather', year: 2020, nested: { a: 1 } } },
        { id: 'pasta', text: 'The chef cooked pasta with fresh tomatoes.', metadata: { topic: 'food', year: 2015 } },
      ],
      c,
    );
  });

  it('returns the nearest documents best first, text and vector queries alike', async () => {
    const hits = await pool.search('Someone plays an instrument.', { ...c, k: 2, mode: 'dense' });
    expect(hits.map((h) => h.id)).toEqual(['guitar', 'violin']);
    expect(hits[0]!.score).toBeGreaterThanOrEqual(hits[1]!.score);
    expect(hits[0]).toMatchObject({ text: 'A man is playing a guitar on stage.', metadata: { topic: 'music' } });
    const q = await pool.embed('Someone plays an instrument.');
    const byVector = await pool.search(q, { ...c, k: 2 });
    expect(byVector.map((h) => h.id)).toEqual(['guitar', 'violin']);
    expect(byVector[0]!.score).toBeCloseTo(hits[0]!.score, 5);
    const byArray = await pool.search(Array.from(q), { ...c, k: 1, includeVectors: true });
    expect(byArray[0]!.vector!.length).toBe(100);
    expect(q.length).toBe(100); // the caller's vector is not detached by the transfer
  });

  it('filters on metadata: equality, $in, $ne, ranges, nested paths, array fields', async () => {
    const ids = async (filter: object) => (await pool.search('music weather money food', { ...c, k: 10, filter: filter as never })).map((h) => h.id).sort();
    expect(await ids({ topic: 'music' })).toEqual(['guitar', 'violin']);
    expect(await ids({ topic: { $in: ['finance', 'food'] } })).toEqual(['pasta', 'stocks']);
    expect(await ids({ topic: { $ne: 'music' }, year: { $gte: 2010 } })).toEqual(['pasta', 'storm']);
    expect(await ids({ 'nested.a': 1 })).toEqual(['storm']);
    expect(await ids({ tags: 'live' })).toEqual(['guitar']);
    expect(await ids({ topic: 'none' })).toEqual([]);
    await expect(pool.search('x', { ...c, filter: { topic: { $regex: 'a' } } as never })).rejects.toThrow(/unknown operator "\$regex"/);
  });

  it('returns the whole collection when k exceeds it, and nothing from an empty one', async () => {
    expect(await pool.search('anything at all', { ...c, k: 50 })).toHaveLength(5);
    await pool.collections().create('empty');
    expect(await pool.search('anything at all', { collection: 'empty' })).toEqual([]);
    expect(await pool.count({ collection: 'empty' })).toBe(0);
  });

  it('rejects a vector of the wrong dimension naming both dimensions', async () => {
    await expect(pool.search(new Float32Array(3), c)).rejects.toThrow(InvalidInputError);
    await expect(pool.search([1, 2, 3], c)).rejects.toThrow(/dimension 3 but collection "search" has dimension 100/);
    await expect(pool.index({ id: 'v', text: 'x', vector: new Float32Array(7) }, c)).rejects.toThrow(/dimension 7 but collection "search" has dimension 100/);
    await expect(pool.search('x', { ...c, k: 0 })).rejects.toThrow(/k must be an integer from 1/);
  });

  it('reports an unknown collection with CollectionNotFoundError', async () => {
    await expect(pool.search('x', { collection: 'no-such' })).rejects.toThrow(CollectionNotFoundError);
    await expect(pool.search('x', { collection: 'no-such' })).rejects.toThrow(/no collection named "no-such"/);
  });

  it('supports dot and l2 metrics', async () => {
    await pool.collections().create('l2', { metric: 'l2', dims: 2 });
    await pool.index(
      [
        { id: 'o', text: 'origin', vector: [0, 0] },
        { id: 'far', text: 'far', vector: [10, 0] },
        { id: 'near', text: 'near', vector: [1, 1] },
      ],
      { collection: 'l2' },
    );
    const hits = await pool.search([0.9, 0.9], { collection: 'l2', k: 3 });
    expect(hits.map((h) => h.id)).toEqual(['near', 'o', 'far']);
    expect(hits[0]!.score).toBeCloseTo(Math.SQRT2 * 0.1, 5);
    await pool.collections().create('dot', { metric: 'dot', dims: 2 });
    await pool.index([{ id: 'big', text: 'big', vector: [5, 0] }, { id: 'aligned', text: 'aligned', vector: [0.5, 0.5] }], { collection: 'dot' });
    expect((await pool.search([1, 0.2], { collection: 'dot', k: 2 })).map((h) => [h.id, Number(h.score.toFixed(3))])).toEqual([
      ['big', 5],
      ['aligned', 0.6],
    ]);
  });
});

describe('bad input to collection calls', () => {
  const c = { collection: 'bad-input' };
  beforeAll(async () => {
    await pool.index([{ id: 'plain', text: 'a dog slept by the fire', metadata: { topic: 'pets', tags: ['a', 'b'] } }, { id: 'none', text: 'no metadata at all' }], c);
  });

  it('shows BigInt, cyclic and Symbol values in messages instead of failing to print them', async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(pool.search('x', { ...c, k: 3n as never })).rejects.toThrow(/k must be an integer from 1 to 10000, received 3n/);
    await expect(pool.index([{ id: 5n, text: 'x' } as never], c)).rejects.toThrow(/docs\[0\]\.id must be a non-empty string, received 5n/);
    await expect(pool.get([5n] as never, c)).rejects.toThrow(/ids\[0\] must be a string, received 5n/);
    await expect(pool.search('x', { collection: Symbol('c') as never })).rejects.toThrow(/received Symbol\(c\)/);
    await expect(pool.search('x', { ...c, filter: { a: { $in: [cyclic] } } as never })).rejects.toThrow(/filter\.a\.\$in has an invalid value/);
    for (const call of [pool.search('x', { ...c, k: 3n as never }), pool.search('x', { ...c, filter: { a: 1n } as never })]) {
      await expect(call).rejects.toBeInstanceOf(InvalidInputError);
    }
  });

  it('refuses options that are not an object rather than using the default collection', async () => {
    await expect(pool.index('text', 5 as never)).rejects.toThrow(/options must be an object, received 5/);
    await expect(pool.search('text', null as never)).rejects.toThrow(InvalidInputError);
    await expect(pool.count('bad-input' as never)).rejects.toThrow(/options must be an object, received "bad-input"/);
    // A typed array's filter method would read as options.filter.
    await expect(pool.search('text', new Float64Array(0) as never)).rejects.toThrow(/options must be an object, received a Float64Array/);
  });

  it('refuses vectors holding NaN or infinities, and vectors of no numbers', async () => {
    const nan = new Float32Array(100).fill(0.1);
    nan[7] = NaN;
    await expect(pool.index({ id: 'n', text: 'x', vector: nan }, c)).rejects.toThrow(/docs\[0\]\.vector\[7\] is NaN as a float32/);
    await expect(pool.search(nan, c)).rejects.toThrow(/the query\[7\] is NaN/);
    // 1e40 is a finite double but no float32.
    await expect(pool.search([1e40, ...new Array(99).fill(0)], c)).rejects.toThrow(/the query\[0\] is Infinity as a float32/);
    // A collection created with dimension 0 lost its document when reopened.
    await expect(pool.index({ id: 'z', text: 'x', vector: [] }, { collection: 'zero-dims' })).rejects.toThrow(/has dimension 0; a vector has 1 to 65536 numbers/);
    await expect(pool.count({ collection: 'zero-dims' })).rejects.toThrow(CollectionNotFoundError);
  });

  it('refuses ids and texts with a lone surrogate, which the UTF-8 files would turn into U+FFFD', async () => {
    await expect(pool.index({ id: 'a\ud800', text: 'fine text' }, c)).rejects.toThrow(/docs\[0\]\.id contains a lone UTF-16 surrogate/);
    await expect(pool.index({ id: 'v', text: 'bad \udc00', vector: new Float32Array(100).fill(0.1) }, c)).rejects.toThrow(/docs\[0\]\.text contains a lone UTF-16 surrogate/);
    await expect(pool.index(['fine', '   '], c)).rejects.toThrow(/docs\[1\] is empty or only whitespace/);
    await expect(pool.get('\ud800', c)).rejects.toThrow(/ids contains a lone UTF-16 surrogate/);
  });

  it('turns documents and options that throw when read into InvalidInputError', async () => {
    const boom = (): never => {
      throw new Error('boom');
    };
    await expect(pool.index([Object.defineProperty({ id: 'g' }, 'text', { get: boom, enumerable: true }) as never], c)).rejects.toThrow(/docs\[0\] could not be read: Error: boom/);
    await expect(pool.search('x', new Proxy({}, { get: boom }))).rejects.toThrow(/options\.collection could not be read/);
    await expect(pool.get(new Proxy(['a'], { get: (t, k) => (k === '0' ? boom() : Reflect.get(t, k)) }), c)).rejects.toThrow(/ids could not be read/);
    // instanceof asks a Proxy for its prototype.
    await expect(pool.search(new Proxy({}, { getPrototypeOf: boom }) as never, c)).rejects.toThrow(/the query could not be read: Error: boom/);
  });

  it('matches filter fields on the metadata itself, never on its prototype, and refuses NaN', async () => {
    const ids = async (filter: object) => (await pool.search('dog', { ...c, filter: filter as never })).map((h) => h.id);
    expect(await ids({ constructor: { $exists: true } })).toEqual([]);
    expect(await ids({ toString: { $exists: true } })).toEqual([]);
    expect(await ids({ 'tags.length': 2 })).toEqual([]);
    expect(await ids({ 'tags.1': 'b' })).toEqual(['plain']);
    expect(await ids({ topic: { $exists: true } })).toEqual(['plain']);
    await expect(pool.search('dog', { ...c, filter: { n: { $gt: NaN } } })).rejects.toThrow(/filter\.n\.\$gt has an invalid value NaN/);
  });
});

describe('#collections', () => {
  it('lists, creates (idempotently with the same settings), and drops', async () => {
    const api = pool.collections();
    const info = await api.create('managed', { metric: 'cosine', index: 'exact' });
    expect(info).toMatchObject({ name: 'managed', dims: 100, metric: 'cosine', index: 'exact', count: 0, hnswActive: false });
    await expect(api.create('managed', { metric: 'cosine', index: 'exact' })).resolves.toMatchObject({ name: 'managed' });
    await expect(api.create('managed', { metric: 'l2' })).rejects.toThrow(CollectionExistsError);
    await expect(api.create('bad', { metric: 'hamming' as never })).rejects.toThrow(/metric must be one of 'cosine', 'dot', 'l2'/);
    expect((await api.list()).map((c) => c.name)).toContain('managed');
    expect(await api.drop('managed')).toBe(true);
    expect(await api.drop('managed')).toBe(false);
    expect((await api.list()).map((c) => c.name)).not.toContain('managed');
    await expect(pool.count({ collection: 'managed' })).rejects.toThrow(CollectionNotFoundError);
  });

  it('counts documents, searches and deletions in the pool stats', async () => {
    const before = pool.stats();
    await pool.index([{ id: 's1', text: 'counted' }, { id: 's2', text: 'counted too' }], { collection: 'stats' });
    await pool.search('counted', { collection: 'stats' });
    await pool.delete('s1', { collection: 'stats' });
    const after = pool.stats();
    expect(after.docsIndexed - before.docsIndexed).toBe(2);
    expect(after.searches - before.searches).toBe(1);
    expect(after.docsDeleted - before.docsDeleted).toBe(1);
  });
});

describe('session collections (ttl)', () => {
  it('drops a collection unused for its ttl and counts it; use keeps it alive', async () => {
    const before = pool.stats().collectionsExpired;
    await pool.collections().create('session', { ttl: 0.4 });
    await pool.index({ id: 'x', text: 'short lived' }, { collection: 'session' });
    await pool.collections().create('kept', { ttl: 0.8 });
    await pool.index({ id: 'x', text: 'kept alive by reads' }, { collection: 'kept' });
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 150));
      await pool.search('alive', { collection: 'kept' });
    }
    const names = (await pool.collections().list()).map((c) => c.name);
    expect(names).not.toContain('session');
    expect(names).toContain('kept');
    expect(pool.stats().collectionsExpired - before).toBeGreaterThanOrEqual(1);
    await expect(pool.count({ collection: 'session' })).rejects.toThrow(CollectionNotFoundError);
  });
});

describe('#indexStream', () => {
  it('ingests with backpressure (at most two batches held) and reports progress', async () => {
    let pulled = 0;
    let maxAhead = 0;
    let acknowledged = 0;
    async function* source() {
      for (let i = 0; i < 1_000; i++) {
        pulled++;
        maxAhead = Math.max(maxAhead, pulled - acknowledged);
        yield { id: `s${i}`, text: `streamed passage ${i} about rivers and mountains` };
      }
    }
    const progress: number[] = [];
    const r = await pool.indexStream(source(), {
      collection: 'stream',
      batchSize: 100,
      onProgress: (p) => {
        acknowledged = p.indexed;
        progress.push(p.indexed);
      },
    });
    expect(r).toEqual({ count: 1_000, batches: 10 });
    expect(progress).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
    expect(maxAhead).toBeLessThanOrEqual(200);
    expect(await pool.count({ collection: 'stream' })).toBe(1_000);
  });
});

describe('concurrent callers', () => {
  it('loses no write and tears no read while many callers index and search at once', async () => {
    const c = { collection: 'concurrent' };
    const text = (w: number, b: number, i: number) => `writer ${w} batch ${b} item ${i} garden ocean`;
    let writing = true;
    const bad: string[] = [];
    const writers = Array.from({ length: 8 }, async (_, w) => {
      for (let b = 0; b < 10; b++) {
        await pool.index(Array.from({ length: 10 }, (_, i) => ({ id: `${w}-${b}-${i}`, text: text(w, b, i), metadata: { w, b, i } })), c);
      }
    });
    await pool.index({ id: 'seed', text: 'seed garden ocean' }, c);
    const readers = Array.from({ length: 4 }, async () => {
      while (writing) {
        for (const h of await pool.search('writer garden ocean', { ...c, k: 20 })) {
          if (h.id === 'seed') continue;
          const m = h.metadata as { w: number; b: number; i: number };
          if (h.id !== `${m.w}-${m.b}-${m.i}` || h.text !== text(m.w, m.b, m.i)) bad.push(h.id);
        }
      }
    });
    await Promise.all(writers);
    writing = false;
    await Promise.all(readers);
    expect(bad).toEqual([]);
    expect(await pool.count(c)).toBe(801);
    const ids = Array.from({ length: 800 }, (_, n) => `${Math.floor(n / 100)}-${Math.floor(n / 10) % 10}-${n % 10}`);
    const docs = await pool.get(ids, c);
    expect(docs.every((d, n) => d?.text === text(Math.floor(n / 100), Math.floor(n / 10) % 10, n % 10))).toBe(true);
  });
});

describe('HNSW recall', () => {
  it('finds >= 90% of the exact top 10 on 10,000 real embeddings (fixed seed)', async () => {
    const gen = textGenerator(7);
    const c = { collection: 'recall', create: { index: 'hnsw' as const } };
    await pool.indexStream(
      (function* () {
        for (let i = 0; i < 10_000; i++) yield { id: `r${i}`, text: gen.doc(i), metadata: { bucket: i % 20 } };
      })(),
      { ...c, batchSize: 2_000 },
    );
    expect((await pool.collections().info('recall')).hnswActive).toBe(true);
    let found = 0;
    const queries = 100;
    for (let q = 0; q < queries; q++) {
      const v = await pool.embed(gen.doc(10_000 + q));
      const exact = new Set((await pool.search(v, { collection: 'recall', k: 10, exact: true })).map((h) => h.id));
      const ann = await pool.search(v, { collection: 'recall', k: 10 });
      found += ann.filter((h) => exact.has(h.id)).length;
    }
    expect(found / (queries * 10)).toBeGreaterThanOrEqual(0.9);
  });

  it('applies a filter on the graph path, with the scan as the fallback for selective filters', async () => {
    const gen = textGenerator(7);
    let found = 0;
    for (let q = 0; q < 20; q++) {
      const v = await pool.embed(gen.doc(20_000 + q));
      const filter = { bucket: q % 20 };
      const exact = (await pool.search(v, { collection: 'recall', k: 10, filter, exact: true })).map((h) => h.id);
      const ann = await pool.search(v, { collection: 'recall', k: 10, filter });
      expect(ann).toHaveLength(10);
      expect(ann.every((h) => (h.metadata as { bucket: number }).bucket === q % 20)).toBe(true);
      found += ann.filter((h) => exact.includes(h.id)).length;
    }
    expect(found / 200).toBeGreaterThanOrEqual(0.9);
    const rare = await pool.search(await pool.embed(gen.doc(1)), { collection: 'recall', k: 5, filter: { bucket: { $in: [3] }, missing: { $exists: false } } });
    expect(rare).toHaveLength(5);
  });
});

describe('module-level index() and search()', () => {
  it('use the default pool and its store path', async () => {
    const own = tempStore();
    process.env.WARMPOOL_STORE_PATH = own.dir;
    process.env.WARMPOOL_THREADS = '1';
    try {
      await index([{ id: 'm', text: 'module level indexing of a guitar song' }], { collection: 'module' });
      const hits = await search('a song on the guitar', { collection: 'module', k: 1 });
      expect(hits[0]!.id).toBe('m');
    } finally {
      await closeDefaultPool();
      delete process.env.WARMPOOL_STORE_PATH;
      delete process.env.WARMPOOL_THREADS;
      own.cleanup();
    }
  });
});

describe('ingest helpers', () => {
  it('chunks paragraphs into passages of at most maxWords', () => {
    const text = `# Title\n\nFirst paragraph here.\n\nSecond one.\n\n${'word '.repeat(50)}end.`;
    const parts = chunkText(text, { maxWords: 20 });
    expect(parts[0]).toBe('Title First paragraph here. Second one.');
    for (const p of parts) expect(p.split(' ').length).toBeLessThanOrEqual(20);
    expect(parts.join(' ').split(' ').filter((w) => w === 'word')).toHaveLength(50);
  });

  it('reads every .txt and .md passage of a folder with stable ids', async () => {
    const docs = [];
    for await (const d of readCorpus(new URL('../samples/', import.meta.url).pathname)) docs.push(d);
    expect(docs.length).toBeGreaterThan(15);
    expect(new Set(docs.map((d) => d.id)).size).toBe(docs.length);
    expect(docs[0]!.id).toMatch(/#0$/);
  });
});

describe('after close', () => {
  it('rejects collection calls with PoolClosedError', async () => {
    const own = tempStore();
    const p = createPool({ threads: 1, storePath: own.dir, env: false });
    await p.index({ id: 'a', text: 'x y z' });
    await p.close();
    await expect(p.search('x')).rejects.toThrow(PoolClosedError);
    own.cleanup();
  });
});
