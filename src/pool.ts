/**
 * `WarmPool`, the public class: its methods and their contracts. Each model of the pool is served
 * by a {@link ModelRunner} (`runner.ts`: its workers, admission queue, supervisor, stats and life
 * cycle); the pool routes each call to its model's runner, and holds what the models share: the
 * thread budget, the collections, start and close. The work of a call lives in internal modules:
 * `dispatcher.ts` (admission queue, coalescing, dispatch, retries, answers), `call.ts`,
 * `cache.ts`, `answer.ts` and `call-log.ts`.
 */
import { randomUUID } from 'node:crypto';
import { CoreBudget } from './budget.js';
import { isArray, read } from './caller-data.js';
import { CollectionsClient, type CollectionsApi } from './collections/client.js';
import type {
  CollectionOption,
  Doc,
  GetOptions,
  IndexDocsOptions,
  IndexResult,
  IndexStreamOptions,
  SearchHit,
  SearchOptions,
  StoredDoc,
  VectorInput,
} from './collections/types.js';
import { InvalidInputError, PoolClosedError, UnknownModelError, describe } from './errors.js';
import type { EmbedOptions } from './inputs.js';
import { MAX_TIMER_MS, resolveModels, resolveOptions, type ModelStatus, type PoolOptions, type ReloadOptions, type ResolvedOptions } from './options.js';
import { MemoryTracker, processMemory } from './memory.js';
import { ModelRunner } from './runner.js';
import type { StatsSnapshot } from './stats.js';
import {
  checkClassify,
  checkRerank,
  checkRunOptions,
  classifyResults,
  rerankResults,
  type ClassifyOptions,
  type LabelScore,
  type RerankOptions,
  type RerankResult,
  type RunOptions,
} from './task-inputs.js';
import type { CloseOptions, HealthReport, ModelInfo, ModelTask, PackedVectors, PoolState } from './types.js';

export type { ReloadOptions };

/** Each task's model, for messages. */
const TASK_NOUN: Record<ModelTask, string> = { embed: 'an embedding model', rerank: 'a rerank model', classify: 'a classify model', custom: 'a custom model' };

/** How bad each state is, to report the pool's as its worst model's. */
const STATE_RANK: Record<PoolState, number> = { ready: 0, idle: 1, starting: 2, failed: 3, closing: 4, closed: 5 };

/**
 * A pool of worker threads that each hold a model warm, behind a bounded admission queue per
 * model. Create it with {@link createPool}.
 */
export class WarmPool implements AsyncDisposable {
  /** A unique id, also used to name this pool's diagnostics events. */
  readonly id: string = randomUUID();
  /**
   * The options the pool runs with, after environment variables and defaults (in a pool of
   * several models, each model's own are in `pool.models[i].options`).
   */
  readonly options: ResolvedOptions;

  /** Every model, by name, in the order they were configured (the pool's own `model` first). */
  readonly #runners = new Map<string, ModelRunner>();
  /** The runner of `embed()`, `index()` and `search()` when a call names no model. */
  readonly #embedder: ModelRunner | undefined;
  /** Samples of the process's memory as workers come, for the per-worker estimate in `stats().memory`. */
  readonly #memory: MemoryTracker;
  #closing: Promise<void> | undefined;
  #closed = false;
  /** Created on the first collection call: the index worker is not started for a pool that only embeds. */
  #collections: CollectionsClient | undefined;

  constructor(options: PoolOptions = {}) {
    this.options = resolveOptions(options);
    const budget = new CoreBudget(this.options.maxThreads);
    const memory = new MemoryTracker(() => new Map([...this.#runners].map(([name, r]) => [name, r.census])));
    this.#memory = memory;
    for (const entry of resolveModels(options, this.options)) this.#runners.set(entry.name, new ModelRunner(this.id, entry, budget, memory));
    this.#embedder = this.#runners.get('default')?.task === 'embed' ? this.#runners.get('default') : [...this.#runners.values()].find((r) => r.task === 'embed');
    if (this.options.warmup === 'eager') for (const runner of this.#runners.values()) runner.start();
  }

  /**
   * `idle` (lazy, not started), `starting`, `ready`, `failed` (a model did not load), `closing`,
   * `closed`. With several models, the worst of theirs (`pool.models` tells each).
   */
  get state(): PoolState {
    if (this.#closed) return 'closed';
    if (this.#closing) return 'closing';
    let worst: PoolState = 'ready';
    for (const runner of this.#runners.values()) if (STATE_RANK[runner.state] > STATE_RANK[worst]) worst = runner.state;
    return worst;
  }

  /**
   * The embedding model's details once loaded (the model `embed()` uses when a call names none),
   * else undefined; in a pool with no embedding model, its first model's. During a reload, the
   * model being replaced.
   */
  get model(): ModelInfo | undefined {
    return (this.#embedder ?? this.#runners.values().next().value)?.model;
  }

  /** Every model of the pool, in order: its name, task, state, options and, once loaded, its details. */
  get models(): ModelStatus[] {
    return [...this.#runners.values()].map((r) => ({
      name: r.name,
      task: r.task,
      source: r.source,
      state: r.state,
      options: r.options,
      info: r.model,
      error: r.failure?.message,
    }));
  }

  /**
   * The SharedArrayBuffer behind {@link WarmPool.stats} (the embedding model's, in a pool of
   * several; see {@link WarmPool.statsBuffers}). Pass it to any thread (e.g. in `workerData`) and
   * read it there with `readStats(buffer)`: no lock, no message.
   */
  get statsBuffer(): SharedArrayBuffer {
    return (this.#embedder ?? this.#runners.values().next().value!).statsBuffer;
  }

  /** Each model's stats buffer, by name: `readStats(buffer)` reads one from any thread. */
  get statsBuffers(): Readonly<Record<string, SharedArrayBuffer>> {
    return Object.freeze(Object.fromEntries([...this.#runners].map(([name, r]) => [name, r.statsBuffer])));
  }

  /**
   * A fresh plain snapshot of the counters, gauges, latency percentiles and per-worker figures of
   * the embedding model; in a pool of several models, each model's under `models`.
   */
  stats(): StatsSnapshot {
    const main = this.#embedder ?? this.#runners.values().next().value!;
    const snapshot = main.stats();
    const now = processMemory();
    snapshot.memory = this.#memory.snapshot(main.name, now);
    if (this.#runners.size > 1) {
      snapshot.models = Object.fromEntries(
        [...this.#runners].map(([name, r]) => {
          const s = r.stats();
          s.memory = this.#memory.snapshot(name, now);
          return [name, s];
        }),
      );
    }
    return snapshot;
  }

  /**
   * Lets every worker of every model go (each finishes its running calls first), freeing the
   * models' memory; the pool stays open. The next call warms a worker of its model again (which
   * then leaves after `idleTimeout` idle), and `warm()` brings back `threads.min` workers. For an
   * app going to the background or to sleep. Resolves once the workers are gone.
   */
  async unload(): Promise<void> {
    if (this.#closing) throw new PoolClosedError();
    await Promise.all([...this.#runners.values()].map((r) => r.unload()));
  }

  /**
   * Warms `threads.min` workers (at least one) of every model, after `unload()` or in a pool
   * scaled to zero (`threads.min: 0`); resolves once they are warm. Starts a lazy pool.
   */
  async warm(): Promise<void> {
    if (this.#closing) throw new PoolClosedError();
    await Promise.all([...this.#runners.values()].map((r) => r.warm()));
  }

  /**
   * Resolves once every model has `threads.min` workers warm; rejects with `ModelLoadError`
   * (naming the model and the cause) when one cannot be loaded. Starts a lazy pool.
   */
  async ready(): Promise<void> {
    await Promise.all([...this.#runners.values()].map((r) => r.ready()));
  }

  /** The runner of a call: the model it names, which must do `task`, or the pool's first model of that task. */
  #runner(task: ModelTask, name: string | undefined): ModelRunner {
    const runner = name === undefined ? (task === 'embed' ? this.#embedder : [...this.#runners.values()].find((r) => r.task === task)) : this.#runners.get(name);
    if (runner && runner.task === task) return runner;
    const list = [...this.#runners.values()].map((r) => `"${r.name}" (${r.task})`).join(', ');
    if (name === undefined) throw new UnknownModelError(`the pool has no ${task} model; its models are ${list}`);
    if (runner) throw new UnknownModelError(`model "${name}" is ${TASK_NOUN[runner.task]}, not ${TASK_NOUN[task]}; the pool's models are ${list}`);
    throw new UnknownModelError(`the pool has no model named ${JSON.stringify(name)}; its models are ${list}`);
  }

  /**
   * Embeds one text (resolving to one vector) or an array of texts (one vector each, in order).
   * Vectors are unit length unless `normalize: false`. `model` names one of the pool's embedding
   * models (default: the pool's own `model`).
   *
   * @example
   * const [a, b] = await pool.embed(['A man is playing a guitar.', 'Someone plays an instrument.']);
   */
  embed(input: string, options?: EmbedOptions): Promise<Float32Array>;
  embed(input: readonly string[], options?: EmbedOptions): Promise<Float32Array[]>;
  embed(input: string | readonly string[], options?: EmbedOptions): Promise<Float32Array | Float32Array[]> {
    return this.#embed(input, options, false) as Promise<Float32Array | Float32Array[]>;
  }

  /** Like {@link WarmPool.embed}, but returns all vectors in one row-major `Float32Array`. */
  embedPacked(input: string | readonly string[], options?: EmbedOptions): Promise<PackedVectors> {
    return this.#embed(input, options, true) as Promise<PackedVectors>;
  }

  async #embed(input: unknown, options: unknown, asPacked: boolean): Promise<PackedVectors | Float32Array | Float32Array[]> {
    let name: string | undefined;
    // `model` picks the runner; the rest of the options are the runner's to check. Read once:
    // the options are copied (each own key read once) only when they name a model.
    if (typeof options === 'object' && options !== null && isArray(options) === false && read('options', () => Object.hasOwn(options as object, 'model'))) {
      const copy = read('options', () => ({ ...(options as Record<string, unknown>) }));
      const model = copy.model;
      delete copy.model;
      if (model !== undefined && typeof model !== 'string') throw new InvalidInputError(`options.model must be the name of an embedding model of the pool, received ${describe(model)}`);
      name = model as string | undefined;
      options = copy;
    }
    return this.#runner('embed', name).embed(input, options, asPacked);
  }

  /**
   * Scores each document's relevance to the query with a rerank model (a cross-encoder) and
   * resolves to the documents' indexes and scores, best first. Concurrent calls share model runs.
   * No documents: `[]`.
   *
   * @example
   * const [best] = await pool.rerank('how do I sort a list?', docs, { topN: 3 });
   */
  async rerank(query: string, documents: readonly string[], options?: RerankOptions): Promise<RerankResult[]> {
    const checked = checkRerank(query, documents, options);
    const runner = this.#runner('rerank', checked.model);
    const result = await runner.run(checked.documents, checked.opts, { pair: checked.query });
    return rerankResults(result.data, checked);
  }

  /**
   * Classifies a text (resolving to its labels, best first) or an array of texts (one list
   * each) with a classify model; the labels are the model's `id2label`.
   *
   * @example
   * const [top] = await pool.classify('I loved this film', { model: 'sentiment' });
   */
  classify(input: string, options?: ClassifyOptions): Promise<LabelScore[]>;
  classify(input: readonly string[], options?: ClassifyOptions): Promise<LabelScore[][]>;
  async classify(input: string | readonly string[], options?: ClassifyOptions): Promise<LabelScore[] | LabelScore[][]> {
    const checked = checkClassify(input, options);
    const runner = this.#runner('classify', checked.model);
    const result = await runner.run(checked.texts, checked.opts);
    const labels = runner.model?.labels ?? Array.from({ length: result.dims[1] }, (_, i) => `LABEL_${i}`);
    const all = classifyResults(result.data, labels, checked, runner.model?.multiLabel === true);
    return typeof input === 'string' ? all[0]! : all;
  }

  /**
   * Runs one input through a custom model (a `models` entry with `task: 'custom'`): its module's
   * `run` gets this input in a batch with those of concurrent calls, and this call resolves to
   * its output. Same admission, timeouts, abort, retries, stats and events as every call.
   */
  async run<Output = unknown>(model: string, input: unknown, options?: RunOptions): Promise<Output> {
    if (typeof model !== 'string') throw new InvalidInputError(`model must be the name of a custom model of the pool, received ${describe(model)}`);
    const opts = checkRunOptions(options);
    const result = await this.#runner('custom', model).run([], opts, { inputs: [input] });
    return result.values![0] as Output;
  }

  #collectionsClient(): CollectionsClient {
    if (this.#closing) throw new PoolClosedError();
    if (!this.#embedder) throw new UnknownModelError(`collections need an embedding model, and the pool has none; its models are ${[...this.#runners.values()].map((r) => `"${r.name}" (${r.task})`).join(', ')}`);
    return (this.#collections ??= new CollectionsClient(this));
  }

  /**
   * Embeds documents and writes them to a collection (created on first use, with the model's
   * dimension), replacing documents with the same id. Resolves once they are durable on disk.
   *
   * @example
   * await pool.index([{ id: 'a', text: 'The cat sat on the mat.', metadata: { lang: 'en' } }], { collection: 'notes' });
   */
  async index(docs: readonly (Doc | string)[] | Doc | string, options?: IndexDocsOptions): Promise<IndexResult> {
    return this.#collectionsClient().index(docs, options);
  }

  /** Indexes an (async) iterable of documents in batches, holding at most two batches at once. */
  async indexStream(
    source: AsyncIterable<Doc | string> | Iterable<Doc | string>,
    options?: IndexStreamOptions,
  ): Promise<{ count: number; batches: number }> {
    return this.#collectionsClient().indexStream(source, options);
  }

  /**
   * Nearest neighbours of a text (embedded first) or a vector, best first.
   *
   * @example
   * const hits = await pool.search('where did the cat sit?', { collection: 'notes', k: 3 });
   */
  async search(query: string | VectorInput, options?: SearchOptions): Promise<SearchHit[]> {
    return this.#collectionsClient().search(query, options);
  }

  /** Deletes documents by id; resolves to how many existed. */
  async delete(ids: string | readonly string[], options?: CollectionOption): Promise<number> {
    return this.#collectionsClient().delete(ids, options);
  }

  /** Stored documents by id, in order; `null` for an id that is not there. */
  async get(ids: string | readonly string[], options?: GetOptions): Promise<(StoredDoc | null)[]> {
    return this.#collectionsClient().get(ids, options);
  }

  /** Documents in a collection. */
  async count(options?: CollectionOption): Promise<number> {
    return this.#collectionsClient().count(options);
  }

  /** List, create, inspect and drop collections. */
  collections(): CollectionsApi {
    const client = (): CollectionsClient => this.#collectionsClient();
    return {
      list: async () => client().collections().list(),
      create: async (name, options) => client().collections().create(name, options),
      info: async (name) => client().collections().info(name),
      drop: async (name) => client().collections().drop(name),
      ids: async (name) => client().collections().ids(name),
      migrate: async (name, options) => client().collections().migrate(name, options),
    };
  }

  /**
   * Stops admission, rejects waiting calls with `PoolClosedError`, lets running calls finish
   * until `timeout`, frees the model sessions and terminates the workers, of every model at once.
   * Idempotent.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    const timeout = options.timeout ?? this.options.closeTimeout;
    if (!(typeof timeout === 'number' && timeout >= 0 && (timeout <= MAX_TIMER_MS || timeout === Infinity))) {
      return Promise.reject(new RangeError(`close timeout must be a non-negative number of milliseconds up to ${MAX_TIMER_MS} or Infinity, received ${typeof timeout === 'number' ? String(timeout) : describe(timeout)}`));
    }
    this.#closing = this.#close(timeout);
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * The pool's health: warm workers against those wanted, restarts, and per-worker detail (state,
   * busy, requests, errors, last task's latency, model load time), of the embedding model; in a
   * pool of several models, each model's under `models`, and `status` the worst of theirs.
   */
  health(): HealthReport {
    const main = this.#embedder ?? this.#runners.values().next().value!;
    const state = this.state;
    const report = main.health(this.#collections?.health());
    if (state === 'closing' || state === 'closed') {
      report.state = state;
      report.status = 'unhealthy';
    }
    if (this.#runners.size > 1) {
      const models: Record<string, HealthReport> = {};
      const rank = { healthy: 0, degraded: 1, unhealthy: 2 } as const;
      for (const [name, runner] of this.#runners) {
        const own = runner.health();
        models[name] = own;
        if (rank[own.status] > rank[report.status]) report.status = own.status === 'unhealthy' && report.status === 'healthy' ? 'degraded' : own.status;
      }
      report.models = models;
    }
    return report;
  }

  /**
   * Rolling reload of one model (`name`, default: the embedding model): replaces its workers one
   * at a time by workers with the new model settings, while serving. Each new worker is warm
   * before an old one stops taking calls, and each old one has finished its calls and left before
   * the next new one starts: capacity never dips, no call fails because of the switch, and at most
   * one worker more than usual (one model more in memory) is alive. Until it resolves, a call may
   * be answered by either model, but all of one call's vectors always come from one model;
   * `model` tells the new one once it resolves. Rejects with `ModelLoadError` if a new worker
   * cannot load the model: the workers already replaced go back, the same way, and the pool keeps
   * its current model. The other models of the pool are not touched.
   */
  reload(options: ReloadOptions = {}, name?: string): Promise<void> {
    let runner: ModelRunner | undefined;
    try {
      if (this.#closing) throw new PoolClosedError();
      runner = name === undefined ? (this.#embedder ?? this.#runners.values().next().value) : this.#runners.get(name);
      if (!runner) throw new UnknownModelError(`the pool has no model named ${JSON.stringify(name)}; its models are ${[...this.#runners.keys()].map((n) => `"${n}"`).join(', ')}`);
      if (runner.task === 'custom') throw new RangeError(`model "${runner.name}" is a custom task: reload it by creating a new pool`);
    } catch (error) {
      return Promise.reject(error);
    }
    return runner.reload(options);
  }

  async #close(timeout: number): Promise<void> {
    await Promise.all([...this.#runners.values()].map((r) => r.close(timeout)));
    await this.#collections?.close();
    this.#closed = true;
  }
}

/**
 * Creates a pool. With the default `warmup: 'eager'` its workers start loading the model at once;
 * `await pool.ready()` to know they are warm. Options are validated here, once: a wrong type throws
 * `TypeError`, a bad value or conflict `RangeError`.
 *
 * @example
 * const pool = createPool({ threads: 2 });
 * await pool.ready();
 * const vector = await pool.embed('hello world');
 * await pool.close();
 */
export function createPool(options?: PoolOptions): WarmPool {
  return new WarmPool(options);
}

