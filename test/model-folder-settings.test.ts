/**
 * A sentence-transformers model folder's own settings: its pooling (`1_Pooling/config.json`) is
 * the default of calls that name none, and its prompts (`config_sentence_transformers.json`) are
 * named by `prompt`, applied by default (`default_prompt_name`) and by search() and index().
 * Each folder is a copy of the bundled minilm-shape (its ONNX folder linked, not copied) with
 * these files added, and its vectors must be exactly those of the plain model with the
 * equivalent explicit options.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError, MODELS_DIR, ModelLoadError, createPool, type WarmPool } from './helpers.js';
import { getJson, postJson, startServer } from './server-helpers.js';

const TEXTS = ['A man is playing a guitar.', 'Someone plays an instrument in the evening.', 'stocks fell'];
const PROMPTS = { query: 'query: ', passage: 'passage: ' };
const SOURCE = join(MODELS_DIR, 'minilm-shape');

let dir: string;

/** A copy of minilm-shape named `name` with the given sentence-transformers files. */
function folder(name: string, pooling: Record<string, boolean> | undefined, st: Record<string, unknown> | undefined): string {
  const path = join(dir, name);
  mkdirSync(path);
  for (const file of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(SOURCE, file), join(path, file));
  symlinkSync(join(SOURCE, 'onnx'), join(path, 'onnx'));
  if (pooling) {
    mkdirSync(join(path, '1_Pooling'));
    writeFileSync(join(path, '1_Pooling', 'config.json'), JSON.stringify({ word_embedding_dimension: 384, ...pooling }));
  }
  if (st) writeFileSync(join(path, 'config_sentence_transformers.json'), JSON.stringify(st));
  return path;
}

const modes = (on: string) =>
  Object.fromEntries(['pooling_mode_cls_token', 'pooling_mode_mean_tokens', 'pooling_mode_max_tokens', 'pooling_mode_mean_sqrt_len_tokens', 'pooling_mode_lasttoken'].map((k) => [k, k === on]));

let plain: WarmPool;
let cls: WarmPool;
let last: WarmPool;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warmpool-st-'));
  const common = { threads: 1, env: false, cacheBytes: 0 } as const;
  plain = createPool({ ...common, model: 'minilm-shape' });
  cls = createPool({ ...common, model: folder('cls-prompts', modes('pooling_mode_cls_token'), { prompts: PROMPTS }), storePath: join(dir, 'store') });
  last = createPool({ ...common, model: folder('last-default', modes('pooling_mode_lasttoken'), { prompts: PROMPTS, default_prompt_name: 'query' }) });
  await Promise.all([plain.ready(), cls.ready(), last.ready()]);
});

afterAll(async () => {
  await Promise.all([plain?.close(), cls?.close(), last?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('pooling from 1_Pooling/config.json', () => {
  it('shows in pool.model, with the prompts read', () => {
    expect(plain.model).toMatchObject({ pooling: 'mean', prompts: {}, defaultPrompt: undefined });
    expect(cls.model).toMatchObject({ dims: 384, pooling: 'cls', prompts: PROMPTS, defaultPrompt: undefined });
    expect(last.model).toMatchObject({ pooling: 'lasttoken', prompts: PROMPTS, defaultPrompt: 'query' });
  });

  it('is the pooling of calls that name none, exactly as the explicit option', async () => {
    const want = await plain.embed(TEXTS, { pooling: 'cls' });
    expect(await cls.embed(TEXTS)).toEqual(want);
    expect(await cls.embed(TEXTS, { normalize: true })).toEqual(want);
    expect(await cls.embedPacked(TEXTS)).toEqual(await plain.embedPacked(TEXTS, { pooling: 'cls' }));
    // An explicit pooling still wins.
    expect(await cls.embed(TEXTS, { pooling: 'mean' })).toEqual(await plain.embed(TEXTS));
  });

  it("lasttoken pools the last token the mask keeps, in a padded batch as alone", async () => {
    const batch = await plain.embed(TEXTS, { pooling: 'lasttoken' });
    for (let i = 0; i < TEXTS.length; i++) expect(batch[i]).toEqual(await plain.embed(TEXTS[i]!, { pooling: 'lasttoken' }));
    expect(batch[0]).not.toEqual((await plain.embed(TEXTS, { pooling: 'cls' }))[0]);
    expect(batch[0]).not.toEqual((await plain.embed(TEXTS))[0]);
  });

  it('refuses at load a pooling mode warmpool does not do, naming it', async () => {
    const pool = createPool({ threads: 1, env: false, model: folder('max', modes('pooling_mode_max_tokens'), undefined) });
    try {
      const error = await pool.ready().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ModelLoadError);
      expect((error as Error).message).toMatch(/pooling_mode_max_tokens/);
    } finally {
      await pool.close();
    }
  });
});

describe('prompts from config_sentence_transformers.json', () => {
  it('embed(texts, { prompt }) puts the named prompt before each text', async () => {
    expect(await cls.embed(TEXTS, { prompt: 'query' })).toEqual(await plain.embed(TEXTS.map((t) => `query: ${t}`), { pooling: 'cls' }));
    expect(await cls.embed(TEXTS[0]!, { prompt: 'passage', pooling: 'mean' })).toEqual(await plain.embed(`passage: ${TEXTS[0]}`));
  });

  it('applies default_prompt_name to calls that name no prompt', async () => {
    expect(await last.embed(TEXTS)).toEqual(await plain.embed(TEXTS.map((t) => `query: ${t}`), { pooling: 'lasttoken' }));
    expect(await last.embed(TEXTS, { prompt: 'passage' })).toEqual(await plain.embed(TEXTS.map((t) => `passage: ${t}`), { pooling: 'lasttoken' }));
  });

  it("refuses an unknown prompt name, listing the model's prompts", async () => {
    const error = await cls.embed('text', { prompt: 'search_query' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(/options\.prompt "search_query" is not one of the model's prompts \("query", "passage"\)/);
    const none = await plain.embed('text', { prompt: 'query' }).catch((e: unknown) => e);
    expect(none).toBeInstanceOf(InvalidInputError);
    expect((none as Error).message).toMatch(/it has none/);
    const bad = await cls.embed('text', { prompt: 3 } as never).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(InvalidInputError);
  });

  it('index() embeds documents with the passage prompt and search() the query with the query prompt', async () => {
    await cls.index([{ id: 'a', text: TEXTS[0]! }, { id: 'b', text: TEXTS[2]! }], { collection: 'st' });
    const [doc] = await cls.get('a', { collection: 'st', includeVectors: true });
    expect(doc!.vector).toEqual(await plain.embed(`passage: ${TEXTS[0]}`, { pooling: 'cls' }));
    const byText = await cls.search(TEXTS[1]!, { collection: 'st', k: 2, mode: 'dense' });
    const byVector = await cls.search(await plain.embed(`query: ${TEXTS[1]}`, { pooling: 'cls' }), { collection: 'st', k: 2 });
    expect(byText).toEqual(byVector);
  });

  it("POST /embed (TEI) takes prompt_name as one of the model's prompts", async () => {
    const server = await startServer(cls, { port: 0, env: false });
    try {
      const r = await postJson(`${server.url}/embed`, { inputs: TEXTS, prompt_name: 'query' });
      expect(r.status).toBe(200);
      const want = await plain.embed(TEXTS.map((t) => `query: ${t}`), { pooling: 'cls' });
      (r.json as number[][]).forEach((v, i) => expect(Float32Array.from(v)).toEqual(want[i]));
      const bad = await postJson(`${server.url}/embed`, { inputs: 'x', prompt_name: 'nope' });
      expect([bad.status, bad.json.error_type]).toEqual([422, 'Validation']);
      expect(bad.json.error).toMatch(/"query", "passage"/);
      // GET /info names the folder's pooling in TEI's words.
      expect((await getJson(`${server.url}/info`)).json.model_type).toEqual({ embedding: { pooling: 'cls' } });
    } finally {
      await server.close();
    }
  });

  it("GET /info and POST /tokenize (TEI) follow the folder's pooling and default prompt", async () => {
    const server = await startServer(last, { port: 0, env: false });
    try {
      expect((await getJson(`${server.url}/info`)).json.model_type).toEqual({ embedding: { pooling: 'last_token' } });
      // The default prompt goes before the input, as in TEI; a named one replaces it.
      const byDefault = await postJson(`${server.url}/tokenize`, { inputs: 'stocks fell', add_special_tokens: false });
      expect(byDefault.json[0][0]).toMatchObject({ text: 'query', start: 0 });
      const named = await postJson(`${server.url}/tokenize`, { inputs: 'stocks fell', add_special_tokens: false, prompt_name: 'passage' });
      expect(named.json[0][0]).toMatchObject({ text: 'passage', start: 0 });
    } finally {
      await server.close();
    }
  });
});
