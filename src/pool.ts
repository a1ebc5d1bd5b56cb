/**
 * `WarmPool`, the public class: its methods and their contracts, and the pool's life cycle
 * (start, failure, rolling reload, close). The work of a call lives in internal modules:
 * `dispatcher.ts` (admission queue, coalescing, dispatch, retries, answers), `call.ts` (one call
 * and one running task), `cache.ts`, `answer.ts` (a call's vectors put together) and
 * `call-log.ts` (what each call counts and publishes).
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { assemble, vectorsOf } from './answer.js';
import { checkDimensions, shortenPacked } from './dimensions.js';
import { CallCache, type CacheLookup } from './cache.js';
import type { Call } from './call.js';
import { CallLog } from './call-log.js';
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
import { deferred } from './deferred.js';
import { Dispatcher } from './dispatcher.js';
import { AbortError, InvalidInputError, ModelLoadError, PoolClosedError, describe } from './errors.js';
import { channels } from './events.js';
import { checkEmbedOptions, defaultEmbedOptions, normalizeTexts, type CheckedEmbedOptions, type EmbedOptions } from './inputs.js';
import { Fleet, cannotStart } from './fleet.js';
import { resolveModel } from './model.js';
import { MAX_TIMER_MS, checkReloadOptions, reloadedOptions, resolveOptions, type PoolOptions, type ResolvedOptions } from './options.js';
import type { ModelSpec } from './protocol.js';
import { Supervisor } from './supervisor.js';
import { PoolStats, StatsView, type StatsSnapshot } from './stats.js';
import type { CloseOptions, HealthReport, ModelInfo, PackedVectors, PoolState } from './types.js';

/** Workers that die while loading, in a row, before a pool that never started gives up. */
const START_CRASH_LIMIT = 2;

/** Model settings a rolling reload may change. */
export type ReloadOptions = Pick<PoolOptions, 'model' | 'dtype' | 'allowRemoteModels' | 'cacheDir'>;

/**
 * A pool of worker threads that each hold the embedding model warm, behind a bounded admission
 * queue. Create it with {@link createPool}.
 */
export class WarmPool implements AsyncDisposable {
  /** A unique id, also used to name this pool's diagnostics events. */
  readonly id: string = randomUUID();
  /** The options the pool runs with, after environment variables and defaults. */
  readonly options: ResolvedOptions;

  readonly #stats: PoolStats;
  /** What each call counts and publishes. */
  readonly #log: CallLog;
  /** The admission queue and the way from it to the workers and back. */
  readonly #dispatcher: Dispatcher;
  readonly #cache: CallCache | undefined;
  readonly #ready = deferred<void>();
  readonly #supervisor: Supervisor;
  /** Every worker, of every model during a rolling reload; undefined before start and once failed or closed. */
  #fleet: Fleet | undefined;
  #healthTimer: NodeJS.Timeout | undefined;
  #model: ModelSpec | undefined;
  /** The options of a call that gives none, for the model {@link #defaultsOf} was made for (its pooling). */
  #defaults = defaultEmbedOptions('mean');
  #defaultsOf: ModelSpec | undefined;
  #state: PoolState = 'idle';
  #failure: ModelLoadError | undefined;
  #closing: Promise<void> | undefined;
  #reloading: Promise<void> | undefined;
  /** Created on the first collection call: the index worker is not started for a pool that only embeds. */
  #collections: CollectionsClient | undefined;

  constructor(options: PoolOptions = {}) {
    this.options = resolveOptions(options);
    // Room for replacements: a worker's slot is reused once it has exited.
    this.#stats = new PoolStats(StatsView.create(Math.max(8, this.options.maxThreads * 2)));
    this.#log = new CallLog(this.id, this.#stats);
    this.#cache = this.options.cacheBytes > 0 ? new CallCache(this.options.cacheBytes, this.#stats) : undefined;
    this.#supervisor = new Supervisor({
      stats: this.#stats,
      healthTimeout: this.options.healthTimeout,
      recycleHeapMb: this.options.recycleHeapMb,
      terminate: (threadId) => this.#fleet?.terminate(threadId),
      recycle: (threadId) => this.#fleet?.recycle(threadId) ?? false,
      onChange: () => this.#dispatcher.pump(),
    });
    this.#dispatcher = new Dispatcher(this.options, this.#stats, this.#supervisor, {
      state: () => this.#state,
      fleet: () => this.#fleet,
    });
    try {
      this.#model = resolveModel(this.options);
    } catch (error) {
      this.#fail(error as ModelLoadError);
      return;
    }
    if (this.options.warmup === 'eager') this.#start();
  }

  /** `idle` (lazy, not started), `starting`, `ready`, `failed` (model did not load), `closing`, `closed`. */
  get state(): PoolState {
    return this.#state;
  }

  /** The model's details once loaded, else undefined. During a reload, the model being replaced. */
  get model(): ModelInfo | undefined {
    return this.#model && this.#fleet?.infoOf(this.#model);
  }

  /**
   * The SharedArrayBuffer behind {@link WarmPool.stats}. Pass it to any thread (e.g. in
   * `workerData`) and read it there with `readStats(buffer)`: no lock, no message.
   */
  get statsBuffer(): SharedArrayBuffer {
    return this.#stats.buffer;
  }

  /** A fresh plain snapshot of the counters, gauges, latency percentiles and per-worker figures. */
  stats(): StatsSnapshot {
    return this.#stats.snapshot();
  }

  /**
   * Resolves once `threads.min` workers have loaded the model; rejects with `ModelLoadError`
   * (naming the model and the cause) when it cannot be loaded. Starts a lazy pool.
   */
  ready(): Promise<void> {
    if (this.#state === 'idle') this.#start();
    return this.#ready.promise;
  }

  /**
   * Embeds one text (resolving to one vector) or an array of texts (one vector each, in order).
   * Vectors are unit length unless `normalize: false`.
   *
   * @example
   * const [a, b] = await pool.embed(['A man is playing a guitar.', 'Someone plays an instrument.']);
   */
  embed(input: string, options?: EmbedOptions): Promise<Float32Array>;
  embed(input: readonly string[], options?: EmbedOptions): Promise<Float32Array[]>;
  embed(input: string | readonly string[], options?: EmbedOptions): Promise<Float32Array | Float32Array[]> {
    return this.#call(input, options, false) as Promise<Float32Array | Float32Array[]>;
  }

  /** Like {@link WarmPool.embed}, but returns all vectors in one row-major `Float32Array`. */
  embedPacked(input: string | readonly string[], options?: EmbedOptions): Promise<PackedVectors> {
    return this.#call(input, options, true) as Promise<PackedVectors>;
  }

  #collectionsClient(): CollectionsClient {
    if (this.#state === 'closing' || this.#state === 'closed') throw new PoolClosedError();
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
    };
  }

  /**
   * Stops admission, rejects waiting calls with `PoolClosedError`, lets running calls finish
   * until `timeout`, frees the model sessions and terminates the workers. Idempotent.
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
   * busy, requests, errors, last task's latency, model load time).
   */
  health(): HealthReport {
    return this.#supervisor.report(this.#state, this.options.minThreads, this.#fleet?.warm ?? 0, this.#collections?.health());
  }

  /**
   * Rolling reload: replaces the workers one at a time by workers with the new model settings,
   * while serving. Each new worker is warm before an old one stops taking calls, and each old one
   * has finished its calls and left before the next new one starts: capacity never dips, no call
   * fails because of the switch, and at most one worker more than usual (one model more in memory)
   * is alive. Until it resolves, a call may be answered by either model, but all of one call's
   * vectors always come from one model; `model` tells the new one once it resolves. Rejects with
   * `ModelLoadError` if a new worker cannot load the model: the workers already replaced go back,
   * the same way, and the pool keeps its current model.
   */
  reload(options: ReloadOptions = {}): Promise<void> {
    if (this.#reloading) return Promise.reject(new RangeError('a reload is already running'));
    this.#reloading = this.#reload(options).finally(() => {
      this.#reloading = undefined;
    });
    return this.#reloading;
  }

  async #reload(changes: ReloadOptions): Promise<void> {
    checkReloadOptions(changes);
    if (this.#state === 'idle') this.#start();
    await this.ready();
    if (this.#state !== 'ready' || !this.#fleet) throw new PoolClosedError();
    const merged = reloadedOptions(this.options, changes);
    const model = resolveModel(merged);
    // While both models serve, the cache holds neither: a cached vector must come from the model
    // that answers the rest of its call.
    this.#cache?.beginRoll();
    try {
      await this.#fleet.roll(model);
    } catch (error) {
      if (error instanceof ModelLoadError) {
        throw new ModelLoadError(`reload failed, the pool keeps its current model: ${error.message}`, { cause: error });
      }
      throw error;
    } finally {
      this.#cache?.endRoll();
    }
    if (this.#state !== 'ready') throw new PoolClosedError();
    this.#model = model;
    this.#stats.inc('reloads');
  }

  #start(): void {
    if (this.#state !== 'idle' || !this.#model) return;
    this.#state = 'starting';
    const model = this.#model;
    try {
      this.#fleet = this.#newFleet(model);
    } catch (error) {
      // The thread could not be created at all (out of threads or memory): a typed failure, not a throw.
      this.#fail(cannotStart(model, error));
      return;
    }
    this.#healthTimer = setInterval(() => {
      this.#fleet?.rescan();
      this.#supervisor.check();
    }, this.options.healthInterval);
    this.#healthTimer.unref();
  }

  #newFleet(model: ModelSpec): Fleet {
    return new Fleet({
      poolId: this.id,
      model,
      options: this.options,
      stats: this.#stats,
      control: this.#dispatcher.controlBuffer,
      supervisor: this.#supervisor,
      events: {
        ready: (threadId, loadMs) => {
          if (channels.workerReady.hasSubscribers) channels.workerReady.publish({ poolId: this.id, threadId, loadMs });
          if (this.#state === 'starting' && (this.#fleet?.warm ?? 0) >= this.options.minThreads) {
            this.#state = 'ready';
            this.#ready.resolve();
          }
        },
        loadError: (threadId, error, serving) => {
          this.#publishWorkerError(threadId, error);
          // Before the pool was ever ready a load error means the model is unusable: fail fast.
          if (serving && this.#state === 'starting') this.#fail(error);
        },
        exit: (threadId) => {
          if (channels.workerExit.hasSubscribers) channels.workerExit.publish({ poolId: this.id, threadId });
        },
        loadCrash: (error, serving) => this.#onLoadCrash(error, serving),
        error: (threadId, error) => this.#publishWorkerError(threadId, error),
      },
    });
  }

  /**
   * A worker died while loading the model. At start-up, a few in a row mean the model cannot be
   * loaded: fail rather than let Piscina respawn forever. Later, calls that wait are told at once
   * when no worker holds the model; the fleet starts a fresh worker after a backoff.
   */
  #onLoadCrash(error: ModelLoadError, serving: boolean): void {
    this.#publishWorkerError(undefined, error);
    if (!serving) return;
    if (this.#state === 'starting') {
      if (this.#supervisor.consecutiveLoadFailures >= START_CRASH_LIMIT) this.#fail(error);
      return;
    }
    this.#dispatcher.pump();
  }

  #publishWorkerError(threadId: number | undefined, error: unknown): void {
    if (channels.workerError.hasSubscribers) {
      channels.workerError.publish({ poolId: this.id, threadId, error: error instanceof Error ? error : new Error(describe(error)) });
    }
  }

  #fail(error: ModelLoadError): void {
    this.#state = 'failed';
    this.#failure = error;
    this.#ready.reject(error);
    this.#dispatcher.rejectWaiting(() => this.#failedError());
    clearInterval(this.#healthTimer);
    this.#supervisor.stop();
    const fleet = this.#fleet;
    this.#fleet = undefined;
    // Workers still loading see this flag before they enter onnxruntime, so they can be ended now.
    this.#dispatcher.stopAll();
    void fleet?.destroy().catch(() => {});
  }

  #failedError(): ModelLoadError {
    return new ModelLoadError(this.#failure!.message, { cause: this.#failure });
  }

  /** One embed call, answered packed (`embedPacked`) or as vectors (`embed`: one for a string, else one per text). */
  async #call(input: unknown, options: unknown, asPacked: boolean): Promise<PackedVectors | Float32Array | Float32Array[]> {
    const began = performance.now();
    const log = this.#log;
    const requestId = log.begin();
    let texts: string[] = [];
    let call: Call | undefined;
    try {
      texts = normalizeTexts(input);
      const model = this.#model;
      if (model !== this.#defaultsOf) {
        this.#defaults = defaultEmbedOptions(model?.pooling ?? 'mean');
        this.#defaultsOf = model;
      }
      const opts = checkEmbedOptions(options, this.#defaults);
      log.started(requestId, texts.length);
      this.#checkCanRun(opts);
      // The model's prompt (named by the call, else its default) goes before each text.
      const promptName = opts.prompt ?? model?.defaultPrompt;
      if (promptName !== undefined && texts.length > 0) texts = withPrompt(texts, model!, promptName);
      // A width known now refuses a too-wide `dimensions` before the call runs; else the answer's does.
      if (opts.dimensions !== undefined && this.model) checkDimensions(opts.dimensions, this.model.dims);
      // Texts already in the cache never reach a worker.
      const cache = this.#cache;
      let found: CacheLookup | undefined = cache && texts.length > 0 ? cache.lookup(texts, opts) : undefined;
      const misses = found ? found.misses : texts;
      let result: PackedVectors | undefined;
      if (misses.length > 0) {
        call = this.#admit(misses, opts, began);
        result = await call.promise;
        if (found && misses.length < texts.length && !cache!.current(found)) {
          // A reload began or ended meanwhile: the cached vectors may come from the other model.
          // Run the whole call again, as one call: one task, one worker, one model.
          found = undefined;
          call = this.#dispatcher.enqueue(texts, opts, began);
          result = await call.promise;
        }
      }
      // The model's width is only needed when nothing came back: no texts at all.
      let packed = assemble(texts.length, found?.hits, result, result ? 0 : (this.model?.dims ?? 0));
      // The cache keeps full vectors: `dimensions` shortens the call's own copy.
      if (found && result) cache!.fill(found, result, call!);
      if (opts.dimensions !== undefined) packed = shortenPacked(packed, opts.dimensions, opts.normalize);
      log.succeeded(requestId, began, texts.length, call, result);
      return asPacked ? packed : vectorsOf(packed, typeof input === 'string');
    } catch (error) {
      log.failed(requestId, began, texts.length, call, error);
      throw error;
    }
  }

  /** Throws when the pool takes no call now (closing, closed or failed), or the call was aborted before it started. */
  #checkCanRun(opts: CheckedEmbedOptions): void {
    if (this.#state === 'closing' || this.#state === 'closed') throw new PoolClosedError();
    if (this.#state === 'failed') throw this.#failedError();
    if (opts.signal?.aborted) throw new AbortError('the call was aborted before it started', { cause: opts.signal.reason });
  }

  /** Queues texts of a call for a worker (a lazy pool starts here). */
  #admit(texts: string[], opts: CheckedEmbedOptions, began: number): Call {
    if (this.#state === 'idle') this.#start();
    // Starting can fail at once (no worker thread could be created).
    if (this.#state === 'failed') throw this.#failedError();
    return this.#dispatcher.enqueue(texts, opts, began);
  }

  async #close(timeout: number): Promise<void> {
    this.#state = 'closing';
    this.#dispatcher.close();
    clearInterval(this.#healthTimer);
    this.#supervisor.stop();
    const fleet = this.#fleet;
    // No worker is added or replaced from now on; a reload under way rejects.
    fleet?.stop();
    await fleet?.whenIdle(timeout);
    // Past the deadline, callers still waiting are answered now, and workers drop what is left
    // of their tasks. A model run already inside onnxruntime is let finish: terminating a thread
    // in the middle of one aborts the whole process.
    this.#dispatcher.giveUpRunning(() => new PoolClosedError('the pool closed before the call finished (close timeout passed)'));
    this.#dispatcher.stopAll();
    await fleet?.untilOutOfOnnxruntime();
    await fleet?.disposeSessions();
    await fleet?.destroy();
    this.#fleet = undefined;
    await this.#collections?.close();
    this.#state = 'closed';
    if (!this.#ready.settled) this.#ready.reject(new PoolClosedError('the pool closed before it was ready'));
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

/** `texts`, each with the model's prompt `name` before it; an unknown name is an InvalidInputError listing the model's prompts. */
function withPrompt(texts: string[], model: ModelSpec, name: string): string[] {
  if (!Object.hasOwn(model.prompts, name)) {
    const names = Object.keys(model.prompts);
    throw new InvalidInputError(
      `options.prompt ${JSON.stringify(name)} is not one of the model's prompts (${names.length > 0 ? names.map((n) => JSON.stringify(n)).join(', ') : 'it has none: see config_sentence_transformers.json'})`,
    );
  }
  const prompt = model.prompts[name]!;
  return prompt === '' ? texts : texts.map((text) => prompt + text);
}
