import { cpSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MODELS_DIR, ModelLoadError, createPool, maxAbsDiff, sentence } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'warmpool-model-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('model loading', () => {
  it('rejects ready() with ModelLoadError naming a missing folder, before any call', async () => {
    const missing = join(tmp, 'no-such-model');
    const pool = createPool({ model: missing });
    const error = await pool.ready().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as ModelLoadError).code).toBe('ERR_WARMPOOL_MODEL_LOAD');
    expect((error as Error).message).toContain(missing);
    expect(pool.state).toBe('failed');
    await expect(pool.embed('x')).rejects.toBeInstanceOf(ModelLoadError);
    await pool.close();
  });

  it('rejects ready() with ModelLoadError naming a corrupt model file and the cause', async () => {
    const corrupt = join(tmp, 'corrupt');
    cpSync(join(MODELS_DIR, 'glove-100d'), corrupt, { recursive: true });
    truncateSync(join(corrupt, 'onnx', 'model.onnx'), 1000);
    const pool = createPool({ model: corrupt, threads: 2 });
    const error = await pool.ready().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toContain(corrupt);
    expect((error as Error).message.length).toBeGreaterThan(corrupt.length + 40); // carries the cause
    await pool.close();
  });

  it('rejects a corrupt tokenizer the same way', async () => {
    const bad = join(tmp, 'bad-tokenizer');
    cpSync(join(MODELS_DIR, 'glove-100d'), bad, { recursive: true });
    writeFileSync(join(bad, 'tokenizer.json'), '{ not json');
    const pool = createPool({ model: bad, threads: 1 });
    await expect(pool.ready()).rejects.toThrow(ModelLoadError);
    await pool.close();
  });

  it('refuses a hub id without allowRemoteModels, saying how to allow it', async () => {
    const pool = createPool({ model: 'Xenova/all-MiniLM-L6-v2' });
    const error = await pool.ready().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toMatch(/remote models are disabled; set allowRemoteModels: true/);
    await pool.close();
  });

  it('loads a model from any folder path', async () => {
    const copy = join(tmp, 'copy-of-glove');
    cpSync(join(MODELS_DIR, 'glove-100d'), copy, { recursive: true });
    const a = createPool({ model: copy, threads: 1 });
    const b = createPool({ threads: 1 });
    const [va, vb] = await Promise.all([a.embed('the same model'), b.embed('the same model')]);
    expect(a.model!.model).toBe(copy);
    expect(maxAbsDiff(va, vb)).toBe(0);
    await Promise.all([a.close(), b.close()]);
  });

  it('loads the model in four workers at the same moment, with identical results', async () => {
    for (let round = 0; round < 3; round++) {
      const pool = createPool({ threads: 4, intraOpThreads: 1 });
      await pool.ready();
      const texts = Array.from({ length: 40 }, (_, i) => sentence(i));
      const results = await Promise.all(texts.map((t) => pool.embed(t)));
      const again = await pool.embed(texts);
      for (let i = 0; i < texts.length; i++) expect(maxAbsDiff(results[i]!, again[i]!)).toBe(0);
      const s = pool.stats();
      expect(s.modelLoads).toBe(4);
      expect(new Set(s.workers.map((w) => w.threadId)).size).toBe(4);
      await pool.close();
    }
  });
});

describe('the benchmark-shaped BERT model (minilm-shape)', () => {
  it('loads through the same path and gives 384-d vectors at a 6-layer model\'s cost', async () => {
    const pool = createPool({ model: 'minilm-shape', threads: 1, intraOpThreads: 1, cacheBytes: 0 });
    await pool.ready();
    expect(pool.model).toMatchObject({ dims: 384, maxTokens: 512 });
    const v = await pool.embed('a short text to embed');
    expect(v).toHaveLength(384);
    expect(Array.from(v).every(Number.isFinite)).toBe(true);
    // Time a batch of 32 short texts, best of three, on one intra-op thread. A Gather-only graph
    // would take well under 0.1 ms a text; all-MiniLM-L6-v2 takes a few ms a text on one core.
    const texts = Array.from({ length: 32 }, (_, i) => sentence(i, 10));
    let best = Infinity;
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      await pool.embed(texts);
      best = Math.min(best, performance.now() - t0);
    }
    const perText = best / texts.length;
    expect(perText).toBeGreaterThan(0.5);
    expect(perText).toBeLessThan(60);
    await pool.close();
  });
});
