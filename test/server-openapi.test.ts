/**
 * `GET /openapi.json` serves docs/openapi.json, and the document tells the truth: every route the
 * server registers is in it with its method and every operation in it is a route, and real
 * answers have the fields its schemas mark required.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempStore } from './collections-helpers.js';
import { ROOT, createPool, type WarmPool } from './helpers.js';
import { createServer, getJson, postJson } from './server-helpers.js';

type Schema = Record<string, any>;
type Doc = { openapi: string; info: { version: string }; paths: Record<string, Record<string, any>>; components: { schemas: Record<string, Schema> } };

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

const store = tempStore();
let pool: WarmPool;
let app: FastifyInstance;
let url: string;
/** `METHOD /path` of every route the server registered, path parameters written `{name}`. */
const registered = new Set<string>();
let doc: Doc;

beforeAll(async () => {
  pool = createPool({ threads: 1, storePath: store.dir, env: false });
  await pool.ready();
  app = createServer(pool, { env: false });
  // Added before listen(): the plugin's routes are registered when the server starts, and the
  // hook sees each of them. Fastify adds a HEAD route for every GET (exposeHeadRoutes); the
  // document lists the GET.
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      registered.add(`${method} ${route.url.replace(/:(\w+)/g, '{$1}')}`);
    }
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  doc = (await getJson(`${url}/openapi.json`)).json as Doc;
});

afterAll(async () => {
  await app?.close();
  await pool?.close();
  store.cleanup();
});

/** Follows a local `$ref` (`#/components/...`). */
function resolve(schema: Schema): Schema {
  let s = schema;
  while (typeof s.$ref === 'string') {
    s = (s.$ref as string)
      .slice(2)
      .split('/')
      .reduce((node: any, key) => node[key], doc);
  }
  return s;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (Number.isInteger(value)) return 'integer';
  return typeof value;
}

/**
 * The places where `value` lacks a field `schema` marks required, or has a JSON type it does not
 * allow. A tiny subset of JSON Schema, enough for this document: `$ref`, `type`, `required`,
 * `properties`, `items`, `oneOf`/`anyOf` (one branch must fit) and `allOf` (every one must).
 */
function problems(schema: Schema, value: unknown, at = '$'): string[] {
  const s = resolve(schema);
  const out: string[] = [];
  for (const part of s.allOf ?? []) out.push(...problems(part, value, at));
  const branches: Schema[] | undefined = s.oneOf ?? s.anyOf;
  if (branches && !branches.some((b) => problems(b, value, at).length === 0)) out.push(`${at}: fits none of its ${branches.length} alternatives`);
  if (s.type !== undefined) {
    const allowed = [s.type].flat() as string[];
    const actual = typeOf(value);
    if (!allowed.includes(actual) && !(actual === 'integer' && allowed.includes('number'))) {
      out.push(`${at}: ${actual}, expected ${allowed.join(' or ')}`);
      return out;
    }
  }
  if (typeOf(value) === 'object') {
    const object = value as Record<string, unknown>;
    for (const key of s.required ?? []) if (!(key in object)) out.push(`${at}.${key}: missing`);
    for (const [key, sub] of Object.entries((s.properties ?? {}) as Record<string, Schema>)) {
      if (key in object) out.push(...problems(sub, object[key], `${at}.${key}`));
    }
  }
  if (Array.isArray(value) && s.items) value.forEach((item, i) => out.push(...problems(s.items, item, `${at}[${i}]`)));
  return out;
}

/** The schema of an operation's answer with `status`, as the document gives it. */
function answerSchema(path: string, method: string, status: number): Schema {
  const response = resolve(doc.paths[path]![method]!.responses[String(status)]);
  return response.content['application/json'].schema;
}

describe('GET /openapi.json', () => {
  it('answers JSON: the OpenAPI 3.1 document shipped in docs/, with the package version', async () => {
    const r = await getJson(`${url}/openapi.json`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(r.json.openapi).toMatch(/^3\.1\.\d+$/);
    expect(r.json).toEqual(JSON.parse(readFileSync(`${ROOT}docs/openapi.json`, 'utf8')));
    const { version } = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string };
    expect(r.json.info.version).toBe(version);
  });

  it('lists every route the server registered, with its method, and nothing else', () => {
    const documented = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of Object.keys(item)) if (METHODS.includes(method)) documented.add(`${method.toUpperCase()} ${path}`);
    }
    expect(registered.size).toBeGreaterThan(10);
    expect([...documented].sort()).toEqual([...registered].sort());
  });

  it('points every $ref at something the document holds', () => {
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    for (const ref of refs) expect(resolve(JSON.parse(`{${ref}}`) as Schema), ref).toBeTypeOf('object');
  });

  it('answers no documented operation with "no route"', async () => {
    for (const key of registered) {
      const [method, path] = key.split(' ') as [string, string];
      const concrete = path.replace('{name}', 'no-such-collection').replace('{id}', 'no-such-id');
      const res = await fetch(`${url}${concrete}`, {
        method,
        ...(method === 'POST' || method === 'DELETE' ? { headers: { 'content-type': 'application/json' }, body: '{}' } : {}),
      });
      const text = await res.text();
      expect(text.includes('"code":"not_found"'), `${key}: ${res.status} ${text}`).toBe(false);
    }
  });
});

describe('real answers have the fields the document marks required', () => {
  it('POST /rerank, /v1/rerank and /v2/rerank, GET /info and /v1/models of a pool with a reranker', async () => {
    const withRerank = createPool({ threads: 1, env: false, models: { rerank: { task: 'rerank', model: 'glove-rerank' } } });
    const server = createServer(withRerank, { env: false });
    try {
      await server.listen({ host: '127.0.0.1', port: 0 });
      const address = server.server.address();
      const base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
      const answers: [string, unknown, number][] = [
        ['/rerank', { query: 'a cat', texts: ['a dog', 'stocks'], return_text: true }, 200],
        ['/rerank', { query: 'a cat', texts: [] }, 400],
        ['/rerank', { query: 'a cat', texts: ['a dog'], model: 'no-such-model' }, 404],
        ['/v1/rerank', { query: 'a cat', documents: ['a dog', { text: 'stocks' }], return_documents: true }, 200],
        ['/v1/rerank', { query: 'a cat', documents: [] }, 400],
        ['/v2/rerank', { model: 'rerank-v3.5', query: 'a cat', documents: ['a dog'] }, 200],
      ];
      for (const [path, body, status] of answers) {
        const r = await postJson(`${base}${path}`, body);
        expect(r.status, `${path} ${r.text}`).toBe(status);
        expect(problems(answerSchema(path, 'post', status), r.json), path).toEqual([]);
      }
      for (const path of ['/info', '/v1/models']) {
        const r = await getJson(`${base}${path}`);
        expect(problems(answerSchema(path, 'get', 200), r.json), path).toEqual([]);
      }
    } finally {
      await server.close();
      await withRerank.close();
    }
  });

  it('the checker itself finds a missing field and a wrong type', () => {
    const schema = { type: 'object', required: ['a', 'b'], properties: { b: { type: 'array', items: { type: 'number' } } } };
    expect(problems(schema, { a: 1, b: [1, 2] })).toEqual([]);
    expect(problems(schema, { b: [1, 'x'] })).toEqual(['$.a: missing', '$.b[1]: string, expected number']);
  });

  it('POST /embed', async () => {
    const r = await postJson(`${url}/embed`, { inputs: ['first text', 'second text'] });
    expect(r.status).toBe(200);
    expect(problems(answerSchema('/embed', 'post', 200), r.json)).toEqual([]);
    const bad = await postJson(`${url}/embed`, { inputs: 5 });
    expect(bad.status).toBe(422);
    expect(problems(answerSchema('/embed', 'post', 422), bad.json)).toEqual([]);
    const empty = await postJson(`${url}/embed`, { inputs: [] });
    expect(empty.status).toBe(400);
    expect(problems(answerSchema('/embed', 'post', 400), empty.json)).toEqual([]);
  });

  it("the other TEI routes, and TEI's aliases", async () => {
    const answers: [string, unknown, number][] = [
      ['/', { inputs: 'a text' }, 200],
      ['/invocations', { inputs: ['a text'] }, 200],
      ['/similarity', { inputs: { source_sentence: 'a cat', sentences: ['a dog', 'stocks'] } }, 200],
      ['/tokenize', { inputs: ['the river bank', 'stone'] }, 200],
      ['/decode', { ids: [[2, 3]], skip_special_tokens: false }, 200],
      ['/embed_all', { inputs: 'a text' }, 424],
      ['/embed_sparse', { inputs: 'a text' }, 424],
      ['/similarity', { inputs: { source_sentence: 'a cat', sentences: [] } }, 400],
      ['/tokenize', { inputs: 5 }, 422],
      ['/decode', { ids: [] }, 400],
      // This pool holds one embedder: TEI's answer for a model that cannot rerank or classify.
      ['/rerank', { query: 'a cat', texts: ['a dog'] }, 424],
      ['/predict', { inputs: 'a cat' }, 424],
    ];
    for (const [path, body, status] of answers) {
      const r = await postJson(`${url}${path}`, body);
      expect(r.status, `${path} ${r.text}`).toBe(status);
      expect(problems(answerSchema(path, 'post', status), r.json), path).toEqual([]);
    }
    const openai = await postJson(`${url}/embeddings`, { input: 'a text', encoding_format: 'float' });
    expect(problems(answerSchema('/embeddings', 'post', 200), openai.json)).toEqual([]);
  });

  it('POST /v1/embeddings, in both encodings, and its error shape', async () => {
    for (const encoding_format of ['float', 'base64']) {
      const r = await postJson(`${url}/v1/embeddings`, { input: ['first text', 'second text'], encoding_format });
      expect(r.status).toBe(200);
      expect(problems(answerSchema('/v1/embeddings', 'post', 200), r.json)).toEqual([]);
    }
    const bad = await postJson(`${url}/v1/embeddings`, { input: [101, 2023] });
    expect(bad.status).toBe(400);
    expect(problems(answerSchema('/v1/embeddings', 'post', 400), bad.json)).toEqual([]);
  });

  it('GET /v1/collections, with a collection in the store, and a search in it', async () => {
    const created = await postJson(`${url}/v1/collections`, { name: 'openapi-notes' });
    expect(created.status).toBe(201);
    expect(problems(answerSchema('/v1/collections', 'post', 201), created.json)).toEqual([]);
    const written = await postJson(`${url}/v1/collections/openapi-notes/documents`, { documents: [{ id: 'a', text: 'The cat sat on the mat.', metadata: { lang: 'en' } }, 'a plain string'] });
    expect(problems(answerSchema('/v1/collections/{name}/documents', 'post', 200), written.json)).toEqual([]);
    const list = await getJson(`${url}/v1/collections`);
    expect(list.status).toBe(200);
    expect(list.json.collections).toHaveLength(1);
    expect(problems(answerSchema('/v1/collections', 'get', 200), list.json)).toEqual([]);
    const hits = await postJson(`${url}/v1/collections/openapi-notes/search`, { query: 'a cat on a mat', k: 2, includeVectors: true });
    expect(problems(answerSchema('/v1/collections/{name}/search', 'post', 200), hits.json)).toEqual([]);
    const missing = await getJson(`${url}/v1/collections/no-such-collection`);
    expect(missing.status).toBe(404);
    expect(problems(answerSchema('/v1/collections/{name}', 'get', 404), missing.json)).toEqual([]);
  });

  it('GET /health (and / and /ping), /ready, /stats and /info', async () => {
    for (const [path, schemaPath] of [
      ['/health', '/health'],
      ['/', '/'],
      ['/ping', '/ping'],
      ['/ready', '/ready'],
      ['/stats', '/stats'],
      ['/info', '/info'],
      ['/v1/models', '/v1/models'],
    ] as const) {
      const r = await getJson(`${url}${path}`);
      expect(r.status, path).toBe(200);
      expect(problems(answerSchema(schemaPath, 'get', 200), r.json), path).toEqual([]);
    }
  });
});
