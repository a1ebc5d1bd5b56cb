import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { VectorCache, type CachedVector } from './cache.js';
import { CallQueue } from './call-queue.js';
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
import { Generation, type ModelInfo } from './generation.js';
import { resolveModel } from './model.js';
import { MAX_TIMER_MS, resolveOptions, type PoolOptions, type ResolvedOptions } from './options.js';
import { CONTROL_ALL, type CallOutcome, type EmbedResult, type EmbedTask, type ModelSpec, type TaskResult } from './protocol.js';
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

export type { ModelInfo } from './generation.js';

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
  readonly #closeController = new AbortController();
  readonly #control: Int32Array;
  readonly #freeCancelSlots: number[];
  readonly #supervisor: Supervisor;
  /** The workers that take new tasks; a rolling reload replaces them with a new generation. */
  #gen: Generation | undefined;
  readonly #retiring = new Set<Generation>();
  #generations = 0;
  #healthTimer: NodeJS.Timeout | undefined;
  #model: ModelSpec | undefined;
  #state: PoolState = 'idle';
  #failure: ModelLoadError | undefined;
  #closing: Promise<void> | undefined;
  #reloading: Promise<void> | undefined;
  #requestIds = 0;
  /** Created on the first collection call: the index worker is not started for a pool that only embeds. */
  #collections: CollectionsClient | undefined;

  constructor(options: PoolOptions = {}) {
    this.options = resolveOptions(options);
    const { maxThreads, concurrentTasksPerWorker, maxQueue } = this.options;
    // Room for replacements: a worker's slot is reused once it has exited.
    this.#stats = new PoolStats(StatsView.create(Math.max(8, maxThreads * 2)));
    // Every running call listens to it; that is expected, not a leak.
    setMaxListeners(Infinity, this.#closeController.signal);
    const maxInFlight = maxThreads * concurrentTasksPerWorker;
    this.#freeTaskSlots = maxInFlight;
    this.#queue = new CallQueue<Call>(maxQueue, (delta) => this.#stats.gaugeAdd('queued', delta));
    this.#cache = this.options.cacheBytes > 0 ? new VectorCache(this.options.cacheBytes) : undefined;
    // One cancel flag per task that can be in flight, plus the close-everything flag at index 0.
    this.#control = new Int32Array(new SharedArrayBuffer(4 * (maxInFlight + 1)));
    this.#freeCancelSlots = Array.from({ length: maxInFlight }, (_, i) => maxInFlight - i);
    this.#supervisor = new Supervisor({
      stats: this.#stats,
      concurrency: concurrentTasksPerWorker,
      healthTimeout: this.options.healthTimeout,
      recycleHeapMb: this.options.recycleHeapMb,
      terminate: (threadId) => {
        for (const gen of [this.#gen, ...this.#retiring]) if (gen?.terminate(threadId)) return;
      },
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

  /** The model's details once loaded, else undefined. */
  get model(): ModelInfo | undefined {
    return this.#gen?.info;
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
  async embed(input: string | readonly string[], options?: EmbedOptions): Promise<Float32Array | Float32Array[]> {
    const { data, dims } = await this.#call(input, options);
    const [rows, width] = dims;
    // Views over the one transferred buffer: no copy per vector.
    const vectors = new Array<Float32Array>(rows);
    for (let r = 0; r < rows; r++) vectors[r] = data.subarray(r * width, (r + 1) * width);
    return typeof input === 'string' ? vectors[0]! : vectors;
  }

  /** Like {@link WarmPool.embed}, but returns all vectors in one row-major `Float32Array`. */
  async embedPacked(input: string | readonly string[], options?: EmbedOptions): Promise<PackedVectors> {
    return this.#call(input, options);
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
    const warm = this.#gen?.warm ?? 0;
    const usable = this.#state === 'ready' || this.#state === 'starting';
    const status = !usable || warm === 0 ? 'unhealthy' : warm < wanted ? 'degraded' : 'healthy';
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
    return report;
  }

  /**
   * Rolling reload: starts workers with the new model settings, and once they are warm, sends new
   * calls to them and retires the old workers as their running calls finish. Capacity never dips
   * and no call fails because of the switch (memory briefly holds both models). Rejects with
   * `ModelLoadError`, keeping the current model, if the new one cannot be loaded.
   */
  reload(options: ReloadOptions = {}): Promise<void> {
    if (this.#reloading) return Promise.reject(new RangeError('a reload is already running'));
    this.#reloading = this.#reload(options).finally(() => {
      this.#reloading = undefined;
    });
    return this.#reloading;
  }

  async #reload(changes: ReloadOptions): Promise<void> {
    if (typeof changes !== 'object' || changes === null) throw new TypeError(`reload options must be an object, received ${String(changes)}`);
    for (const key of Object.keys(changes)) {
      if (!['model', 'dtype', 'allowRemoteModels', 'cacheDir'].includes(key)) {
        throw new TypeError(`reload takes model, dtype, allowRemoteModels and cacheDir; received ${JSON.stringify(key)}`);
      }
    }
    if (this.#state === 'idle') this.#start();
    await this.ready();
    if (this.#state !== 'ready') throw new PoolClosedError();
    const o = this.options;
    const merged = resolveOptions({ model: o.model, dtype: o.dtype, allowRemoteModels: o.allowRemoteModels, cacheDir: o.cacheDir, ...changes, env: false });
    const model = resolveModel(merged);
    let next: Generation;
    try {
      next = this.#newGeneration(model);
    } catch (error) {
      throw cannotStart(model, error);
    }
    const outcome = await new Promise<ModelLoadError | undefined>((resolve) => {
      const check = (): void => {
        if (next.warm >= o.minThreads) resolve(undefined);
      };
      next.onReadyChange = check;
      next.onLoadError = (error) => resolve(error);
      check();
    });
    next.onReadyChange = undefined;
    next.onLoadError = undefined;
    if (outcome || this.#state !== 'ready') {
      await next.destroy();
      throw outcome ? new ModelLoadError(`reload failed, the pool keeps its current model: ${outcome.message}`, { cause: outcome }) : new PoolClosedError();
    }
    const old = this.#gen!;
    this.#gen = next;
    this.#model = model;
    this.#supervisor.current = next.number;
    this.#cache?.clear();
    this.#stats.inc('reloads');
    this.#pump();
    this.#retiring.add(old);
    await old.whenIdle(Infinity);
    await old.disposeSessions();
    await old.destroy();
    this.#retiring.delete(old);
  }

  #start(): void {
    if (this.#state !== 'idle' || !this.#model) return;
    this.#state = 'starting';
    try {
      this.#gen = this.#newGeneration(this.#model);
    } catch (error) {
      this.#fail(cannotStart(this.#model, error));
      return;
    }
    this.#supervisor.current = this.#gen.number;
    this.#healthTimer = setInterval(() => {
      this.#gen?.rescan();
      this.#supervisor.check();
    }, this.options.healthInterval);
    this.#healthTimer.unref();
  }

  #newGeneration(model: ModelSpec): Generation {
    const number = ++this.#generations;
    const gen: Generation = new Generation({
      poolId: this.id,
      number,
      model,
      options: this.options,
      statsBuffer: this.#stats.buffer,
      control: this.#control.buffer as SharedArrayBuffer,
      supervisor: this.#supervisor,
      inNative: (threadId) => {
        const slot = this.#stats.slotOf(threadId);
        return slot >= 0 && this.#stats.inNative(slot);
      },
      events: {
        ready: (threadId, loadMs) => {
          if (channels.workerReady.hasSubscribers) channels.workerReady.publish({ poolId: this.id, threadId, loadMs });
          gen.onReadyChange?.();
          if (this.#state === 'starting' && gen === this.#gen && gen.warm >= this.options.minThreads) {
            this.#state = 'ready';
            this.#ready.resolve();
          }
        },
        loadError: (threadId, error) => {
          this.#publishWorkerError(threadId, error);
          gen.onLoadError?.(error);
          // Before the pool was ever ready a load error means the model is unusable: fail fast.
          if (this.#state === 'starting' && gen === this.#gen) this.#fail(error);
        },
        exit: (threadId, exitCode) => {
          this.#stats.workerExited(threadId);
          const closing = this.#state === 'closing' || this.#state === 'closed';
          const how = this.#supervisor.exited(threadId, closing, () => {
            const cause = gen.lastWorkerError;
            gen.lastWorkerError = undefined;
            const why = cause === undefined ? '' : `: ${describe(cause)}`;
            return new ModelLoadError(`a worker exited (code ${exitCode}) while loading model ${model.label}${why}`, { cause });
          });
          if (channels.workerExit.hasSubscribers) channels.workerExit.publish({ poolId: this.id, threadId });
          if (how === 'load-crash') this.#onLoadCrash(gen);
        },
        error: (threadId, error) => this.#publishWorkerError(threadId, error),
      },
    });
    return gen;
  }

  /**
   * A worker died while loading the model. At start-up, a few in a row mean the model cannot be
   * loaded: fail rather than let Piscina respawn forever. Later, Piscina may stop respawning
   * quietly, so after a backoff a fresh generation of workers tries again, until one loads.
   */
  #onLoadCrash(gen: Generation): void {
    const error = this.#supervisor.lastLoadError as ModelLoadError;
    this.#publishWorkerError(undefined, error);
    gen.onLoadError?.(error);
    if (gen !== this.#gen) return;
    if (this.#state === 'starting') {
      if (this.#supervisor.consecutiveLoadFailures >= START_CRASH_LIMIT) this.#fail(error);
      return;
    }
    this.#pump();
    this.#supervisor.later(this.#supervisor.backoff, () => this.#revive(gen));
  }

  /** Starts a fresh generation when the current one has too few workers and none coming. */
  #revive(gen: Generation): void {
    if (this.#state !== 'ready' || gen !== this.#gen || gen.warm >= this.options.minThreads) return;
    if (gen.piscina.threads.length >= this.options.minThreads) return;
    let next: Generation;
    try {
      next = this.#newGeneration(gen.model);
    } catch (error) {
      // Out of threads or memory for now: say so, and try again after the backoff.
      this.#publishWorkerError(undefined, cannotStart(gen.model, error));
      this.#supervisor.later(this.#supervisor.backoff, () => this.#revive(gen));
      return;
    }
    this.#gen = next;
    this.#supervisor.current = next.number;
    this.#retiring.add(gen);
    void gen
      .whenIdle(Infinity)
      .then(() => gen.destroy())
      .catch(() => {})
      .finally(() => this.#retiring.delete(gen));
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
    const gen = this.#gen;
    this.#gen = undefined;
    void gen?.destroy().catch(() => {});
  }

  #failedError(): ModelLoadError {
    return new ModelLoadError(this.#failure!.message, { cause: this.#failure });
  }

  async #call(input: unknown, options: unknown): Promise<PackedVectors> {
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
      let result: EmbedResult | undefined;
      if (misses.length > 0) {
        if (this.#state === 'idle') this.#start();
        // Starting can fail at once (no worker thread could be created).
        if (this.state === 'failed') throw this.#failedError();
        call = this.#enqueue(misses, opts, began);
        result = await call.promise;
      }
      const packed = assemble(texts.length, hits, result, this.#gen?.info?.dims ?? 0);
      if (cache && result && result.dims[0] > 0) {
        const width = result.dims[1];
        let m = 0;
        for (let i = 0; i < texts.length; i++) {
          if (hits![i] !== undefined) continue;
          cache.set(keys![i]!, result.data.subarray(m * width, (m + 1) * width), result.textTokens[m] ?? 0);
          m++;
        }
      }
      const runMs = call ? performance.now() - call.dispatchedAt : 0;
      if (call) stats.recordRun(runMs);
      stats.inc('texts', texts.length);
      if (result) stats.inc('tokens', result.tokens);
      stats.inc('completed');
      this.#publishEnd(requestId, texts.length, call ? call.dispatchedAt - began : 0, runMs, undefined);
      return packed;
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
    this.#queue.push(call, texts.length, (error) => call.fail(error), opts.signal, this.options.queueTimeout, this.#freeTaskSlots);
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
    while (this.#freeTaskSlots > 0 && this.#queue.waiting > 0 && this.#gen) {
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
      const share = Math.ceil(this.#queue.texts / this.#freeTaskSlots);
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
    const task: EmbedTask = {
      op: 'embed',
      calls: calls.map((c) => ({ texts: c.texts, pooling: c.opts.pooling, normalize: c.opts.normalize, truncate: c.opts.truncate })),
      batchSize: this.options.batchSize,
      maxBatchTokens: this.options.maxBatchTokens,
      cancelSlot,
    };
    this.#stats.inc('tasks');
    let waiting = calls.length;
    // When every caller of the task has given up, the worker skips the model runs left.
    const gaveUp = (): void => {
      if (--waiting === 0) Atomics.store(this.#control, cancelSlot, 1);
    };
    for (const call of calls) {
      this.#stats.recordWait(now - call.began);
      this.#stats.gaugeAdd('inFlight', 1);
      call.dispatched(now, this.options.timeout, this.#closeController.signal, gaveUp, () => this.#stats.gaugeAdd('inFlight', -1));
    }
    this.#attempt(task, calls, 0);
  }

  /** One attempt at a task. When its worker dies, embedding being pure, it runs again elsewhere. */
  #attempt(task: EmbedTask, calls: Call[], attempt: number): void {
    this.#gen!.run(task).then(
      (result: TaskResult) => {
        this.#taskDone(task.cancelSlot);
        if ('error' in result) {
          for (const call of calls) call.fail(errorFromWire(result.error));
          return;
        }
        calls.forEach((call, i) => call.finish(result.outcomes[i]!));
      },
      (error: unknown) => {
        const closing = this.#state === 'closing' || this.#state === 'closed';
        const live = calls.filter((call) => !call.settled);
        if (!closing && live.length > 0 && attempt < this.options.retries && this.#gen) {
          this.#stats.inc('retries');
          this.#attempt(task, calls, attempt + 1);
          return;
        }
        this.#taskDone(task.cancelSlot);
        for (const call of calls) {
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

  #taskDone(cancelSlot: number): void {
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
    const gens = [this.#gen, ...this.#retiring].filter((g): g is Generation => g !== undefined);
    await Promise.all(gens.map((g) => g.whenIdle(timeout)));
    // Past the deadline, callers still waiting are answered now, and workers drop what is left
    // of their tasks. A model run already inside onnxruntime is let finish: terminating a thread
    // in the middle of one aborts the whole process.
    this.#closeController.abort();
    Atomics.store(this.#control, CONTROL_ALL, 1);
    await Promise.all(gens.map((g) => g.untilOutOfOnnxruntime(true)));
    await Promise.all(gens.map((g) => g.disposeSessions()));
    await Promise.all(gens.map((g) => g.destroy()));
    this.#gen = undefined;
    await this.#collections?.close();
    this.#state = 'closed';
    if (!this.#ready.settled) this.#ready.reject(new PoolClosedError('the pool closed before it was ready'));
  }
}

/**
 * One caller's call, from the admission queue to its answer. It settles exactly once: with its
 * outcome, or earlier with a typed error when its deadline, its signal or the pool's close fires.
 */
class Call {
  readonly promise: Promise<EmbedResult>;
  dispatchedAt = 0;
  #resolve!: (result: EmbedResult) => void;
  #reject!: (error: Error) => void;
  #settled = false;
  #timer: NodeJS.Timeout | undefined;

  get settled(): boolean {
    return this.#settled;
  }

  #closed: AbortSignal | undefined;
  #onAbort: (() => void) | undefined;
  #gaveUp: (() => void) | undefined;
  #left: (() => void) | undefined;

  constructor(
    readonly texts: string[],
    readonly opts: CheckedEmbedOptions,
    readonly began: number,
  ) {
    this.promise = new Promise<EmbedResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** The call reached a worker: from now on its own timeout, signal and the pool's close apply. */
  dispatched(now: number, poolTimeout: number, closed: AbortSignal, gaveUp: () => void, left: () => void): void {
    this.dispatchedAt = now;
    this.#gaveUp = gaveUp;
    this.#left = left;
    this.#closed = closed;
    const timeout = this.opts.timeout ?? poolTimeout;
    if (timeout !== Infinity) {
      this.#timer = setTimeout(() => {
        this.#giveUp(new TaskTimeoutError(`the call ran longer than its timeout of ${timeout} ms; its result is discarded and the worker keeps its model`));
      }, timeout);
    }
    this.#onAbort = () => {
      if (closed.aborted) this.#giveUp(new PoolClosedError('the pool closed before the call finished (close timeout passed)'));
      else this.#giveUp(new AbortError('the call was aborted while running; its result is discarded and the worker keeps its model', { cause: this.opts.signal!.reason }));
    };
    this.opts.signal?.addEventListener('abort', this.#onAbort, { once: true });
    closed.addEventListener('abort', this.#onAbort, { once: true });
  }

  finish(outcome: CallOutcome): void {
    if (this.#settled) return;
    if ('error' in outcome) {
      this.fail(errorFromWire(outcome.error));
      return;
    }
    this.#settle();
    this.#resolve(outcome);
  }

  fail(error: Error): void {
    if (this.#settled) return;
    this.#settle();
    this.#reject(error);
  }

  #giveUp(error: Error): void {
    if (this.#settled) return;
    this.#gaveUp?.();
    this.fail(error);
  }

  #settle(): void {
    this.#settled = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#onAbort) {
      this.opts.signal?.removeEventListener('abort', this.#onAbort);
      this.#closed?.removeEventListener('abort', this.#onAbort);
    }
    this.#left?.();
  }
}

/** Puts cached and freshly embedded vectors of one call back together, in input order. */
function assemble(count: number, hits: (CachedVector | undefined)[] | undefined, result: EmbedResult | undefined, knownDims: number): PackedVectors {
  // Tokens of the call's texts, whether the model saw them now or when they were cached.
  let tokens = result?.tokens ?? 0;
  if (!hits || !hits.some((h) => h !== undefined)) {
    return result ? { data: result.data, dims: result.dims, tokens } : { data: new Float32Array(0), dims: [0, knownDims], tokens };
  }
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

/** Creating the worker threads failed (the Worker constructor throws, e.g. EAGAIN when out of threads or memory). */
function cannotStart(model: ModelSpec, error: unknown): ModelLoadError {
  return new ModelLoadError(`could not start a worker thread for model ${model.label}: ${describe(error)}`, { cause: error });
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
