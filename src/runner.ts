/**
 * One model of a pool, and everything that serves it: its workers (`fleet.ts`), its admission
 * queue and dispatch (`dispatcher.ts`), its supervisor, its stats buffer, its cache and its life
 * cycle (start, failure, rolling reload, close). {@link WarmPool} holds one per model and routes
 * each call to its model's runner; a one-model pool is one runner named `'default'`.
 */
import { performance } from 'node:perf_hooks';
import { assemble, vectorsOf } from './answer.js';
import type { CoreBudget } from './budget.js';
import { CallCache, type CacheLookup } from './cache.js';
import type { Call, CallResult } from './call.js';
import { CallLog } from './call-log.js';
import { deferred } from './deferred.js';
import { checkDimensions, shortenPacked } from './dimensions.js';
import { Dispatcher } from './dispatcher.js';
import { AbortError, InvalidInputError, ModelLoadError, PoolClosedError, describe } from './errors.js';
import { channels } from './events.js';
import { Fleet, cannotStart } from './fleet.js';
import { checkEmbedOptions, defaultEmbedOptions, normalizeTexts, type CheckedEmbedOptions } from './inputs.js';
import { resolveModel } from './model.js';
import { checkReloadOptions, reloadedOptions, type ReloadOptions, type ResolvedModel, type ResolvedOptions } from './options.js';
import type { ModelSpec } from './protocol.js';
import type { MemoryTracker } from './memory.js';
import { PoolStats, StatsView, type StatsSnapshot } from './stats.js';
import { Supervisor } from './supervisor.js';
import type { HealthReport, IndexHealth, ModelInfo, ModelTask, PackedVectors, PoolState } from './types.js';

/** Workers that die while loading, in a row, before a model that never started gives up. */
const START_CRASH_LIMIT = 2;

export class ModelRunner {
  readonly name: string;
  readonly task: ModelTask;
  /** The options this model runs with: the pool's, with its entry's over them. */
  options: ResolvedOptions;
  readonly #poolId: string;
  readonly #entry: ResolvedModel;
  readonly #budget: CoreBudget;
  readonly #stats: PoolStats;
  readonly #log: CallLog;
  readonly #dispatcher: Dispatcher;
  readonly #cache: CallCache | undefined;
  readonly #ready = deferred<void>();
  readonly #supervisor: Supervisor;
  #fleet: Fleet | undefined;
  /** The pool's memory samples: told before the first worker starts and whenever one is ready. */
  readonly #memory: MemoryTracker | undefined;
  #healthTimer: NodeJS.Timeout | undefined;
  #spec: ModelSpec | undefined;
  #defaults = defaultEmbedOptions('mean');
  #defaultsOf: ModelSpec | undefined;
  #state: PoolState = 'idle';
  #failure: ModelLoadError | undefined;
  #reloading: Promise<void> | undefined;

  constructor(poolId: string, entry: ResolvedModel, budget: CoreBudget, memory?: MemoryTracker) {
    this.#poolId = poolId;
    this.#memory = memory;
    this.#entry = entry;
    this.#budget = budget;
    this.name = entry.name;
    this.task = entry.task;
    this.options = entry.options;
    // Room for replacements: a worker's slot is reused once it has exited.
    this.#stats = new PoolStats(StatsView.create(Math.max(8, this.options.maxThreads * 2)));
    this.#log = new CallLog(poolId, this.#stats, this.name, this.task);
    // Only an embedder's answers depend on the text alone.
    this.#cache = this.task === 'embed' && this.options.cacheBytes > 0 ? new CallCache(this.options.cacheBytes, this.#stats) : undefined;
    this.#supervisor = new Supervisor({
      stats: this.#stats,
      healthTimeout: this.options.healthTimeout,
      loadTimeout: this.options.loadTimeout,
      loadTimedOut: (threadId, error) => this.#publishWorkerError(threadId, error),
      recycleHeapMb: this.options.recycleHeapMb,
      terminate: (threadId) => this.#fleet?.terminate(threadId),
      endLoad: (threadId) => this.#fleet?.endLoad(threadId),
      recycle: (threadId) => this.#fleet?.recycle(threadId) ?? false,
      onChange: () => this.#dispatcher.pump(),
    });
    this.#dispatcher = new Dispatcher(this.options, this.#stats, this.#supervisor, {
      state: () => this.#state,
      fleet: () => this.#fleet,
      task: this.task,
      failedError: () => this.failedError(),
    });
    try {
      this.#spec = resolveModel(this.options, entry);
    } catch (error) {
      this.#fail(error as ModelLoadError);
    }
  }

  get state(): PoolState {
    return this.#state;
  }

  /** The model's details once a worker has loaded it; during a reload, the model being replaced. */
  get model(): ModelInfo | undefined {
    return this.#spec && this.#fleet?.infoOf(this.#spec);
  }

  /** What the model option names (a bundled name, a folder, a hub id; a custom task's module). */
  get source(): string {
    return this.#spec?.label ?? this.options.model;
  }

  get statsBuffer(): SharedArrayBuffer {
    return this.#stats.buffer;
  }

  get failure(): ModelLoadError | undefined {
    return this.#failure;
  }

  stats(): StatsSnapshot {
    return this.#stats.snapshot();
  }

  /** This model's workers for the memory estimate: warm ones (whatever their role), and whether any is loading. */
  get census(): { warm: number; loading: boolean } {
    return this.#fleet?.census ?? { warm: 0, loading: false };
  }

  ready(): Promise<void> {
    if (this.#state === 'idle') this.start();
    return this.#ready.promise;
  }

  health(index?: IndexHealth): HealthReport {
    const report = this.#supervisor.report(this.#state, this.#unloaded ? 0 : this.options.minThreads, this.#fleet?.warm ?? 0, index);
    const weights = this.model?.weights;
    if (weights) report.weights = weights;
    return report;
  }

  /** Whether unload() let every worker go, and no warm() has brought them back since. */
  #unloaded = false;

  /**
   * Lets every worker go (each finishes its running calls first): no model in memory until the
   * next call, which warms a worker again, or warm(). Resolves once they are gone.
   */
  async unload(): Promise<void> {
    if (this.#state === 'idle' || this.#state === 'failed' || !this.#fleet) return;
    if (this.#state === 'starting') await this.ready().catch(() => {});
    this.#unloaded = true;
    await this.#fleet?.unload();
  }

  /** Brings back `threads.min` warm workers (at least one), and resolves once they are warm. */
  async warm(): Promise<void> {
    if (this.#state === 'idle') this.start();
    if (this.#state === 'failed') throw this.failedError();
    if (this.#state === 'closing' || this.#state === 'closed') throw new PoolClosedError();
    this.#unloaded = false;
    await this.#fleet!.warmTo(Math.max(1, this.options.minThreads));
  }

  start(): void {
    if (this.#state !== 'idle' || !this.#spec) return;
    this.#state = 'starting';
    const spec = this.#spec;
    // The baseline: the process before this model's first worker (when no other model's is loading).
    this.#memory?.settled();
    try {
      this.#fleet = this.#newFleet(spec);
    } catch (error) {
      // The thread could not be created at all (out of threads or memory): a typed failure, not a throw.
      this.#fail(cannotStart(spec, error));
      return;
    }
    if (this.options.minThreads === 0) {
      // Scaled to zero from the start: nothing to warm; the first call starts a worker.
      this.#state = 'ready';
      this.#ready.resolve();
    }
    this.#healthTimer = setInterval(() => {
      this.#fleet?.rescan();
      this.#supervisor.check();
    }, this.options.healthInterval);
    this.#healthTimer.unref();
  }

  reload(changes: ReloadOptions): Promise<void> {
    if (this.#reloading) return Promise.reject(new RangeError(`a reload is already running (model "${this.name}")`));
    this.#reloading = this.#reload(changes).finally(() => {
      this.#reloading = undefined;
    });
    return this.#reloading;
  }

  async #reload(changes: ReloadOptions): Promise<void> {
    checkReloadOptions(changes);
    if (this.#state === 'idle') this.start();
    await this.ready();
    if (this.#state !== 'ready' || !this.#fleet) throw new PoolClosedError();
    const merged = { ...reloadedOptions(this.options, changes), task: this.options.task, models: this.options.models };
    const spec = resolveModel(merged, this.#entry);
    // While both models serve, the cache holds neither: a cached vector must come from the model
    // that answers the rest of its call.
    this.#cache?.beginRoll();
    try {
      await this.#fleet.roll(spec);
    } catch (error) {
      if (error instanceof ModelLoadError) {
        throw new ModelLoadError(`reload failed, the pool keeps its current model: ${error.message}`, { cause: error });
      }
      throw error;
    } finally {
      this.#cache?.endRoll();
    }
    if (this.#state !== 'ready') throw new PoolClosedError();
    this.#spec = spec;
    this.options = Object.freeze({ ...this.options, model: merged.model, dtype: merged.dtype, allowRemoteModels: merged.allowRemoteModels, cacheDir: merged.cacheDir });
    this.#stats.inc('reloads');
  }

  #newFleet(spec: ModelSpec): Fleet {
    const publish = { poolId: this.#poolId, model: this.name };
    return new Fleet({
      poolId: this.#poolId,
      model: spec,
      options: this.options,
      stats: this.#stats,
      control: this.#dispatcher.controlBuffer,
      supervisor: this.#supervisor,
      budget: this.#budget,
      events: {
        ready: (threadId, loadMs) => {
          if (channels.workerReady.hasSubscribers) channels.workerReady.publish({ ...publish, threadId, loadMs });
          this.#settleStart();
          this.#memory?.settled();
        },
        loadError: (threadId, error, serving) => {
          this.#publishWorkerError(threadId, error);
          if (serving && this.#state === 'starting') this.#settleStart(error);
        },
        exit: (threadId) => {
          if (channels.workerExit.hasSubscribers) channels.workerExit.publish({ ...publish, threadId });
        },
        loadCrash: (error, serving) => this.#onLoadCrash(error, serving),
        error: (threadId, error) => this.#publishWorkerError(threadId, error),
      },
    });
  }

  /**
   * At start: ready once `threads.min` workers are warm, or, when some failed to load (`failure`)
   * and none is loading any more, ready with those that did (degraded: the others are replaced
   * after a backoff by supervision) or failed when none did: a model that no worker could load
   * is unusable, and its calls are told so at once.
   */
  #settleStart(failure?: ModelLoadError): void {
    if (this.#state !== 'starting') return;
    const fleet = this.#fleet;
    const warm = fleet?.warm ?? 0;
    if (warm >= this.options.minThreads) {
      this.#state = 'ready';
      this.#ready.resolve();
      return;
    }
    if (fleet?.loading) {
      if (failure) this.#startFailure = failure;
      return;
    }
    failure ??= this.#startFailure;
    if (!failure) return;
    if (warm > 0) {
      this.#state = 'ready';
      this.#ready.resolve();
    } else {
      this.#fail(failure);
    }
  }

  /** A load error at start, kept until every worker of the start has loaded or failed. */
  #startFailure: ModelLoadError | undefined;

  /**
   * A worker died while loading the model. At start-up, a few in a row mean the model cannot be
   * loaded: fail rather than let Piscina respawn forever. Later, calls that wait are told at once
   * when no worker holds the model; the fleet starts a fresh worker after a backoff.
   */
  #onLoadCrash(error: ModelLoadError, serving: boolean): void {
    this.#publishWorkerError(undefined, error);
    if (!serving) return;
    if (this.#state === 'starting') {
      // With a worker warm, the start is degraded, not failed: serve with it.
      if ((this.#fleet?.warm ?? 0) > 0) this.#settleStart(error);
      else if (this.#supervisor.consecutiveLoadFailures >= START_CRASH_LIMIT) this.#fail(error);
      return;
    }
    this.#dispatcher.pump();
  }

  #publishWorkerError(threadId: number | undefined, error: unknown): void {
    if (channels.workerError.hasSubscribers) {
      channels.workerError.publish({ poolId: this.#poolId, model: this.name, threadId, error: error instanceof Error ? error : new Error(describe(error)) });
    }
  }

  #fail(error: ModelLoadError): void {
    this.#state = 'failed';
    this.#failure = error;
    this.#ready.reject(error);
    // A pool that never awaits ready() must not see an unhandled rejection.
    this.#ready.promise.catch(() => {});
    this.#dispatcher.rejectWaiting(() => this.failedError());
    clearInterval(this.#healthTimer);
    this.#supervisor.stop();
    const fleet = this.#fleet;
    this.#fleet = undefined;
    // Workers still loading see this flag before they enter onnxruntime, so they can be ended now.
    this.#dispatcher.stopAll();
    void fleet?.destroy().catch(() => {});
  }

  failedError(): ModelLoadError {
    return new ModelLoadError(this.#failure!.message, { cause: this.#failure });
  }

  /** One embed call, answered packed (`embedPacked`) or as vectors (`embed`: one for a string, else one per text). */
  async embed(input: unknown, options: unknown, asPacked: boolean): Promise<PackedVectors | Float32Array | Float32Array[]> {
    const began = performance.now();
    const log = this.#log;
    const requestId = log.begin();
    let texts: string[] = [];
    let call: Call | undefined;
    try {
      texts = normalizeTexts(input);
      const model = this.#spec;
      if (model !== this.#defaultsOf) {
        this.#defaults = defaultEmbedOptions(model?.pooling ?? 'mean');
        this.#defaultsOf = model;
      }
      const opts = checkEmbedOptions(options, this.#defaults);
      log.started(requestId, texts.length, opts.priority === 'batch');
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

  /**
   * One call of a rerank, classify or custom model: `texts` (checked by the caller) with the
   * call's options, the query of a rerank call, the inputs of a custom one. Resolves to the rows
   * of scores (raw logits), or a custom call's outputs in `values`.
   */
  async run(texts: string[], opts: CheckedEmbedOptions, extra: { pair?: string; inputs?: unknown[] } = {}): Promise<CallResult> {
    const began = performance.now();
    const log = this.#log;
    const requestId = log.begin();
    const size = extra.inputs?.length ?? texts.length;
    let call: Call | undefined;
    try {
      log.started(requestId, size, opts.priority === 'batch');
      this.#checkCanRun(opts);
      let result: CallResult;
      if (size === 0) {
        result = { data: new Float32Array(0), dims: [0, this.model?.dims ?? 0], tokens: 0, values: extra.inputs ? [] : undefined };
      } else {
        call = this.#admit(texts, opts, began, extra);
        result = await call.promise;
      }
      log.succeeded(requestId, began, size, call, result);
      return result;
    } catch (error) {
      log.failed(requestId, began, size, call, error);
      throw error;
    }
  }

  /** Throws when the model takes no call now (closing, closed or failed), or the call was aborted before it started. */
  #checkCanRun(opts: CheckedEmbedOptions): void {
    if (this.#state === 'closing' || this.#state === 'closed') throw new PoolClosedError();
    if (this.#state === 'failed') throw this.failedError();
    if (opts.signal?.aborted) throw new AbortError('the call was aborted before it started', { cause: opts.signal.reason });
  }

  /** Queues a call for a worker (a lazy model starts here). */
  #admit(texts: string[], opts: CheckedEmbedOptions, began: number, extra?: { pair?: string; inputs?: unknown[] }): Call {
    if (this.#state === 'idle') this.start();
    // Starting can fail at once (no worker thread could be created).
    if (this.#state === 'failed') throw this.failedError();
    return this.#dispatcher.enqueue(texts, opts, began, extra);
  }

  /**
   * Stops admission, rejects waiting calls, lets running calls finish until `timeout`, frees the
   * sessions and ends the workers. Called once, by the pool's close().
   */
  async close(timeout: number): Promise<void> {
    const wasFailed = this.#state === 'failed';
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
    this.#state = 'closed';
    if (!this.#ready.settled && !wasFailed) {
      this.#ready.reject(new PoolClosedError('the pool closed before it was ready'));
      this.#ready.promise.catch(() => {});
    }
  }
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
