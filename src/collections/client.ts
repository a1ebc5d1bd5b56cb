/**
 * The main thread's side of collections: validates calls, embeds texts with the pool's embed
 * workers, and sends vectors to the one index worker that owns the store (through
 * {@link IndexSupervisor}, which keeps that worker running).
 */
import { isAbortSignal } from '../caller-data.js';
import { AbortError, InvalidInputError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { PRIORITIES, type IndexHealth, type ModelInfo, type PackedVectors, type Priority } from '../types.js';
import { callOptions, checkDocs, checkIds, checkSearch, checkText, collectionName, collectionSettings, toVector } from './inputs.js';
import { IndexSupervisor } from './index-supervisor.js';
import { show } from './show.js';
import { denseWeightFor } from './hybrid.js';
import type { IndexRequest } from './protocol.js';
import { fingerprintOf, type ModelFingerprint } from './fingerprint.js';
import {
  COLLECTION_DEFAULTS,
  type CollectionInfo,
  type CollectionOption,
  type CreateCollectionOptions,
  type Doc,
  type GetOptions,
  type IndexDocsOptions,
  type IndexProgress,
  type IndexResult,
  type IndexStreamOptions,
  type MigrateOptions,
  type MigrationProgress,
  type MigrationResult,
  type SearchHit,
  type SearchOptions,
  type StoredDoc,
  type VectorInput,
} from './types.js';

/** What the client needs from the pool: its public surface only. */
export interface Embedder {
  embedPacked(input: readonly string[], options?: { prompt?: string; priority?: Priority }): Promise<PackedVectors>;
  rerank(query: string, documents: readonly string[], options?: { model?: string; priority?: Priority }): Promise<{ index: number; score: number }[]>;
  ready(): Promise<void>;
  readonly model: ModelInfo | undefined;
  readonly options: ResolvedOptions;
  readonly statsBuffer: SharedArrayBuffer;
}

/** `pool.collections()`: list, create, inspect and drop collections. */
export interface CollectionsApi {
  list(): Promise<CollectionInfo[]>;
  create(name: string, options?: CreateCollectionOptions): Promise<CollectionInfo>;
  info(name: string): Promise<CollectionInfo>;
  /** Resolves to whether the collection existed. */
  drop(name: string): Promise<boolean>;
  /** Every document id of the collection, in no particular order (what a full copy of it enumerates). */
  ids(name: string): Promise<string[]>;
  /**
   * Re-embeds the collection's stored texts with the pool's model into a new collection, in the
   * background (batch lane), and swaps it in atomically when done; searches are answered by the
   * old one meanwhile, and writes to it are refused (`MigrationRunningError`). Resolves with
   * `migrated: false` at once when the collection is already the pool's model's.
   */
  migrate(name: string, options?: MigrateOptions): Promise<MigrationResult>;
}

/** An `index()` call of more documents than this is bulk work: the batch lane, unless it says otherwise. */
export const BULK_DOCS = 64;

function checkPriority(value: unknown): Priority | undefined {
  if (value === undefined) return undefined;
  if (!(PRIORITIES as readonly unknown[]).includes(value)) {
    throw new InvalidInputError(`options.priority must be one of ${PRIORITIES.map((p) => `'${p}'`).join(', ')}, received ${show(value)}`);
  }
  return value as Priority;
}

/** The controls of a call that works through a collection batch by batch (indexStream, migrate), checked. */
function batchControls<P>(o: { batchSize?: unknown; onProgress?: unknown; signal?: unknown }): { batchSize: number; onProgress: ((progress: P) => void) | undefined; signal: AbortSignal | undefined } {
  const batchSize = o.batchSize ?? COLLECTION_DEFAULTS.streamBatchSize;
  if (!Number.isInteger(batchSize) || (batchSize as number) < 1) throw new RangeError(`batchSize must be a positive integer, received ${show(batchSize)}`);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new InvalidInputError(`options.onProgress must be a function, received ${show(o.onProgress)}`);
  if (o.signal !== undefined && !isAbortSignal(o.signal)) throw new InvalidInputError(`options.signal must be an AbortSignal, received ${show(o.signal)}`);
  return { batchSize: batchSize as number, onProgress: o.onProgress as ((progress: P) => void) | undefined, signal: o.signal as AbortSignal | undefined };
}

export class CollectionsClient {
  readonly #pool: Embedder;
  readonly #index: IndexSupervisor;

  constructor(pool: Embedder) {
    this.#pool = pool;
    const { storePath, retries, queueTimeout } = pool.options;
    this.#index = new IndexSupervisor({ root: storePath, statsBuffer: pool.statsBuffer, retries, queueTimeout });
  }

  /** The index worker's state, for `pool.health()`. */
  health(): IndexHealth {
    return this.#index.health();
  }

  /**
   * The model's prompt for queries (a prompt named `query`) or documents (`document`, else
   * `passage`), as embed options; none when the model has no such prompt. Waits for the model to
   * load when it has not yet (a call would wait for it anyway).
   */
  async #promptFor(role: 'query' | 'document'): Promise<{ prompt?: string } | undefined> {
    const info = await this.#modelInfo();
    const prompts = info?.prompts ?? {};
    const names = role === 'query' ? ['query'] : ['document', 'passage'];
    const name = names.find((n) => Object.hasOwn(prompts, n));
    return name === undefined ? undefined : { prompt: name };
  }

  /**
   * What a worker found of the model: waits for the pool to be ready, and in a pool scaled to zero
   * (no worker yet) warms one, as the call would anyway.
   */
  async #modelInfo(): Promise<ModelInfo | undefined> {
    if (this.#pool.model) return this.#pool.model;
    await this.#pool.ready();
    if (!this.#pool.model) await this.#pool.embedPacked(['warm up']);
    return this.#pool.model;
  }

  async index(docs: readonly (Doc | string)[] | Doc | string, options?: IndexDocsOptions): Promise<IndexResult> {
    const o = callOptions(options, ['collection', 'create', 'priority'] as const);
    const collection = collectionName(o.collection);
    const checked = checkDocs(docs);
    const priority = checkPriority(o.priority) ?? (checked.length > BULK_DOCS ? 'batch' : 'interactive');
    if (checked.length === 0) return { ids: [], count: 0 };
    const toEmbed = checked.filter((d) => !d.vector);
    let embedded: PackedVectors | undefined;
    if (toEmbed.length > 0) embedded = await this.#pool.embedPacked(toEmbed.map((d) => d.text), { ...(await this.#promptFor('document')), priority });
    const model = embedded ? await this.#fingerprint() : null;
    const dims = embedded?.dims[1] ?? checked[0]!.vector!.length;
    // Shared, not transferred: the index worker reads the vectors in place, and if it dies before
    // answering, the same request can be sent to its replacement.
    const vectors = new Float32Array(new SharedArrayBuffer(checked.length * dims * 4));
    let e = 0;
    checked.forEach((d, i) => {
      const v = d.vector ?? embedded!.data.subarray(e * dims, (e++ + 1) * dims);
      if (v.length !== dims) {
        throw new InvalidInputError(`docs[${i}].vector has dimension ${v.length} but the other vectors of the call have dimension ${dims}`);
      }
      vectors.set(v, i * dims);
    });
    const ids = checked.map((d) => d.id);
    await this.#call({
      op: 'upsert',
      collection,
      settings: collectionSettings(collection, o.create, dims),
      model,
      ids,
      texts: checked.map((d) => d.text),
      metadata: checked.map((d) => d.metadata),
      vectors,
      dims,
    });
    return { ids, count: ids.length };
  }

  /**
   * Indexes documents from any (async) iterable in batches of `batchSize`, pulling the next batch
   * only while at most one is being written: no more than two batches are ever held.
   */
  async indexStream(source: AsyncIterable<Doc | string> | Iterable<Doc | string>, options?: IndexStreamOptions): Promise<{ count: number; batches: number }> {
    const o = callOptions(options, ['collection', 'create', 'batchSize', 'onProgress', 'signal', 'priority'] as const);
    const { batchSize, onProgress, signal } = batchControls<IndexProgress>(o);
    // Bulk work: the batch lane unless the caller says otherwise.
    const batchOptions: IndexDocsOptions = { collection: collectionName(o.collection), create: o.create as IndexDocsOptions['create'], priority: checkPriority(o.priority) ?? 'batch' };
    const started = performance.now();
    let indexed = 0;
    let batches = 0;
    let failure: { error: unknown } | undefined;
    let inFlight: Promise<void> | undefined;
    const send = async (batch: (Doc | string)[]): Promise<void> => {
      await inFlight;
      if (failure) throw failure.error;
      inFlight = this.index(batch, batchOptions).then(
        ({ count }) => {
          indexed += count;
          batches++;
          onProgress?.({ indexed, batches, elapsedMs: performance.now() - started });
        },
        (error: unknown) => {
          failure = { error };
        },
      );
    };
    let batch: (Doc | string)[] = [];
    for await (const doc of source) {
      if (signal?.aborted) throw new AbortError(`indexing was aborted after ${indexed} documents`, { cause: signal.reason });
      if (failure) throw failure.error;
      batch.push(doc);
      if (batch.length >= batchSize) {
        await send(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await send(batch);
    await inFlight;
    if (failure) throw failure.error;
    return { count: indexed, batches };
  }

  async search(query: string | VectorInput, options?: SearchOptions): Promise<SearchHit[]> {
    const o = checkSearch(options);
    let vector: Float32Array | undefined;
    let text: string | undefined;
    let model: ModelFingerprint | undefined;
    if (typeof query === 'string') {
      text = checkText(query, 'the query text');
      // A keyword search needs no vector: the model is not asked.
      if (o.mode !== 'keyword') {
        vector = (await this.#pool.embedPacked([text], await this.#promptFor('query'))).data;
        model = await this.#fingerprint();
      }
    } else {
      if (o.mode === 'keyword') throw new InvalidInputError('a keyword search needs a text query, not a vector');
      // A copy, taken now: a retry after a crash must not see later changes to the caller's array.
      vector = toVector(query, 'the query').slice();
    }
    if (o.rerank && text === undefined) throw new InvalidInputError('a search with a rerank stage needs a text query, not a vector');
    const denseWeight = o.denseWeight ?? denseWeightFor(this.#pool.model);
    // Posted as a copy (a few hundred bytes): this one stays here for a retry.
    const hits = (await this.#call({
      op: 'search',
      collection: o.collection,
      ...(model && { model }),
      vector,
      text,
      mode: o.mode,
      k: o.rerank ? Math.max(o.k, o.rerank.candidates) : o.k,
      filter: o.filter,
      includeVectors: o.includeVectors,
      exact: o.exact,
      denseWeight,
      candidates: o.candidates,
    })) as SearchHit[];
    if (!o.rerank || hits.length === 0) return hits;
    // Documents stored without a text (vectors of one's own) cannot be reranked: they follow.
    const withText = hits.filter((h) => h.text !== undefined && h.text.trim() !== '');
    const ranked = await this.#pool.rerank(text!, withText.map((h) => h.text!), o.rerank.model === undefined ? {} : { model: o.rerank.model });
    const out = ranked.map(({ index, score }) => ({ ...withText[index]!, score }));
    for (const h of hits) if (h.text === undefined || h.text.trim() === '') out.push(h);
    return out.slice(0, o.k);
  }

  async delete(ids: string | readonly string[], options?: CollectionOption): Promise<number> {
    const o = callOptions(options, ['collection'] as const);
    return (await this.#call({ op: 'delete', collection: collectionName(o.collection), ids: checkIds(ids) })) as number;
  }

  async get(ids: string | readonly string[], options?: GetOptions): Promise<(StoredDoc | null)[]> {
    const o = callOptions(options, ['collection', 'includeVectors'] as const);
    return (await this.#call({ op: 'get', collection: collectionName(o.collection), ids: checkIds(ids), includeVectors: o.includeVectors === true })) as (StoredDoc | null)[];
  }

  async count(options?: CollectionOption): Promise<number> {
    return (await this.#call({ op: 'count', collection: collectionName(callOptions(options, ['collection'] as const).collection) })) as number;
  }

  collections(): CollectionsApi {
    return {
      list: async () => (await this.#call({ op: 'list' })) as CollectionInfo[],
      create: async (name, options) => {
        const collection = collectionName(name, true);
        // Checked (and read) once, before the model is awaited: dims 0 stands for "the model's".
        let settings = collectionSettings(collection, options, 0);
        // Dims of the model's: the model is recorded now. Dims given: it is recorded by the first
        // call that embeds into the collection or searches it with a text (none for vectors of one's own).
        if (settings.dims === 0) settings = { ...settings, dims: (await this.#modelInfo())!.dims, model: await this.#fingerprint() };
        return (await this.#call({ op: 'create', settings })) as CollectionInfo;
      },
      info: async (name) => {
        const collection = collectionName(name, true);
        const info = (await this.#call({ op: 'info', collection })) as CollectionInfo;
        const migration = this.migration(collection);
        if (migration) info.migration = migration;
        return info;
      },
      migrate: async (name, options) => this.#migrate(name, options),
      drop: async (name) => (await this.#call({ op: 'drop', collection: collectionName(name, true) })) as boolean,
      ids: async (name) => (await this.#call({ op: 'ids', collection: collectionName(name, true) })) as string[],
    };
  }

  /** The fingerprint of the pool's model (see fingerprint.ts); computed once per model. */
  async #fingerprint(): Promise<ModelFingerprint> {
    const info = (await this.#modelInfo())!;
    if (this.#fp?.info !== info) this.#fp = { info, fp: fingerprintOf(info) };
    return this.#fp.fp;
  }

  #fp: { info: ModelInfo; fp: Promise<ModelFingerprint> } | undefined;
  readonly #migrations = new Map<string, MigrationProgress>();

  async #migrate(name: string, options: MigrateOptions | undefined): Promise<MigrationResult> {
    const o = callOptions(options, ['onProgress', 'signal', 'batchSize'] as const);
    const collection = collectionName(name, true);
    const { batchSize, onProgress, signal } = batchControls<MigrationProgress>(o);
    const aborted = (done: number): InstanceType<typeof AbortError> => new AbortError(`the migration of ${JSON.stringify(collection)} was aborted after ${done} documents; the collection is unchanged`, { cause: signal!.reason });
    if (signal?.aborted) throw aborted(0);
    const started = performance.now();
    const to = await this.#fingerprint();
    const begun = (await this.#call({ op: 'migrate-begin', collection, model: to })) as { total: number; from: ModelFingerprint | undefined; same: boolean };
    const { total, from } = begun;
    if (begun.same) return { name: collection, migrated: false, count: total, from, to, elapsedMs: performance.now() - started };
    const progress: MigrationProgress = { migrated: 0, total, elapsedMs: 0 };
    this.#migrations.set(collection, progress);
    const prompt = await this.#promptFor('document');
    try {
      for (let offset = 0; offset < total; offset += batchSize) {
        if (signal?.aborted) throw aborted(progress.migrated);
        const docs = (await this.#call({ op: 'migrate-read', collection, offset, limit: batchSize })) as StoredDoc[];
        if (docs.length === 0) continue;
        // Bulk work: the batch lane, so interactive calls (searches included) go first.
        const embedded = await this.#pool.embedPacked(docs.map((d) => d.text), { ...prompt, priority: 'batch' });
        const dims = embedded.dims[1]!;
        const vectors = new Float32Array(new SharedArrayBuffer(embedded.data.length * 4));
        vectors.set(embedded.data);
        await this.#call({ op: 'migrate-write', collection, ids: docs.map((d) => d.id), texts: docs.map((d) => d.text), metadata: docs.map((d) => d.metadata), vectors, dims });
        progress.migrated += docs.length;
        progress.elapsedMs = performance.now() - started;
        onProgress?.({ ...progress });
      }
      if (signal?.aborted) throw aborted(progress.migrated);
      const info = (await this.#call({ op: 'migrate-commit', collection, model: to })) as CollectionInfo;
      return { name: collection, migrated: true, count: info.count, from, to, elapsedMs: performance.now() - started };
    } catch (error) {
      await this.#call({ op: 'migrate-abort', collection }).catch(() => {});
      throw error;
    } finally {
      this.#migrations.delete(collection);
    }
  }

  /** The progress of the collection's migration, when one runs from this pool. */
  migration(name: string): MigrationProgress | undefined {
    const p = this.#migrations.get(name);
    return p && { ...p };
  }

  #call(request: IndexRequest): Promise<unknown> {
    return this.#index.call(request);
  }

  /** Lets pending writes finish, snapshots, releases the store's lock and stops the index worker. Idempotent. */
  close(): Promise<void> {
    return this.#index.close();
  }
}
