/**
 * Hybrid search: every collection keeps a BM25 keyword index over its texts, derived from the
 * stored texts (so as durable as they are), and search fuses it with the vectors by default.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError, createPool, type WarmPool } from './helpers.js';
import { KeywordIndex, terms, tokenize } from '../dist/src/collections/keyword-index.js';
import { fuse } from '../dist/src/collections/hybrid.js';

describe('tokenize', () => {
  it('splits on Unicode word boundaries, folds case and width, and splits CJK by character', () => {
    expect(tokenize('The zlib module: compress()s DATA, 2x faster!')).toEqual(['the', 'zlib', 'module', 'compress', 's', 'data', '2x', 'faster']);
    expect(tokenize('Ｆｕｌｌ-width Café naïve')).toEqual(['full', 'width', 'café', 'naïve']);
    expect(tokenize('東京タワー is tall')).toEqual(['東', '京', 'タ', 'ワ', 'ー', 'is', 'tall']);
    expect(tokenize('  ...  ')).toEqual([]);
  });

  it('counts terms without English stop words, Latin words stemmed', () => {
    expect(terms('The module compresses the data, and compression is fast')).toEqual(['modul', 'compress', 'data', 'compress', 'fast']);
    expect(terms('東京 is Tokyo')).toEqual(['東', '京', 'tokyo']);
  });
});

describe('KeywordIndex (Okapi BM25)', () => {
  it('ranks by rare shared terms, forgets removed documents, and re-indexes a replaced one', () => {
    const kw = new KeywordIndex();
    kw.put(0, 'the cat sat on the mat');
    kw.put(1, 'the dog chased the cat around the garden');
    kw.put(2, 'zlib compresses data');
    expect(kw.search('zlib', 10).map((h) => h.slot)).toEqual([2]);
    expect(kw.search('cat mat', 10).map((h) => h.slot)).toEqual([0, 1]);
    expect(kw.search('unknown words', 10)).toEqual([]);
    kw.remove(0);
    expect(kw.search('cat mat', 10).map((h) => h.slot)).toEqual([1]);
    kw.put(1, 'nothing about pets');
    expect(kw.search('cat', 10)).toEqual([]);
    expect(kw.size).toBe(2);
    // A filter applies before k.
    expect(kw.search('data pets', 1, (slot) => slot === 1).map((h) => h.slot)).toEqual([1]);
  });

  it('fuses two rankings by min-max normalised scores weighted by the dense side', () => {
    const dense = [{ slot: 1, score: 0.9 }, { slot: 2, score: 0.5 }, { slot: 3, score: 0.1 }];
    const keyword = [{ slot: 3, score: 12 }, { slot: 4, score: 2 }];
    expect(fuse(dense, keyword, { denseWeight: 1 }, false).map((h) => h.slot).slice(0, 3)).toEqual([1, 2, 3]);
    expect(fuse(dense, keyword, { denseWeight: 0 }, false)[0]!.slot).toBe(3);
    const half = fuse(dense, keyword, { denseWeight: 0.5 }, false);
    expect(half.map((h) => h.slot)).toEqual([1, 3, 2, 4]);
    expect(half[0]!.score).toBeCloseTo(0.5, 6);
  });
});

describe('search modes through the pool', () => {
  let store: string;
  let pool: WarmPool;
  const c = { collection: 'docs' };
  const docs = [
    { id: 'zlib', text: 'The zlib module compresses and decompresses data with the DEFLATE algorithm.', metadata: { lib: 'std' } },
    { id: 'sort', text: 'To sort a list in place, call its sort method; sorted() returns a new sorted list.', metadata: { lib: 'std' } },
    { id: 'rain', text: 'Heavy rain and strong winds are expected across the coast tonight.', metadata: { lib: 'news' } },
    { id: 'guitar', text: 'A man is playing a guitar on stage.', metadata: { lib: 'news' } },
  ];
  beforeAll(async () => {
    store = mkdtempSync(join(tmpdir(), 'warmpool-hybrid-'));
    pool = createPool({ threads: 1, storePath: store, preallocate: false, models: { rerank: { task: 'rerank', model: 'glove-rerank', threads: 1 } } });
    await pool.index(docs, c);
  });
  afterAll(async () => {
    await pool.close();
    rmSync(store, { recursive: true, force: true });
  });

  it('keyword finds a rare exact term; hybrid (the default) keeps it first; dense scores are cosines', async () => {
    const keyword = await pool.search('DEFLATE', { ...c, mode: 'keyword' });
    expect(keyword.map((h) => h.id)).toEqual(['zlib']);
    expect(keyword[0]!.score).toBeGreaterThan(0);
    const hybrid = await pool.search('DEFLATE compression', c);
    expect(hybrid[0]!.id).toBe('zlib');
    expect(hybrid[0]!.score).toBeLessThanOrEqual(1);
    const dense = await pool.search('Someone plays an instrument.', { ...c, mode: 'dense', k: 1 });
    expect(dense[0]!.id).toBe('guitar');
    expect(dense[0]!.score).toBeLessThan(1);
  });

  it('keeps filters and k in every mode; a vector query searches dense', async () => {
    for (const mode of ['hybrid', 'dense', 'keyword'] as const) {
      const hits = await pool.search('sort list data rain', { ...c, mode, k: 10, filter: { lib: 'news' } });
      expect(hits.every((h) => (h.metadata as { lib: string }).lib === 'news'), mode).toBe(true);
      expect((await pool.search('sort list data rain', { ...c, mode, k: 1 })).length).toBeLessThanOrEqual(1);
    }
    const q = await pool.embed('A man is playing a guitar on stage.');
    expect((await pool.search(q, { ...c, k: 1 }))[0]!.id).toBe('guitar');
    await expect(pool.search(q, { ...c, mode: 'keyword' })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(pool.search('x', { ...c, mode: 'fuzzy' as never })).rejects.toThrow(/mode must be one of 'hybrid', 'dense', 'keyword'/);
    await expect(pool.search('x', { ...c, hybrid: { denseWeight: 2 } })).rejects.toThrow(/denseWeight must be a number from 0 to 1/);
  });

  it('follows upserts and deletes, and is rebuilt from the stored texts when the store is reopened', async () => {
    await pool.index([{ id: 'rain', text: 'The zeppelin drifted over the harbour.' }], c);
    expect((await pool.search('zeppelin', { ...c, mode: 'keyword' })).map((h) => h.id)).toEqual(['rain']);
    expect(await pool.search('winds coast', { ...c, mode: 'keyword' })).toEqual([]);
    await pool.delete('rain', c);
    expect(await pool.search('zeppelin', { ...c, mode: 'keyword' })).toEqual([]);
    await pool.index([{ id: 'zep', text: 'A zeppelin is a rigid airship.' }], c);
    await pool.close();
    pool = createPool({ threads: 1, storePath: store, preallocate: false, models: { rerank: { task: 'rerank', model: 'glove-rerank', threads: 1 } } });
    expect((await pool.search('zeppelin', { ...c, mode: 'keyword' })).map((h) => h.id)).toEqual(['zep']);
    expect((await pool.search('DEFLATE', { ...c, mode: 'keyword' })).map((h) => h.id)).toEqual(['zlib']);
  });

  it('a rerank stage re-scores the candidates with the pool\'s reranker', async () => {
    const plain = await pool.search('how do I sort a list?', { ...c, k: 2 });
    const reranked = await pool.search('how do I sort a list?', { ...c, k: 2, rerank: true });
    expect(reranked[0]!.id).toBe('sort');
    expect(reranked[0]!.score).toBeGreaterThan(0);
    expect(reranked[0]!.score).toBeLessThan(1);
    const direct = await pool.rerank('how do I sort a list?', [reranked[0]!.text!]);
    expect(reranked[0]!.score).toBeCloseTo(direct[0]!.score, 6);
    expect(plain.length).toBe(2);
    await expect(pool.search('q', { ...c, rerank: { model: 'nope' } })).rejects.toThrow(/no model named "nope"/);
  });
});
