import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { VectorCache, type CachedVector } from './cache.js';
import { CallQueue } from './call-queue.js';
import { CollectionsClient, type CollectionsApi } from './collections/client.js';
import type { IndexHealth } from './collections/index-supervisor.js';
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
import {
  AbortError,
  InvalidInputError,
  ModelLoadError,
  PoolClosedError,
  QueueFullError,
  QueueTimeoutError,
  TaskTimeoutError,
  WarmpoolError,
  WorkerExitedError,
  describe,
  errorFromWire,
} from './errors.js';
import { channels } from './events.js';
import { checkEmbedOptions, normalizeTexts, type CheckedEmbedOptions, type EmbedOptions } from './inputs.js';
import { Fleet, cannotStart } from './fleet.js';
import type { ModelInfo } from './worker-host.js';
import { resolveModel } from './model.js';
import { MAX_TIMER_MS, checkReloadOptions, reloadedOptions, resolveOptions, type PoolOptions, type ResolvedOptions } from './options.js';
import { CONTROL_ALL, callFlags, isPackedCall, type EmbedTask, type ModelSpec, type TaskResult } from './protocol.js';
import { Supervisor, type WorkerPhase } from './supervisor.js';
import { PoolStats, StatsView, type StatsSnapshot } from './stats.js';

/** Workers that die while loading, in a row, before a pool that never started gives up. */
const START_CRASH_LIMIT = 2;



/** Vectors in one row-major block: `dims[0]` vectors of `dims[1]` floats. */
export interface PackedVectors {
  data: Float32Array;
  dims: [number, number];
  /**
   * Tokens of this call's texts, special tokens included, after truncation (e.g. for usage
   * reports); texts answered from the cache count the tokens they made when first embedded.
   */
  tokens: number;
}

export type { ModelInfo } from './worker-host.js';

/** What `pool.health()` reports. */
export interface HealthReport {
  /** `healthy`: every wanted worker is warm; `degraded`: some are; `unhealthy`: none (or the pool is failed or closed). */
  status: 'healthy' | 'degraded' | 'unhealthy';
  state: PoolState;
  /** Warm workers wanted (`threads.min`) and warm now. */
  wanted: number;
  warm: number;
  /** Workers replaced after a crash, a hang or a failed model load, since the pool started. */
  restarts: number;
  /** The last model-load error of a replacement worker, while no worker has loaded since. */
  lastError?: string;
  /** The index worker, once a collection call was made; `down` makes the pool at most `degraded`. */
  index?: IndexHealth;
  workers: {
    threadId: number;
    state: WorkerPhase;
    busy: number;
    requests: number;
    errors: number;
    lastMs: number;
    loadMs: number;
  }[];
}

/** Model settings a rolling reload may change. */
export type ReloadOptions = Pick<PoolOptions, 'model' | 'dtype' | 'allowRemoteModels' | 'cacheDir'>;

export type PoolState = 'idle' | 'starting' | 'ready' | 'failed' | 'closing' | 'closed';

export interface CloseOptions {
  /** Milliseconds to let running calls finish (at most 2147483647, or Infinity); defaults to the pool's `closeTimeout`. */
  timeout?: number;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
  settled: boolean;
}

function deferred<T>(): Deferred<T> {
  const d = { settled: false } as Deferred<T>;
  d.promise = new Promise<T>((resolve, reject) => {
    d.resolve = (v) => {
      d.settled = true;
      resolve(v);
    };
    d.reject = (e) => {
      d.settled = true;
      reject(e);
    };
  });
  // Nobody has to await it: a pool whose model fails must not crash the process by itself.
  d.promise.catch(() => {});
  return d;
}

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
  readonly #queue: CallQueue<Call>;
  readonly #cache: VectorCache | undefined;
  /** Tasks that may still be sent to workers: maxThreads x concurrentTasksPerWorker minus those running. */
  #freeTaskSlots: number;
  #pumpScheduled = false;
  #delayTimer: NodeJS.Timeout | undefined;
  readonly #ready = deferred<void>();
  /** Tasks sent to workers and not yet answered: close() answers their calls when its deadline passes. */
  readonly #running = new Set<RunningTask>();
  readonly #control: Int32Array;
  readonly #freeCancelSlots: number[];
  readonly #supervisor: Supervisor;
  /** Every worker, of every model during a rolling reload; undefined before start and once failed or closed. */
  #fleet: Fleet | undefined;
  #healthTimer: NodeJS.Timeout | undefined;
  #model: ModelSpec | undefined;
  #state: PoolState = 'idle';
  #failure: ModelLoadError | undefined;
  #closing: Promise<void> | undefined;
  #reloading: Promise<void> | undefined;
  /** True while a rolling reload runs: workers of both models serve, so no vector is cached. */
  #rolling = false;
  /** Moves when a reload starts and ends: a call's cached vectors belong to the model of its epoch. */
  #cacheEpoch = 0;
  #requestIds = 0;
  /** Created on the first collection call: the index worker is not started for a pool that only embeds. */
  #collections: CollectionsClient | undefined;

  constructor(options: PoolOptions = {}) {
    this.options = resolveOptions(options);
    const { maxThreads, concurrentTasksPerWorker, maxQueue } = this.options;
    // Room for replacements: a worker's slot is reused once it has exited.
    this.#stats = new PoolStats(StatsView.create(Math.max(8, maxThreads * 2)));
    const maxInFlight = maxThreads * concurrentTasksPerWorker;
    this.#freeTaskSlots = maxInFlight;
    this.#queue = new CallQueue<Call>(maxQueue, (delta) => this.#stats.gaugeAdd('queued', delta));
    this.#cache = this.options.cacheBytes > 0 ? new VectorCache(this.options.cacheBytes) : undefined;
    // One cancel flag per task that can be in flight, plus the close-everything flag at index 0.
    this.#control = new Int32Array(new SharedArrayBuffer(4 * (maxInFlight + 1)));
    this.#freeCancelSlots = Array.from({ length: maxInFlight }, (_, i) => maxInFlight - i);
    this.#supervisor = new Supervisor({
      stats: this.#stats,
      healthTimeout: this.options.healthTimeout,
      recycleHeapMb: this.options.recycleHeapMb,
      terminate: (threadId) => this.#fleet?.terminate(threadId),
      recycle: (threadId) => this.#fleet?.recycle(threadId) ?? false,
      onChange: () => this.#pump(),
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
    const snapshot = this.#stats.snapshot();
    const phases = this.#supervisor.phases();
    const wanted = this.options.minThreads;
    const warm = this.#fleet?.warm ?? 0;
    const usable = this.#state === 'ready' || this.#state === 'starting';
    const index = this.#collections?.health();
    const status = !usable || warm === 0 ? 'unhealthy' : warm < wanted || index?.state === 'down' ? 'degraded' : 'healthy';
    const report: HealthReport = {
      status,
      state: this.#state,
      wanted,
      warm,
      restarts: snapshot.workerCrashes + snapshot.workersHung + snapshot.loadFailures,
      workers: snapshot.workers
        .filter((w) => phases.has(w.threadId))
        .map((w) => ({
          threadId: w.threadId,
          state: phases.get(w.threadId)!,
          busy: w.busy,
          requests: w.requests,
          errors: w.errors,
          lastMs: w.lastMs,
          loadMs: w.loadMs,
        })),
    };
    const lastError = this.#supervisor.lastLoadError;
    if (lastError) report.lastError = lastError.message;
    if (index) report.index = index;
    return report;
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
    this.#cache?.clear();
    this.#rolling = true;
    this.#cacheEpoch++;
    try {
      await this.#fleet.roll(model);
    } catch (error) {
      if (error instanceof ModelLoadError) {
        throw new ModelLoadError(`reload failed, the pool keeps its current model: ${error.message}`, { cause: error });
      }
      throw error;
    } finally {
      this.#rolling = false;
      this.#cacheEpoch++;
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
      control: this.#control.buffer as SharedArrayBuffer,
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
    this.#pump();
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
    this.#queue.rejectAll(() => this.#failedError());
    clearInterval(this.#healthTimer);
    this.#supervisor.stop();
    const fleet = this.#fleet;
    this.#fleet = undefined;
    // Workers still loading see this flag before they enter onnxruntime, so they can be ended now.
    Atomics.store(this.#control, CONTROL_ALL, 1);
    void fleet?.destroy().catch(() => {});
  }

  #failedError(): ModelLoadError {
    return new ModelLoadError(this.#failure!.message, { cause: this.#failure });
  }

  /** One embed call, answered packed (`embedPacked`) or as vectors (`embed`: one for a string, else one per text). */
  async #call(input: unknown, options: unknown, asPacked: boolean): Promise<PackedVectors | Float32Array | Float32Array[]> {
    const began = performance.now();
    const stats = this.#stats;
    stats.inc('requests');
    const requestId = ++this.#requestIds;
    let texts: string[] = [];
    let call: Call | undefined;
    try {
      texts = normalizeTexts(input);
      const opts = checkEmbedOptions(options);
      if (channels.requestStart.hasSubscribers) {
        channels.requestStart.publish({ poolId: this.id, requestId, op: 'embed', texts: texts.length });
      }
      if (this.#state === 'closing' || this.#state === 'closed') throw new PoolClosedError();
      if (this.#state === 'failed') throw this.#failedError();
      if (opts.signal?.aborted) throw new AbortError('the call was aborted before it started', { cause: opts.signal.reason });

      // Texts already in the cache never reach a worker.
      const cache = this.#cache;
      const epoch = this.#cacheEpoch;
      let keys: string[] | undefined;
      let hits: (CachedVector | undefined)[] | undefined;
      let misses = texts;
      if (cache && texts.length > 0) {
        const prefix = `${opts.normalize ? 'n' : 'r'}${opts.pooling}${opts.truncate ? 't' : 'f'}`;
        keys = texts.map((text) => cache.key(prefix, text));
        hits = keys.map((key) => cache.get(key));
        misses = texts.filter((_, i) => hits![i] === undefined);
        stats.inc('cacheHits', texts.length - misses.length);
        if (misses.length > 0) stats.inc('cacheMisses', misses.length);
      }
      let result: PackedVectors | undefined;
      if (misses.length > 0) {
        if (this.#state === 'idle') this.#start();
        // Starting can fail at once (no worker thread could be created).
        if (this.state === 'failed') throw this.#failedError();
        call = this.#enqueue(misses, opts, began);
        result = await call.promise;
        if (hits && misses.length < texts.length && epoch !== this.#cacheEpoch) {
          // A reload began or ended meanwhile: the cached vectors may come from the other model.
          // Run the whole call again, as one call: one task, one worker, one model.
          hits = undefined;
          call = this.#enqueue(texts, opts, began);
          result = await call.promise;
        }
      }
      // The model's width is only needed when nothing came back: no texts at all.
      const packed = assemble(texts.length, hits, result, result ? 0 : (this.model?.dims ?? 0));
      if (cache && hits && result && result.dims[0] > 0 && epoch === this.#cacheEpoch && !this.#rolling) {
        const width = result.dims[1];
        let m = 0;
        for (let i = 0; i < texts.length; i++) {
          if (hits![i] !== undefined) continue;
          cache.set(keys![i]!, result.data.subarray(m * width, (m + 1) * width), call!.textTokens(m));
          m++;
        }
      }
      const runMs = call ? performance.now() - call.dispatchedAt : 0;
      if (call) stats.recordRun(runMs);
      stats.inc('texts', texts.length);
      if (result) stats.inc('tokens', result.tokens);
      stats.inc('completed');
      this.#publishEnd(requestId, texts.length, call ? call.dispatchedAt - began : 0, runMs, undefined);
      return asPacked ? packed : vectorsOf(packed, typeof input === 'string');
    } catch (error) {
      const admitted = call !== undefined && call.dispatchedAt > 0;
      const now = performance.now();
      if (admitted) stats.recordRun(now - call!.dispatchedAt);
      this.#countFailure(error, admitted);
      this.#publishEnd(requestId, texts.length, admitted ? call!.dispatchedAt - began : now - began, admitted ? now - call!.dispatchedAt : 0, error);
      throw error;
    }
  }

  /** Puts a call in the admission queue (throws `QueueFullError` at once when it is full). */
  #enqueue(texts: string[], opts: CheckedEmbedOptions, began: number): Call {
    const call = new Call(texts, opts, began);
    // Calls that free workers will take at the next dispatch do not count against maxQueue.
    this.#queue.push(call, texts.length, opts.signal, this.options.queueTimeout, this.#freeTaskSlots);
    // Calls made in the same tick share a task: sending waits for the microtask queue to drain.
    if (!this.#pumpScheduled) {
      this.#pumpScheduled = true;
      queueMicrotask(() => {
        this.#pumpScheduled = false;
        this.#pump();
      });
    }
    return call;
  }

  /** Sends waiting calls to free workers, coalescing them into tasks when batching is on. */
  #pump(): void {
    const { batching, maxBatchSize, maxBatchDelay } = this.options;
    if (this.#state === 'ready' && this.#queue.waiting > 0 && this.#supervisor.warm() === 0 && this.#supervisor.lastLoadError) {
      // No worker holds the model and the last attempt to load it failed: say so rather than wait.
      const cause = this.#supervisor.lastLoadError;
      this.#queue.rejectAll(() => new ModelLoadError(`no worker has the model loaded; the last attempt failed: ${cause.message}`, { cause }));
      return;
    }
    while (this.#freeTaskSlots > 0 && this.#queue.waiting > 0 && this.#fleet) {
      if (batching && maxBatchDelay > 0 && this.#queue.texts < maxBatchSize) {
        const waited = performance.now() - this.#queue.peek()!.began;
        if (waited < maxBatchDelay) {
          this.#delayTimer ??= setTimeout(() => {
            this.#delayTimer = undefined;
            this.#pump();
          }, maxBatchDelay - waited);
          return;
        }
      }
      // Spread what waits over the free workers rather than handing it all to the first one.
      // Idle workers first, each taking an equal share; only when every worker is busy do tasks
      // go to the slots where a worker keeps its next task (concurrentTasksPerWorker > 1).
      const idle = this.#fleet.idle;
      const share = Math.ceil(this.#queue.texts / (idle > 0 ? idle : this.#freeTaskSlots));
      const calls = batching ? this.#queue.take(Math.min(maxBatchSize, share), Infinity) : this.#queue.take(Infinity, 1);
      if (calls.length === 0) break;
      this.#freeTaskSlots--;
      this.#dispatch(calls);
    }
  }

  /** Runs a task on a worker. A caller may stop waiting (timeout, abort, close); the worker never is stopped mid-run. */
  #dispatch(calls: Call[]): void {
    const now = performance.now();
    // At most maxThreads x concurrency tasks run at once, so a cancel flag is always free.
    const cancelSlot = this.#freeCancelSlots.pop()!;
    const texts: string[] = [];
    const shape = new Int32Array(calls.length * 2);
    for (let c = 0; c < calls.length; c++) {
      const call = calls[c]!;
      for (const text of call.texts) texts.push(text);
      shape[2 * c] = call.texts.length;
      shape[2 * c + 1] = callFlags(call.opts.pooling, call.opts.normalize, call.opts.truncate);
    }
    const task: EmbedTask = { op: 'embed', texts, calls: shape, batchSize: this.options.batchSize, maxBatchTokens: this.options.maxBatchTokens, cancelSlot };
    const running = new RunningTask(calls, this.#control, cancelSlot, this.#stats);
    this.#running.add(running);
    const stats = this.#stats;
    stats.inc('tasks');
    stats.gaugeAdd('inFlight', calls.length);
    for (const call of calls) {
      stats.recordWait(now - call.began);
      call.dispatched(now, this.options.timeout, running);
    }
    this.#attempt(task, running, 0);
  }

  /** One attempt at a task. When its worker dies, embedding being pure, it runs again elsewhere. */
  #attempt(task: EmbedTask, running: RunningTask, attempt: number): void {
    this.#fleet!.run(task).then(
      (result: TaskResult) => {
        this.#taskDone(running);
        if ('error' in result) {
          for (const call of running.calls) call.fail(errorFromWire(result.error));
          return;
        }
        const { vectors, packed, width, tokens, errors } = result;
        for (const [c, error] of errors) running.calls[c]!.fail(errorFromWire(error));
        for (let c = 0, t = 0, p = 0; c < running.calls.length; c++) {
          const call = running.calls[c]!;
          const count = call.texts.length;
          let data = vectors[c];
          if (packed && isPackedCall(count, width)) {
            // A small call's vectors came in the task's shared buffer: copied out into a buffer of
            // the call's own, so no caller holds memory that another caller's vectors live in.
            if (!data && !call.settled) data = packed.slice(p, p + count * width);
            p += count * width;
          }
          if (data) call.finish(data, width, tokens, t);
          t += count;
        }
      },
      (error: unknown) => {
        const closing = this.#state === 'closing' || this.#state === 'closed';
        if (!closing && running.calls.some((call) => !call.settled) && attempt < this.options.retries && this.#fleet) {
          this.#stats.inc('retries');
          this.#attempt(task, running, attempt + 1);
          return;
        }
        this.#taskDone(running);
        for (const call of running.calls) {
          call.fail(
            closing
              ? new PoolClosedError('the pool closed before the call finished')
              : new WorkerExitedError(
                  `the worker running the call exited before answering (${attempt + 1} attempt${attempt === 0 ? '' : 's'}): ${describe(error)}`,
                  { cause: error },
                ),
          );
        }
      },
    );
  }

  #taskDone(running: RunningTask): void {
    this.#running.delete(running);
    const { cancelSlot } = running;
    Atomics.store(this.#control, cancelSlot, 0);
    this.#freeCancelSlots.push(cancelSlot);
    this.#freeTaskSlots++;
    this.#pump();
  }

  #countFailure(error: unknown, admitted: boolean): void {
    const stats = this.#stats;
    if (!admitted && (error instanceof QueueFullError || error instanceof PoolClosedError)) {
      stats.inc('rejected');
      return;
    }
    stats.inc('errors');
    if (error instanceof QueueTimeoutError) stats.inc('queueTimeouts');
    else if (error instanceof AbortError) stats.inc('aborted');
    else if (error instanceof TaskTimeoutError) stats.inc('timeouts');
    else if (error instanceof InvalidInputError) stats.inc('invalidInputs');
  }

  #publishEnd(requestId: number, texts: number, queueMs: number, runMs: number, error: unknown): void {
    if (!channels.requestEnd.hasSubscribers) return;
    const event: Record<string, unknown> = { poolId: this.id, requestId, op: 'embed', texts, queueMs, runMs };
    if (error !== undefined) event.error = error instanceof WarmpoolError ? error.code : describe(error);
    channels.requestEnd.publish(event);
  }

  async #close(timeout: number): Promise<void> {
    this.#state = 'closing';
    this.#queue.rejectAll(() => new PoolClosedError('the pool closed before the call reached a worker'));
    clearTimeout(this.#delayTimer);
    clearInterval(this.#healthTimer);
    this.#supervisor.stop();
    const fleet = this.#fleet;
    // No worker is added or replaced from now on; a reload under way rejects.
    fleet?.stop();
    await fleet?.whenIdle(timeout);
    // Past the deadline, callers still waiting are answered now, and workers drop what is left
    // of their tasks. A model run already inside onnxruntime is let finish: terminating a thread
    // in the middle of one aborts the whole process.
    for (const task of this.#running) {
      for (const call of task.calls) call.giveUp(new PoolClosedError('the pool closed before the call finished (close timeout passed)'));
    }
    Atomics.store(this.#control, CONTROL_ALL, 1);
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
 * The calls of one task. When every one of them has given up (timeout, abort, close), the task's
 * cancel flag tells the worker to skip the model runs left.
 */
class RunningTask {
  #waiting: number;

  constructor(
    readonly calls: Call[],
    readonly control: Int32Array,
    readonly cancelSlot: number,
    readonly stats: PoolStats,
  ) {
    this.#waiting = calls.length;
  }

  /** A call of the task settled, however. */
  left(): void {
    this.stats.gaugeAdd('inFlight', -1);
  }

  gaveUp(): void {
    if (--this.#waiting === 0) Atomics.store(this.control, this.cancelSlot, 1);
  }
}

/**
 * One caller's call, from the admission queue to its answer. It settles exactly once: with its
 * outcome, or earlier with a typed error when its deadline, its signal or the pool's close fires.
 */
class Call {
  readonly promise: Promise<PackedVectors>;
  dispatchedAt = 0;
  #resolve!: (result: PackedVectors) => void;
  /** The task's token counts, text by text, and where this call's texts begin among them. */
  #tokens: Int32Array | undefined;
  #tokensAt = 0;
  #reject!: (error: Error) => void;
  #settled = false;
  #timer: NodeJS.Timeout | undefined;
  #onAbort: (() => void) | undefined;
  #task: RunningTask | undefined;

  get settled(): boolean {
    return this.#settled;
  }

  constructor(
    readonly texts: string[],
    readonly opts: CheckedEmbedOptions,
    readonly began: number,
  ) {
    this.promise = new Promise<PackedVectors>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** The call reached a worker: from now on its own timeout and signal apply (the pool's close, through giveUp). */
  dispatched(now: number, poolTimeout: number, task: RunningTask): void {
    this.dispatchedAt = now;
    this.#task = task;
    const timeout = this.opts.timeout ?? poolTimeout;
    if (timeout !== Infinity) {
      this.#timer = setTimeout(() => {
        this.giveUp(new TaskTimeoutError(`the call ran longer than its timeout of ${timeout} ms; its result is discarded and the worker keeps its model`));
      }, timeout);
    }
    const signal = this.opts.signal;
    if (signal) {
      this.#onAbort = () => {
        this.giveUp(new AbortError('the call was aborted while running; its result is discarded and the worker keeps its model', { cause: signal.reason }));
      };
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** The call's vectors arrived: `data` is its own buffer; its texts' tokens are `tokens` from `tokensAt`. */
  finish(data: Float32Array, width: number, tokens: Int32Array, tokensAt: number): void {
    if (this.#settled) return;
    this.#settle();
    const count = this.texts.length;
    let sum = 0;
    for (let i = tokensAt; i < tokensAt + count; i++) sum += tokens[i]!;
    this.#tokens = tokens;
    this.#tokensAt = tokensAt;
    this.#resolve({ data, dims: [count, width], tokens: sum });
  }

  /** Tokens of the call's `i`-th text, once answered. */
  textTokens(i: number): number {
    return this.#tokens?.[this.#tokensAt + i] ?? 0;
  }

  fail(error: Error): void {
    if (this.#settled) return;
    this.#settle();
    this.#reject(error);
  }

  /** The caller stops waiting while the worker still runs the call. */
  giveUp(error: Error): void {
    if (this.#settled) return;
    this.#task?.gaveUp();
    this.fail(error);
  }

  #settle(): void {
    this.#settled = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#onAbort) this.opts.signal!.removeEventListener('abort', this.#onAbort);
    this.#task?.left();
  }
}

/** Puts cached and freshly embedded vectors of one call back together, in input order. */
function assemble(count: number, hits: (CachedVector | undefined)[] | undefined, result: PackedVectors | undefined, knownDims: number): PackedVectors {
  if (!hits || !hits.some((h) => h !== undefined)) return result ?? { data: new Float32Array(0), dims: [0, knownDims], tokens: 0 };
  // Tokens of the call's texts, whether the model saw them now or when they were cached.
  let tokens = result?.tokens ?? 0;
  const width = result?.dims[1] ?? hits.find((h) => h !== undefined)!.vector.length;
  const data = new Float32Array(count * width);
  for (let i = 0, m = 0; i < count; i++) {
    const hit = hits[i];
    if (hit) {
      data.set(hit.vector, i * width);
      tokens += hit.tokens;
    } else data.set(result!.data.subarray(m * width, ++m * width), i * width);
  }
  return { data, dims: [count, width], tokens };
}

/** A call's vectors as `embed` answers: the one vector of a string input, else one view per text over the call's buffer. */
function vectorsOf({ data, dims: [rows, width] }: PackedVectors, one: boolean): Float32Array | Float32Array[] {
  // One text: its buffer holds exactly its vector.
  if (one && data.length === width) return data;
  // Views over the call's one buffer: no copy per vector.
  const vectors = new Array<Float32Array>(rows);
  for (let r = 0; r < rows; r++) vectors[r] = data.subarray(r * width, (r + 1) * width);
  return one ? vectors[0]! : vectors;
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
