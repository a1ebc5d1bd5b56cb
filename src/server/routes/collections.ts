/**
 * Collections over HTTP, under `/v1/collections`: create, list, inspect and drop collections;
 * write, read, delete and search their documents. Each route is one call of the pool's
 * collection API, so validation and errors are the library's (mapped by http-errors.ts).
 */
import { CollectionNotFoundError, ErrorCodes, InvalidInputError } from '../../errors.js';
import type { CreateCollectionOptions, MigrationProgress, SearchHit, StoredDoc } from '../../collections/types.js';
import { HttpError, sendError } from '../http-errors.js';
import type { WarmpoolRoute } from '../options.js';

type Body = Record<string, unknown>;
interface NameParams {
  name: string;
}

/** The body as a JSON object, or a 400 that says what was expected. */
function objectBody(body: unknown, expected: string): Body {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'invalid_body', `the body must be a JSON object with ${expected}`);
  }
  return body as Body;
}

/**
 * Collection settings are checked with `RangeError`/`TypeError` (they are options); over HTTP a
 * wrong setting is the client's mistake, a 400, not a server failure.
 */
async function asClientError<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof RangeError || error instanceof TypeError) throw new HttpError(400, 'invalid_field', error.message);
    throw error;
  }
}

/** JSON has no typed arrays: vectors go out as plain number arrays. */
function plain<T extends SearchHit | StoredDoc>(doc: T): Omit<T, 'vector'> & { vector?: number[] } {
  const { vector, ...rest } = doc;
  return vector === undefined ? rest : { ...rest, vector: Array.from(vector) };
}

/** A 404 naming only the collection the client asked for. */
const notFound = (name: string): HttpError => new HttpError(404, ErrorCodes.COLLECTION_NOT_FOUND, `no collection named ${JSON.stringify(name)}`);

const SETTING_KEYS = new Set(['metric', 'index', 'autoThreshold', 'hnsw', 'ttl', 'dims', 'quantization']);

/** A log position from a request (`after`, read-your-writes with a replica), or a 400. */
function position(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new HttpError(400, 'invalid_field', `${field} must be a log position (a non-negative integer), received ${JSON.stringify(value)}`, field);
  return n;
}

export const collections: WarmpoolRoute = async (app, { pool, options, replica }) => {
  /** With a replica, reads may wait for a log position (`after`, and `waitMs`). */
  const readOptions = (after: unknown, waitMs: unknown): { after?: number; waitMs?: number } => {
    const at = position(after, 'after');
    if (at === undefined) return {};
    if (!replica) throw new HttpError(400, 'invalid_field', 'after (a log position) is only taken by a server started with replicaOf', 'after');
    const wait = position(waitMs, 'waitMs');
    return wait === undefined ? { after: at } : { after: at, waitMs: wait };
  };
  /** Reads go to the replica (which may wait for `after`) when there is one, else to the pool. */
  const reader = replica ?? pool;

  const base = { bodyLimit: options.bodyLimit };

  // The store's own message names its folder on the server's disk: a client needs only the name
  // it asked for (sendError would otherwise answer a fixed message).
  app.setErrorHandler((error, request, reply) => {
    const name = (request.params as Partial<NameParams> | undefined)?.name;
    const shown = error instanceof CollectionNotFoundError && name !== undefined ? notFound(name) : error;
    return sendError(request, reply, shown, pool);
  });

  /** Fails with 404 unless the collection exists (writes must not create one by accident). */
  const mustExist = async (name: string): Promise<void> => {
    await pool.collections().info(name);
  };

  app.get('/v1/collections', async () => ({ collections: await pool.collections().list() }));

  app.post('/v1/collections', base, async (request, reply) => {
    const body = objectBody(request.body, '"name" and optional settings');
    const { name, ...settings } = body;
    if (typeof name !== 'string') throw new HttpError(400, 'invalid_field', `name must be a string, received ${JSON.stringify(name)}`, 'name');
    for (const key of Object.keys(settings)) {
      if (!SETTING_KEYS.has(key)) {
        throw new HttpError(400, 'unknown_field', `unknown field ${JSON.stringify(key)}; valid fields are name, ${[...SETTING_KEYS].join(', ')}`, key);
      }
    }
    const info = await asClientError(() =>
      replica ? replica.create(name, settings as CreateCollectionOptions) : pool.collections().create(name, settings as CreateCollectionOptions),
    );
    reply.code(201);
    return info;
  });

  app.get<{ Params: NameParams }>('/v1/collections/:name', async (request) => pool.collections().info(request.params.name));

  app.delete<{ Params: NameParams }>('/v1/collections/:name', async (request) => {
    const { name } = request.params;
    if (replica) {
      const { existed, position: at } = await replica.drop(name);
      if (!existed) throw notFound(name);
      return { name, dropped: true, position: at };
    }
    if (!(await pool.collections().drop(name))) throw notFound(name);
    return { name, dropped: true };
  });

  /**
   * Starts a re-embed migration with the server's model. Answers once the first batch is written
   * (202, with its progress), or when the migration ended before that (200, with its result:
   * `migrated: false` when the collection was already the model's); with `{ "wait": true }`, when
   * it ends. The migration goes on in the background; `GET /v1/collections/:name` shows its
   * progress, and its model once swapped in.
   */
  app.post<{ Params: NameParams }>('/v1/collections/:name/migrate', base, async (request, reply) => {
    const { name } = request.params;
    const body = request.body === undefined || request.body === null ? {} : objectBody(request.body, 'optional "wait" and "batchSize"');
    for (const key of Object.keys(body)) {
      if (key !== 'wait' && key !== 'batchSize') throw new HttpError(400, 'unknown_field', `unknown field ${JSON.stringify(key)}; valid fields are wait, batchSize`, key);
    }
    if (replica) {
      // Each replica would re-embed on its own, outside the log's one order.
      throw new HttpError(409, 'replicated_collection', `collection ${JSON.stringify(name)} is replicated: a migration would re-embed each replica's copy outside the log; index its documents into a new collection with this server's model instead`);
    }
    await mustExist(name);
    let first: ((p: MigrationProgress) => void) | undefined;
    const progressed = new Promise<MigrationProgress>((resolve) => (first = resolve));
    const running = asClientError(() => pool.collections().migrate(name, { ...(body.batchSize !== undefined && { batchSize: body.batchSize as number }), onProgress: (p) => first?.(p) }));
    if (body.wait !== true) {
      const started = await Promise.race([running.then((result) => ({ result })), progressed.then((progress) => ({ progress }))]);
      if ('progress' in started) {
        // Its end is not waited for: a failure is the server's to log.
        running.catch((error: unknown) => request.log.error({ err: error }, `the migration of collection ${JSON.stringify(name)} failed`));
        reply.code(202);
        return { name, running: true, migration: started.progress };
      }
      return started.result;
    }
    return running;
  });

  app.get<{ Params: NameParams; Querystring: { after?: string; waitMs?: string } }>('/v1/collections/:name/count', async (request) => ({
    count: await reader.count({ collection: request.params.name, ...readOptions(request.query.after, request.query.waitMs) }),
  }));

  app.post<{ Params: NameParams }>('/v1/collections/:name/documents', base, async (request) => {
    const { name } = request.params;
    const { documents } = objectBody(request.body, '"documents"');
    if (!Array.isArray(documents)) {
      throw new HttpError(400, 'invalid_field', 'documents must be an array of { id, text, metadata? } or of strings', 'documents');
    }
    if (documents.length > options.maxInputs) {
      throw new HttpError(400, 'too_many_inputs', `documents has ${documents.length} items; this server takes at most ${options.maxInputs} per request`, 'documents');
    }
    await mustExist(name);
    return replica ? replica.index(documents, { collection: name }) : pool.index(documents, { collection: name });
  });

  app.post<{ Params: NameParams }>('/v1/collections/:name/documents/get', base, async (request) => {
    const body = objectBody(request.body, '"ids"');
    const found = await reader.get(body.ids as string[], { collection: request.params.name, includeVectors: body.includeVectors === true, ...readOptions(body.after, body.waitMs) });
    return { documents: found.map((doc) => (doc === null ? null : plain(doc))) };
  });

  app.get<{ Params: NameParams & { id: string } }>('/v1/collections/:name/documents/:id', async (request) => {
    const { name, id } = request.params;
    const [doc] = await pool.get([id], { collection: name });
    if (!doc) throw new HttpError(404, 'document_not_found', `collection ${JSON.stringify(name)} has no document ${JSON.stringify(id)}`, 'id');
    return plain(doc);
  });

  app.delete<{ Params: NameParams }>('/v1/collections/:name/documents', base, async (request) => {
    const { ids } = objectBody(request.body, '"ids"');
    if (replica) {
      const { deleted, position: at } = await replica.delete(ids as string[], { collection: request.params.name });
      return { deleted, position: at };
    }
    return { deleted: await pool.delete(ids as string[], { collection: request.params.name }) };
  });

  app.post<{ Params: NameParams }>('/v1/collections/:name/search', base, async (request) => {
    const body = objectBody(request.body, '"query"');
    const { query } = body;
    if (typeof query !== 'string' && !Array.isArray(query)) {
      throw new HttpError(400, 'invalid_field', `query must be a string or an array of numbers, received ${JSON.stringify(query)}`, 'query');
    }
    if (Array.isArray(query) && !query.every((x) => typeof x === 'number')) throw new InvalidInputError('query must be a string or an array of finite numbers');
    const hits = await reader.search(query as string | number[], {
      collection: request.params.name,
      ...readOptions(body.after, body.waitMs),
      k: body.k as number | undefined,
      filter: body.filter as never,
      includeVectors: body.includeVectors === true,
      exact: body.exact === true,
      // Checked by the pool: a bad mode, weight or reranker is a 400 (or 404) with its message.
      ...(body.mode !== undefined && { mode: body.mode as never }),
      ...(body.hybrid !== undefined && { hybrid: body.hybrid as never }),
      ...(body.rerank !== undefined && { rerank: body.rerank as never }),
    });
    return { hits: hits.map(plain) };
  });
};
