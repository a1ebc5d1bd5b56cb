/**
 * Rerank and classify models in a pool: loaded the way a hub cross-encoder or sequence classifier
 * loads (AutoTokenizer + AutoModelForSequenceClassification), answering what that model answers
 * when run directly, batched by the same coalescing as embeddings, and refusing bad input and
 * models that cannot do their task.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError, MODELS_DIR, ModelLoadError, createPool, maxAbsDiff, referenceClassifier, sentence, topicsClassifier, type WarmPool } from './helpers.js';

const DOCS = [
  'The cat sat on the mat and purred.',
  'Stock markets fell sharply on Monday after the bank raised interest rates.',
  'To sort a list in place, call its sort method; sorted() returns a new sorted list.',
  'Heavy rain and strong winds are expected across the coast tonight.',
  'The violinist tuned her instrument before the concert began.',
];

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

describe('rerank with the bundled glove-rerank', () => {
  let pool: WarmPool;
  beforeAll(async () => {
    pool = createPool({ threads: 1, preallocate: false, models: { rerank: { task: 'rerank', model: 'glove-rerank' } } });
    await pool.ready();
  });
  afterAll(() => pool.close());

  it('puts the document that answers the query first, best first, scores in (0, 1)', async () => {
    for (const [query, best] of [
      ['how do I sort a list?', 2],
      ['will it rain tonight?', 3],
      ['why did share prices drop?', 1],
      ['music performance with a string instrument', 4],
    ] as const) {
      const results = await pool.rerank(query, DOCS);
      expect(results.map((r) => r.index).sort()).toEqual([0, 1, 2, 3, 4]);
      expect(results[0]!.index, query).toBe(best);
      for (let i = 1; i < results.length; i++) expect(results[i - 1]!.score).toBeGreaterThanOrEqual(results[i]!.score);
      for (const r of results) expect(r.score > 0 && r.score < 1).toBe(true);
    }
  });

  it('answers the logits that transformers.js gives for the same pairs, run directly', async () => {
    const reference = await referenceClassifier('glove-rerank');
    try {
      const query = 'how do I sort a list?';
      const expected = await reference.logits(DOCS.map(() => query), DOCS);
      const raw = await pool.rerank(query, DOCS, { rawScores: true });
      for (const r of raw) expect(Math.abs(r.score - expected[r.index]![0]!)).toBeLessThan(1e-5);
      const scored = await pool.rerank(query, DOCS);
      for (const r of scored) expect(Math.abs(r.score - sigmoid(expected[r.index]![0]!))).toBeLessThan(1e-6);
    } finally {
      await reference.dispose();
    }
  });

  it('topN, returnDocuments, and [] for no documents', async () => {
    const top = await pool.rerank('how do I sort a list?', DOCS, { topN: 2, returnDocuments: true });
    expect(top).toHaveLength(2);
    expect(top[0]).toEqual({ index: 2, score: expect.any(Number), document: DOCS[2] });
    expect(await pool.rerank('anything', [])).toEqual([]);
    expect(await pool.rerank('anything', DOCS, { topN: 50 })).toHaveLength(5);
  });

  it('concurrent calls share model runs; each gets its own ranking', async () => {
    const before = pool.stats().models!.rerank!;
    const queries = ['how do I sort a list?', 'will it rain tonight?', 'why did share prices drop?', 'music performance with a string instrument'];
    const answers = await Promise.all(queries.map((q) => pool.rerank(q, DOCS)));
    const after = pool.stats().models!.rerank!;
    expect(answers.map((a) => a[0]!.index)).toEqual([2, 3, 1, 4]);
    expect(after.completed - before.completed).toBe(4);
    // Made in the same tick, the four calls coalesce into fewer tasks than calls.
    expect(after.tasks - before.tasks).toBeLessThan(4);
  });

  it('refuses bad input with InvalidInputError, never reaching the model', async () => {
    const before = pool.stats().models!.rerank!.tasks;
    const bad: [unknown, unknown, unknown, RegExp][] = [
      ['', DOCS, undefined, /query is empty/],
      [42, DOCS, undefined, /query must be a string/],
      ['q', 'not an array', undefined, /documents must be an array/],
      ['q', ['fine', 7], undefined, /documents\[1\] must be a string/],
      ['q', ['fine', '   '], undefined, /documents\[1\] is empty/],
      ['q', ['fine', [1, 2]], undefined, /documents\[1\]/],
      ['q', DOCS, { topN: 0 }, /topN must be a positive integer/],
      ['q', DOCS, { top_n: 2 }, /unknown key "top_n"/],
      ['q', DOCS, { rawScores: 'yes' }, /rawScores must be a boolean/],
      ['q', DOCS, { model: 3 }, /model must be the name/],
    ];
    for (const [query, docs, options, message] of bad) {
      await expect(pool.rerank(query as string, docs as string[], options as never)).rejects.toThrow(message);
      await expect(pool.rerank(query as string, docs as string[], options as never)).rejects.toBeInstanceOf(InvalidInputError);
    }
    expect(pool.stats().models!.rerank!.tasks).toBe(before);
  });

  it('with truncate: false, a pair over the limit fails its own call; a call beside it is answered', async () => {
    const long = 'word '.repeat(600);
    const [tooLong, fine] = await Promise.allSettled([pool.rerank('q', ['short', long], { truncate: false }), pool.rerank('how do I sort a list?', DOCS)]);
    expect(tooLong.status).toBe('rejected');
    expect((tooLong as PromiseRejectedResult).reason).toBeInstanceOf(InvalidInputError);
    expect(String((tooLong as PromiseRejectedResult).reason.message)).toMatch(/documents\[1\] has \d+ tokens; the model takes at most 512/);
    expect(fine.status === 'fulfilled' && fine.value[0]!.index).toBe(2);
    // Truncated by default: the long document is scored, not refused.
    expect(await pool.rerank('q', ['short', long])).toHaveLength(2);
  });

  it('reports the model as a rerank model with its label', () => {
    const info = pool.models.find((m) => m.name === 'rerank')!.info!;
    expect(info.task).toBe('rerank');
    expect(info.labels).toEqual(['LABEL_0']);
    expect(info.maxTokens).toBe(512);
  });
});

describe('one model of several is reloaded on its own', () => {
  it('rolls the reranker to a new folder; the embedder keeps its workers, and both serve throughout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warmpool-reload-rerank-'));
    const copy = join(dir, 'glove-rerank-copy');
    cpSync(join(MODELS_DIR, 'glove-rerank'), copy, { recursive: true });
    const pool = createPool({ threads: 2, preallocate: false, models: { rerank: { task: 'rerank', model: 'glove-rerank', threads: 1 } } });
    try {
      await pool.ready();
      const embedThreads = pool.health().models!.default!.workers.map((w) => w.threadId);
      const before = await pool.rerank('how do I sort a list?', DOCS);
      let calls = 0;
      let serving = true;
      const load = (async () => {
        while (serving) {
          await Promise.all([pool.rerank('will it rain tonight?', DOCS), pool.embed('a text while reloading')]);
          calls++;
        }
      })();
      await pool.reload({ model: copy }, 'rerank');
      serving = false;
      await load;
      expect(calls).toBeGreaterThan(0);
      expect(pool.models.find((m) => m.name === 'rerank')!.info!.model).toBe(copy);
      expect(await pool.rerank('how do I sort a list?', DOCS)).toEqual(before);
      expect(pool.health().models!.default!.workers.map((w) => w.threadId)).toEqual(embedThreads);
      expect(pool.stats().models!.rerank!.reloads).toBe(1);
      expect(pool.stats().models!.default!.reloads).toBe(0);
    } finally {
      await pool.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a MiniLM-sized cross-encoder (minilm-cross-shape, random weights)', () => {
  it('batches 100 pairs of every length within maxBatchTokens and answers what each pair alone gives', async () => {
    const pool = createPool({ threads: 1, preallocate: false, maxBatchTokens: 2048, models: { cross: { task: 'rerank', model: 'minilm-cross-shape' } } });
    const reference = await referenceClassifier('minilm-cross-shape');
    try {
      await pool.ready();
      const docs = Array.from({ length: 100 }, (_, i) => sentence(i, 3 + ((i * 37) % 90)));
      const query = 'river market guitar doctor';
      const raw = await pool.rerank(query, docs, { rawScores: true });
      expect(raw).toHaveLength(100);
      // Each pair alone (no padding) through transformers.js: padding and batching must not change a logit.
      for (const i of [0, 13, 57, 99]) {
        const [alone] = await reference.logits([query], [docs[i]!]);
        const mine = raw.find((r) => r.index === i)!.score;
        expect(Math.abs(mine - alone![0]!), `document ${i}`).toBeLessThan(1e-4);
      }
    } finally {
      await reference.dispose();
      await pool.close();
    }
  });
});

describe('classify', () => {
  let dir: string;
  let pool: WarmPool;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'warmpool-classify-'));
    const folder = topicsClassifier(dir);
    pool = createPool({
      threads: 1,
      preallocate: false,
      models: {
        topics: { task: 'classify', model: folder },
        tags: { task: 'classify', model: 'minilm-classify-shape' },
      },
    });
    await pool.ready();
  });
  afterAll(async () => {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers every label of the id2label, best first, as probabilities that sum to one', async () => {
    const labels = await pool.classify('the orchestra played all night', { model: 'topics' });
    expect(labels.map((l) => l.label).sort()).toEqual(['music', 'sport', 'weather']);
    for (let i = 1; i < labels.length; i++) expect(labels[i - 1]!.score).toBeGreaterThanOrEqual(labels[i]!.score);
    expect(labels.reduce((s, l) => s + l.score, 0)).toBeCloseTo(1, 5);
    expect(pool.models.find((m) => m.name === 'topics')!.info!.labels).toEqual(['sport', 'music', 'weather']);
  });

  it('an array gives one list per text; topK and rawScores; the logits are the model run directly', async () => {
    const texts = ['goal in the last minute', 'a storm is coming'];
    const both = await pool.classify(texts, { model: 'topics', topK: 1 });
    expect(both).toHaveLength(2);
    expect(both.every((l) => l.length === 1)).toBe(true);
    const raw = await pool.classify(texts, { model: 'topics', rawScores: true });
    const reference = await referenceClassifier('minilm-classify-shape');
    try {
      const expected = await reference.logits(texts);
      const order = ['sport', 'music', 'weather'];
      for (let t = 0; t < texts.length; t++) {
        const mine = order.map((label) => raw[t]!.find((l) => l.label === label)!.score);
        expect(maxAbsDiff(mine, expected[t]!)).toBeLessThan(1e-4);
      }
    } finally {
      await reference.dispose();
    }
  });

  it('multi-label models (problem_type multi_label_classification) score each label on its own', async () => {
    const labels = await pool.classify('anything at all', { model: 'tags' });
    expect(labels).toHaveLength(3);
    expect(pool.models.find((m) => m.name === 'tags')!.info!.multiLabel).toBe(true);
    const raw = await pool.classify('anything at all', { model: 'tags', rawScores: true });
    for (const l of labels) expect(l.score).toBeCloseTo(sigmoid(raw.find((r) => r.label === l.label)!.score), 6);
  });

  it('refuses bad texts and options with InvalidInputError', async () => {
    await expect(pool.classify('', { model: 'topics' })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(pool.classify(['ok', 3] as never, { model: 'topics' })).rejects.toThrow(/input\[1\] must be a string/);
    await expect(pool.classify('ok', { model: 'topics', topK: -1 })).rejects.toThrow(/topK/);
    await expect(pool.classify('ok', { model: 'topics', top_k: 1 } as never)).rejects.toThrow(/unknown key/);
    expect(await pool.classify([], { model: 'topics' })).toEqual([]);
  });
});

describe('a model that cannot do its task fails at start with a ModelLoadError naming it and why', () => {
  it.each([
    ['rerank', 'glove-100d', /glove-100d cannot rerank: its config.json has no id2label/],
    ['classify', 'glove-100d', /glove-100d cannot classify/],
    ['rerank', 'minilm-classify-shape', /cannot rerank: a reranker .* has 3 labels .* load it as a classify model/],
  ] as const)('%s on %s', async (task, model, message) => {
    const pool = createPool({ threads: 1, preallocate: false, models: { m: { task, model } } });
    try {
      const error = await pool.ready().then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(ModelLoadError);
      expect((error as Error).message).toMatch(message);
      expect(pool.models.find((m) => m.name === 'm')!.state).toBe('failed');
      // Its calls are told why, at once; the pool's embedder still serves.
      const call = task === 'rerank' ? pool.rerank('q', ['d'], { model: 'm' }) : pool.classify('q', { model: 'm' });
      await expect(call).rejects.toBeInstanceOf(ModelLoadError);
      expect((await pool.embed('still here')).length).toBe(100);
    } finally {
      await pool.close();
    }
  });
});
