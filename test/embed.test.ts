import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { MODELS_DIR, cosine, createPool, maxAbsDiff, norm, referencePipeline, sentence, type WarmPool } from './helpers.js';

interface Triple {
  anchor: string;
  positive: string;
  negative: string;
}

describe('#embed on the default model', () => {
  let pool: WarmPool;
  let reference: Awaited<ReturnType<typeof referencePipeline>>;

  beforeAll(async () => {
    pool = createPool({ threads: 2 });
    [reference] = await Promise.all([referencePipeline('glove-100d'), pool.ready()]);
  });
  afterAll(async () => {
    await pool.close();
    await reference.dispose();
  });

  it('gives 100-d unit vectors equal to transformers.js run directly', async () => {
    const texts = ['A man is playing a guitar.', 'The stock market fell sharply today.', 'héllo Wörld, naïve café!', sentence(7, 40)];
    const [ours, theirs] = await Promise.all([pool.embed(texts), reference.embed(texts)]);
    expect(ours).toHaveLength(texts.length);
    for (let i = 0; i < texts.length; i++) {
      expect(ours[i]).toBeInstanceOf(Float32Array);
      expect(ours[i]).toHaveLength(100);
      expect(norm(ours[i]!)).toBeCloseTo(1, 5);
      expect(maxAbsDiff(ours[i]!, theirs[i]!)).toBeLessThan(1e-5);
    }
    expect(pool.model).toMatchObject({ dims: 100, maxTokens: 512, dtype: 'fp32' });
  });

  it('returns one vector for a string and an array for an array', async () => {
    const one = await pool.embed('hello world');
    const many = await pool.embed(['hello world']);
    expectTypeOf(one).toEqualTypeOf<Float32Array>();
    expectTypeOf(many).toEqualTypeOf<Float32Array[]>();
    expect(one).toBeInstanceOf(Float32Array);
    expect(Array.isArray(many)).toBe(true);
    expect(maxAbsDiff(one, many[0]!)).toBe(0);
  });

  it('keeps raw mean-pooled vectors with normalize: false', async () => {
    const text = 'The chef cooked pasta with fresh tomatoes.';
    const [raw, ref] = await Promise.all([pool.embed(text, { normalize: false }), reference.embed([text], false)]);
    expect(norm(raw)).not.toBeCloseTo(1, 2);
    expect(maxAbsDiff(raw, ref[0]!)).toBeLessThan(1e-5);
  });

  it('offers the packed form, all vectors in one transferred buffer', async () => {
    const packed = await pool.embedPacked(['one', 'two', 'three']);
    expect(packed.dims).toEqual([3, 100]);
    expect(packed.data).toHaveLength(300);
    // The buffer came across whole (transferred), not as a slice of something bigger.
    expect(packed.data.buffer.byteLength).toBe(300 * 4);
    const vectors = await pool.embed(['one', 'two', 'three']);
    expect(vectors[1]!.buffer).toBe(vectors[0]!.buffer);
    expect(maxAbsDiff(packed.data.subarray(100, 200), vectors[1]!)).toBe(0);
  });

  it('ranks every semantic triple the right way round', async () => {
    const triples = JSON.parse(readFileSync(`${MODELS_DIR}glove-100d/triples.json`, 'utf8')) as Triple[];
    triples.unshift({
      anchor: 'A man is playing a guitar.',
      positive: 'Someone plays an instrument.',
      negative: 'The stock market fell sharply today.',
    });
    expect(triples.length).toBeGreaterThanOrEqual(11);
    const failures: string[] = [];
    for (const t of triples) {
      const [a, p, n] = await pool.embed([t.anchor, t.positive, t.negative]);
      const pos = cosine(a!, p!);
      const neg = cosine(a!, n!);
      if (!(pos > neg)) failures.push(`${t.anchor} | ${t.positive} (${pos.toFixed(3)}) vs ${t.negative} (${neg.toFixed(3)})`);
    }
    expect(failures).toEqual([]);
  });

  it('answers 1,000 concurrent calls, each with its own vector', async () => {
    const texts = Array.from({ length: 1000 }, (_, i) => sentence(i));
    const expected = await reference.embed(texts);
    const before = pool.stats();
    const results = await Promise.all(texts.map((t) => pool.embed(t)));
    for (let i = 0; i < texts.length; i++) expect(maxAbsDiff(results[i]!, expected[i]!)).toBeLessThan(1e-5);
    const after = pool.stats();
    expect(after.completed - before.completed).toBe(1000);
    expect(after.errors).toBe(before.errors);
    // Both workers shared the work.
    expect(after.workers.filter((w) => w.state === 'ready' && w.tasks > 0)).toHaveLength(2);
  });

  it('embeds a large batch in one call, in input order', async () => {
    const texts = Array.from({ length: 300 }, (_, i) => sentence(i, 1 + (i % 37)));
    const [ours, theirs] = await Promise.all([pool.embed(texts), reference.embed(texts)]);
    for (let i = 0; i < texts.length; i++) expect(maxAbsDiff(ours[i]!, theirs[i]!)).toBeLessThan(1e-5);
  });

  it('truncates a huge text exactly as transformers.js does with the whole text', async () => {
    const huge = Array.from({ length: 3000 }, (_, i) => sentence(i, 10)).join('. ');
    expect(huge.length).toBeGreaterThan(100_000);
    const [ours, theirs] = await Promise.all([pool.embed(huge), reference.embed([huge])]);
    expect(maxAbsDiff(ours, theirs[0]!)).toBeLessThan(1e-5);
  });

  it('truncates a huge text that ends in one giant word exactly as transformers.js does', async () => {
    // Over a thousand tokens of sentences, then 200,000 characters without a space: the text is
    // cut inside that word, not at a space.
    const head = Array.from({ length: 80 }, (_, i) => sentence(i, 10)).join('. ');
    expect(head.length).toBeLessThan(6000);
    const huge = `${head} ${'x'.repeat(200_000)}`;
    const [ours, theirs] = await Promise.all([pool.embed(huge), reference.embed([huge])]);
    expect(maxAbsDiff(ours, theirs[0]!)).toBeLessThan(1e-5);
    expect(Array.from(ours).some((x) => x !== 0)).toBe(true);
  });

  it('gives a zero vector, not NaN, for a text with no known word', async () => {
    const v = await pool.embed('qqqzzzx vvvkkkw');
    expect(Array.from(v).every((x) => x === 0)).toBe(true);
  });

  it('supports cls pooling', async () => {
    // The default model maps [CLS] to the zero vector, so cls pooling yields zeros (not NaN).
    const v = await pool.embed('hello world', { pooling: 'cls' });
    expect(v).toHaveLength(100);
    expect(Array.from(v).every((x) => x === 0)).toBe(true);
  });
});
