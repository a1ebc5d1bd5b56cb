/**
 * A server over a pool of several models: TEI's `/rerank` and `/predict`, Cohere's `/v1/rerank`
 * (with the `cohere-ai` client from npm), which model each route runs on (`model` in the body),
 * `/info`, `/v1/models` (with the `openai` client), `POST /` by the main model's task, metrics per
 * model, and `warmpool serve --with`: against real servers on 127.0.0.1 and real pools.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { InferenceClient } from '@huggingface/inference';
import { CohereClient, CohereClientV2, CohereError } from 'cohere-ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LONG_TEXT, ROOT, createPool, topicsClassifier, type WarmPool } from './helpers.js';
import { getJson, postJson, startServer, type RunningServer } from './server-helpers.js';
import { teiProblems, type TEI_SCHEMAS } from './tei-schemas.js';

const MAX_INPUTS = 4;
const QUERY = 'how do I sort a list in python?';
const DOCS = ['The weather will be sunny tomorrow.', 'Sort a list in place with list.sort(); sorted() returns a new list.', 'Stocks fell sharply today.'];

let dir: string;
/** An embedder (`default`), a second embedder (`e2`), a reranker, two classifiers. */
let pool: WarmPool;
let server: RunningServer;
/** A pool of one reranker, and one of one classifier. */
let rerankPool: WarmPool;
let rerankServer: RunningServer;
let classifyPool: WarmPool;
let classifyServer: RunningServer;

/** POSTs `body` to `path` and checks the answer against TEI's shape for that route and status. */
async function tei(path: string, body: unknown, base = server.url, schema?: keyof typeof TEI_SCHEMAS) {
  const r = await postJson(`${base}${path}`, body);
  expect(teiProblems(`POST ${path}`, r.status, r.json, schema), `${path} ${r.status} ${r.text.slice(0, 300)}`).toEqual([]);
  return r;
}

beforeAll(async () => {
  // A three-label classifier with exclusive labels (softmax): see topicsClassifier.
  dir = mkdtempSync(join(tmpdir(), 'warmpool-server-models-'));
  const folder = topicsClassifier(dir);

  const common = { threads: 1, env: false, preallocate: false } as const;
  // `model` set: the pool's own embedder joins as 'default', first, next to the entries.
  pool = createPool({
    ...common,
    model: 'glove-100d',
    models: {
      rerank: { task: 'rerank', model: 'glove-rerank' },
      topics: { task: 'classify', model: folder },
      tags: { task: 'classify', model: 'minilm-classify-shape' },
      e2: { task: 'embed', model: 'glove-100d' },
    },
  });
  rerankPool = createPool({ ...common, model: 'glove-rerank', task: 'rerank' });
  classifyPool = createPool({ ...common, model: folder, task: 'classify' });
  await Promise.all([pool.ready(), rerankPool.ready(), classifyPool.ready()]);
  [server, rerankServer, classifyServer] = await Promise.all([
    startServer(pool, { port: 0, env: false, maxInputs: MAX_INPUTS }),
    startServer(rerankPool, { port: 0, env: false }),
    startServer(classifyPool, { port: 0, env: false }),
  ]);
});

afterAll(async () => {
  await Promise.all([server?.close(), rerankServer?.close(), classifyServer?.close()]);
  await Promise.all([pool?.close(), rerankPool?.close(), classifyPool?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('POST /rerank (TEI)', () => {
  it("answers [{ index, score }] best first, the pool's own scores, with text and raw scores on request", async () => {
    const r = await tei('/rerank', { query: QUERY, texts: DOCS });
    expect(r.status).toBe(200);
    const want = await pool.rerank(QUERY, DOCS);
    expect(r.json).toEqual(want);
    expect(r.json[0].index).toBe(1);
    for (let i = 1; i < r.json.length; i++) expect(r.json[i - 1].score).toBeGreaterThanOrEqual(r.json[i].score);

    const withText = await tei('/rerank', { query: QUERY, texts: DOCS, return_text: true, raw_scores: true, truncate: null, truncation_direction: 'Right' });
    const raw = await pool.rerank(QUERY, DOCS, { rawScores: true });
    expect(withText.json).toEqual(raw.map((x) => ({ ...x, text: DOCS[x.index] })));
    expect(raw.some((x) => x.score < 0 || x.score > 1)).toBe(true);
  });

  it("refuses as TEI does: no texts 400 Empty, too many 422, bad fields 422, a text too long without truncate 422", async () => {
    const none = await tei('/rerank', { query: QUERY, texts: [] });
    expect([none.status, none.json.error, none.json.error_type]).toEqual([400, '`texts` cannot be empty', 'Empty']);
    const many = await tei('/rerank', { query: QUERY, texts: ['a', 'b', 'c', 'd', 'e'] });
    expect([many.status, many.json.error_type, many.json.error]).toEqual([422, 'Validation', `batch size 5 > maximum allowed batch size ${MAX_INPUTS}`]);
    for (const body of [{ texts: DOCS }, { query: QUERY }, { query: QUERY, texts: [1] }, { query: QUERY, texts: DOCS, raw_scores: 'yes' }, { query: QUERY, texts: DOCS, truncation_direction: 'Left' }]) {
      const r = await tei('/rerank', body);
      expect(r.status, JSON.stringify(body)).toBe(422);
    }
    const long = await tei('/rerank', { query: QUERY, texts: [LONG_TEXT] });
    expect([long.status, long.json.error_type]).toEqual([422, 'Validation']);
    const cut = await tei('/rerank', { query: QUERY, texts: [LONG_TEXT], truncate: true });
    expect(cut.status).toBe(200);
  });

  it('runs on the model the body names; an unknown name, or a model of another task, is a 404 naming the models', async () => {
    const named = await tei('/rerank', { query: QUERY, texts: DOCS, model: 'rerank' });
    expect(named.status).toBe(200);
    for (const model of ['no-such-model', 'default', 'topics']) {
      const r = await tei('/rerank', { query: QUERY, texts: DOCS, model });
      expect(r.status, model).toBe(404);
      expect(r.json.code).toBe('ERR_WARMPOOL_UNKNOWN_MODEL');
      expect(r.json.error).toContain('"rerank" (rerank)');
    }
  });

  it("a pool without a reranker answers TEI's 424 Backend, after a malformed body's 422", async () => {
    const r = await tei('/rerank', { query: QUERY, texts: DOCS }, classifyServer.url);
    expect([r.status, r.json.error, r.json.error_type]).toEqual([424, 'model is not a re-ranker model', 'Backend']);
    const bad = await tei('/rerank', { query: 5, texts: DOCS }, classifyServer.url);
    expect(bad.status).toBe(422);
  });
});

describe('POST /predict (TEI)', () => {
  it('answers one text with its labels best first (softmax), a batch with a list per text', async () => {
    const one = await tei('/predict', { inputs: 'a football match' });
    expect(one.status).toBe(200);
    expect(one.json).toEqual(await pool.classify('a football match', { model: 'topics' }));
    expect(one.json.map((l: { label: string }) => l.label).sort()).toEqual(['music', 'sport', 'weather']);
    expect(one.json.reduce((s: number, l: { score: number }) => s + l.score, 0)).toBeCloseTo(1, 5);

    const batch = await tei('/predict', { inputs: [['a football match'], 'rain tomorrow', ['a concert']] });
    expect(batch.json).toEqual(await pool.classify(['a football match', 'rain tomorrow', 'a concert'], { model: 'topics' }));
    // An array of strings that is no pair is a batch of texts, as TEI reads it.
    const three = await tei('/predict', { inputs: ['x', 'y', 'z'] });
    expect(three.json).toHaveLength(3);
    const raw = await tei('/predict', { inputs: 'a football match', raw_scores: true });
    expect(raw.json).toEqual(await pool.classify('a football match', { model: 'topics', rawScores: true }));
  });

  it('runs on the model the body names (a multi-label one scores each label on its own)', async () => {
    const r = await tei('/predict', { inputs: 'a football match', model: 'tags' });
    expect(r.json).toEqual(await pool.classify('a football match', { model: 'tags' }));
    const missing = await tei('/predict', { inputs: 'x', model: 'rerank' });
    expect([missing.status, missing.json.code]).toEqual([404, 'ERR_WARMPOOL_UNKNOWN_MODEL']);
  });

  it('refuses text pairs (422), an empty batch (400), too many inputs and bad fields (422)', async () => {
    for (const inputs of [['a premise', 'a hypothesis'], [['a premise', 'a hypothesis']]]) {
      const r = await tei('/predict', { inputs });
      expect([r.status, r.json.code]).toEqual([422, 'unsupported_input']);
      expect(r.json.error).toMatch(/text pairs are not supported/);
    }
    expect((await tei('/predict', { inputs: [] })).status).toBe(400);
    expect((await tei('/predict', { inputs: '' })).status).toBe(400);
    expect((await tei('/predict', { inputs: ['a', 'b', 'c', 'd', 'e'] })).status).toBe(422);
    expect((await tei('/predict', { inputs: 5 })).status).toBe(422);
    expect((await tei('/predict', { inputs: 'x', raw_scores: 1 })).status).toBe(422);
    const long = await tei('/predict', { inputs: LONG_TEXT });
    expect(long.status).toBe(422);
    expect((await tei('/predict', { inputs: LONG_TEXT, truncate: true })).status).toBe(200);
  });

  it("answers @huggingface/inference's textClassification given a batch of one (it reads the Inference API's nested answer)", async () => {
    const client = new InferenceClient();
    const labels = await client.textClassification({ endpointUrl: `${server.url}/predict`, inputs: ['a football match'] as unknown as string });
    expect(labels).toEqual(await pool.classify('a football match', { model: 'topics' }));
    // A single text gets TEI's flat answer, which this client (against TEI too) calls malformed.
    await expect(client.textClassification({ endpointUrl: `${server.url}/predict`, inputs: 'a football match' })).rejects.toThrow(/malformed response/);
  });

  it("a pool without a classifier answers TEI's 424 Backend", async () => {
    const r = await tei('/predict', { inputs: 'x' }, rerankServer.url);
    expect([r.status, r.json.error, r.json.error_type]).toEqual([424, 'Model is not a classifier model', 'Backend']);
  });
});

describe('the embedding routes in a pool of several models', () => {
  it('/embed and /v1/embeddings run on the embedder a request names, and default to the main one', async () => {
    const before = pool.stats().models!.e2!.completed;
    const tei1 = await tei('/embed', { inputs: 'a guitar', model: 'e2' });
    expect(tei1.status).toBe(200);
    expect(pool.stats().models!.e2!.completed).toBe(before + 1);
    const named = await postJson(`${server.url}/v1/embeddings`, { model: 'e2', input: 'a guitar', encoding_format: 'float' });
    expect([named.status, named.json.model]).toEqual([200, 'e2']);
    expect(pool.stats().models!.e2!.completed).toBe(before + 2);
    // Any other name (a hosted model's, the served name) runs on the main embedder, as before.
    for (const model of ['text-embedding-3-small', 'glove-100d', 'default', undefined]) {
      const r = await postJson(`${server.url}/v1/embeddings`, { model, input: 'a guitar', encoding_format: 'float' });
      expect([r.status, r.json.model], String(model)).toEqual([200, 'glove-100d']);
    }
    expect(pool.stats().models!.e2!.completed).toBe(before + 2);
    const main = await tei('/embed', { inputs: 'a guitar', model: 'glove-100d' });
    expect(main.status).toBe(200);
    const similarity = await tei('/similarity', { inputs: { source_sentence: 'a cat', sentences: ['a dog'] }, model: 'e2' });
    expect(similarity.status).toBe(200);
    expect(pool.stats().models!.e2!.completed).toBe(before + 3);
  });

  it('a model of another task is a 404 on both; a pool without an embedder answers /embed 424', async () => {
    const v1 = await postJson(`${server.url}/v1/embeddings`, { model: 'rerank', input: 'x' });
    expect([v1.status, v1.json.error.code]).toEqual([404, 'ERR_WARMPOOL_UNKNOWN_MODEL']);
    const t = await tei('/embed', { inputs: 'x', model: 'topics' });
    expect(t.status).toBe(404);
    const none = await tei('/embed', { inputs: 'x' }, rerankServer.url);
    expect([none.status, none.json.error_type]).toEqual([424, 'Backend']);
    const noneV1 = await postJson(`${rerankServer.url}/v1/embeddings`, { input: 'x' });
    expect([noneV1.status, noneV1.json.error.code]).toEqual([404, 'ERR_WARMPOOL_UNKNOWN_MODEL']);
  });
});

describe('POST / and /invocations follow the main model, as in TEI', () => {
  it('embed for an embedder, rerank for a reranker, predict for a classifier', async () => {
    expect((await tei('/', { inputs: 'a guitar' })).json[0]).toHaveLength(100);
    for (const path of ['/', '/invocations']) {
      const ranked = await tei(path, { query: QUERY, texts: DOCS }, rerankServer.url, 'RerankResponse');
      expect(ranked.json).toEqual(await rerankPool.rerank(QUERY, DOCS, { truncate: false }));
      const labels = await tei(path, { inputs: 'rain tomorrow' }, classifyServer.url, 'PredictResponse');
      expect(labels.json).toEqual(await classifyPool.classify('rain tomorrow'));
    }
  });
});

describe('GET /info and GET /v1/models', () => {
  it("/info describes the main model with TEI's model_type, and lists every model", async () => {
    const main = await getJson(`${server.url}/info`);
    expect(teiProblems('GET /info', main.status, main.json)).toEqual([]);
    expect(main.json.model_type).toEqual({ embedding: { pooling: 'mean' } });
    expect(main.json.models).toEqual([
      { name: 'default', task: 'embed', source: 'glove-100d', max_input_length: 512, dimensions: 100 },
      { name: 'rerank', task: 'rerank', source: 'glove-rerank', max_input_length: rerankPool.model!.maxTokens },
      { name: 'topics', task: 'classify', source: 'topics', max_input_length: classifyPool.model!.maxTokens },
      { name: 'tags', task: 'classify', source: 'minilm-classify-shape', max_input_length: expect.any(Number) },
      { name: 'e2', task: 'embed', source: 'glove-100d', max_input_length: 512, dimensions: 100 },
    ]);

    const rerank = await getJson(`${rerankServer.url}/info`);
    expect(teiProblems('GET /info', rerank.status, rerank.json)).toEqual([]);
    expect(rerank.json).toMatchObject({ model_id: 'glove-rerank', served_model_name: 'glove-rerank', model_type: { reranker: { id2label: { 0: expect.any(String) } } } });
    expect(rerank.json.dimensions).toBeUndefined();
    const classify = await getJson(`${classifyServer.url}/info`);
    expect(teiProblems('GET /info', classify.status, classify.json)).toEqual([]);
    expect(classify.json.model_type).toEqual({
      classifier: { id2label: { 0: 'sport', 1: 'music', 2: 'weather' }, label2id: { sport: 0, music: 1, weather: 2 } },
    });
  });

  it('/v1/models lists every model with its task, through the official openai client', async () => {
    const client = new OpenAI({ apiKey: 'unused', baseURL: `${server.url}/v1`, maxRetries: 0 });
    const page = await client.models.list();
    expect(page.data.map((m) => [m.id, (m as unknown as { task: string }).task, m.object, m.owned_by])).toEqual([
      ['glove-100d', 'embed', 'model', 'warmpool'],
      ['rerank', 'rerank', 'model', 'warmpool'],
      ['topics', 'classify', 'model', 'warmpool'],
      ['tags', 'classify', 'model', 'warmpool'],
      ['e2', 'embed', 'model', 'warmpool'],
    ]);
  });
});

describe("a pool whose embedder is one of its `models` (no 'default')", () => {
  it('takes that embedder as its main model: /info, /v1/models, POST / and the default of /v1/embeddings', async () => {
    const own = createPool({ threads: 1, env: false, preallocate: false, models: { rerank: { task: 'rerank', model: 'glove-rerank' }, e5: { task: 'embed', model: 'glove-100d' } } });
    const running = await startServer(own, { port: 0, env: false });
    try {
      const info = await getJson(`${running.url}/info`);
      expect(teiProblems('GET /info', info.status, info.json)).toEqual([]);
      expect(info.json).toMatchObject({ model_id: 'glove-100d', served_model_name: 'glove-100d', model_type: { embedding: { pooling: 'mean' } }, dimensions: 100 });
      expect(info.json.models.map((m: { name: string }) => m.name)).toEqual(['rerank', 'e5']);
      const models = await getJson(`${running.url}/v1/models`);
      expect(models.json.data.map((m: { id: string }) => m.id)).toEqual(['rerank', 'glove-100d']);
      expect((await tei('/', { inputs: 'a guitar' }, running.url)).json[0]).toHaveLength(100);
      for (const model of ['e5', 'glove-100d', 'text-embedding-3-small']) {
        const r = await postJson(`${running.url}/v1/embeddings`, { model, input: 'a guitar' });
        expect([r.status, r.json.model], model).toEqual([200, 'glove-100d']);
      }
      expect(own.stats().models!.e5!.completed).toBe(4);
    } finally {
      await running.close();
      await own.close();
    }
  });
});

describe('POST /v1/rerank (Cohere, Jina)', () => {
  it('answers the cohere-ai client (v1 and v2) with the pool\'s ranking', async () => {
    const want = await pool.rerank(QUERY, DOCS);
    const client = new CohereClient({ token: 'unused', environment: server.url });
    const res = await client.rerank({ model: 'rerank-v3.5', query: QUERY, documents: DOCS.map((text) => ({ text })), topN: 2, returnDocuments: true });
    expect(res.results).toEqual(want.slice(0, 2).map((r) => ({ index: r.index, relevanceScore: r.score, document: { text: DOCS[r.index] } })));
    expect(typeof res.id).toBe('string');

    const v2 = new CohereClientV2({ token: 'unused', environment: server.url });
    const res2 = await v2.rerank({ model: 'rerank', query: QUERY, documents: DOCS });
    expect(res2.results).toEqual(want.map((r) => ({ index: r.index, relevanceScore: r.score })));
  });

  it("takes Jina's and Cohere's bodies: strings or { text } documents (other fields kept), top_n, return_documents", async () => {
    const r = await postJson(`${server.url}/v1/rerank`, {
      model: 'jina-reranker-v2-base-multilingual',
      query: QUERY,
      documents: ['The weather will be sunny tomorrow.', { text: DOCS[1], id: 'doc-7' }],
      top_n: 1,
      return_documents: true,
    });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ model: 'rerank', results: [{ index: 1, relevance_score: expect.any(Number), document: { text: DOCS[1], id: 'doc-7' } }] });
    expect(r.json.results).toHaveLength(1);
    // A document too long for the model is cut to fit, as Cohere does.
    const long = await postJson(`${server.url}/v1/rerank`, { query: QUERY, documents: [LONG_TEXT] });
    expect(long.status).toBe(200);
  });

  it("refuses bad requests in OpenAI's error shape, and the cohere client surfaces them", async () => {
    const cases: [unknown, number, string][] = [
      [{ query: QUERY }, 400, 'missing_input'],
      [{ documents: DOCS }, 400, 'missing_input'],
      [{ query: QUERY, documents: [] }, 400, 'invalid_input'],
      [{ query: QUERY, documents: [5] }, 400, 'invalid_input'],
      [{ query: QUERY, documents: ['a', 'b', 'c', 'd', 'e'] }, 400, 'too_many_inputs'],
      [{ query: QUERY, documents: DOCS, top_n: 0 }, 400, 'invalid_field'],
      [{ query: QUERY, documents: DOCS, rank_fields: ['title'] }, 400, 'unsupported_field'],
      [{ query: QUERY, documents: DOCS, model: 'topics' }, 404, 'ERR_WARMPOOL_UNKNOWN_MODEL'],
    ];
    for (const [body, status, code] of cases) {
      const r = await postJson(`${server.url}/v1/rerank`, body);
      expect([r.status, r.json.error?.code], JSON.stringify(body)).toEqual([status, code]);
      expect(r.json.error.type).toBe('invalid_request_error');
    }
    const noReranker = await postJson(`${classifyServer.url}/v1/rerank`, { query: QUERY, documents: DOCS });
    expect([noReranker.status, noReranker.json.error.code]).toEqual([404, 'ERR_WARMPOOL_UNKNOWN_MODEL']);

    const client = new CohereClient({ token: 'unused', environment: server.url });
    const error = await client.rerank({ query: QUERY, documents: [] }, { maxRetries: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CohereError);
    expect((error as CohereError).statusCode).toBe(400);
  });
});

describe('GET /metrics in a pool of several models', () => {
  it('labels every pool metric with its model', async () => {
    await postJson(`${server.url}/rerank`, { query: QUERY, texts: DOCS });
    const text = (await getJson(`${server.url}/metrics`)).text;
    const stats = pool.stats().models!;
    for (const name of ['default', 'rerank', 'topics', 'tags', 'e2']) {
      const m = new RegExp(`^warmpool_completed_total\\{model="${name}"\\} (\\d+)$`, 'm').exec(text);
      expect(m, name).not.toBeNull();
      expect(Number(m![1])).toBeGreaterThanOrEqual(stats[name]!.completed);
      expect(text).toMatch(new RegExp(`^warmpool_worker_state\\{model="${name}",slot="0",thread_id="\\d+",state="ready"\\} 1$`, 'm'));
      // Each model's estimate of one more worker, as its snapshot says.
      const estimate = stats[name]!.memory!;
      expect(estimate.perWorkerBytes, name).toBeGreaterThan(0);
      expect(text).toMatch(new RegExp(`^warmpool_worker_memory_estimate_bytes\\{model="${name}",estimate="${estimate.perWorkerEstimate}"\\} \\d+$`, 'm'));
    }
    expect(text).toMatch(/^warmpool_run_seconds\{model="rerank",quantile="0.99"\} [\d.e-]+$/m);
    expect(text).not.toMatch(/^warmpool_completed_total \d/m);
  });
});

describe('warmpool serve --with rerank=rerank:glove-rerank', () => {
  it('serves /rerank and /v1/rerank next to the embedder', async () => {
    const child = spawn(process.execPath, ['dist/src/cli.js', 'serve', '--port', '0', '--threads', '1', '--with', 'rerank=rerank:glove-rerank'], {
      cwd: ROOT,
      env: { ...process.env, WARMPOOL_STORE_PATH: join(dir, 'store') },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let found = '';
        createInterface({ input: child.stdout }).on('line', (line) => {
          const m = /^listening on (\S+)/.exec(line);
          if (m) found = m[1]!;
          if (line.startsWith('ready')) resolve(found);
        });
        void exited.then((code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
      });
      const tei1 = await tei('/rerank', { query: QUERY, texts: DOCS, return_text: true }, url);
      expect(tei1.status).toBe(200);
      expect(tei1.json[0]).toMatchObject({ index: 1, text: DOCS[1] });
      const cohere = await postJson(`${url}/v1/rerank`, { query: QUERY, documents: DOCS, top_n: 1 });
      expect(cohere.status).toBe(200);
      expect(cohere.json.results).toEqual([{ index: 1, relevance_score: tei1.json[0].score }]);
      const models = await getJson(`${url}/v1/models`);
      expect(models.json.data.map((m: { id: string; task: string }) => `${m.id}:${m.task}`)).toEqual(['glove-100d:embed', 'rerank:rerank']);
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
