import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { AdmissionQueue } from './admission.js';
import { preferUnpacked } from './asar-path.js';
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
import { resolveModel } from './model.js';
import { resolveOptions, type PoolOptions, type ResolvedOptions } from './options.js';
import {
  CONTROL_ALL,
  MESSAGE_TAG,
  broadcastName,
  type EmbedResult,
  type EmbedTask,
  type ModelSpec,
  type TaskResult,
  type WorkerConfig,
  type WorkerMessage,
} from './protocol.js';
import { PoolStats, StatsView, type StatsSnapshot } from './stats.js';

/** How long close() lets a model run already inside onnxruntime finish before terminating anyway. */
const NATIVE_RUN_GRACE_MS = 60_000;

// Handed to workers: see WorkerConfig.piscinaUrl.
const PISCINA_URL = import.meta.resolve('piscina');
// Inside a packaged Electron app the worker is loaded from the unpacked copy of the archive.
const WORKER_FILE = preferUnpacked(fileURLToPath(new URL('../workers/embed-worker.js', import.meta.url)));

/** Vectors in one row-major block: `dims[0]` vectors of `dims[1]` floats. */
export interface PackedVectors {
  data: Float32Array;
  dims: [number, number];
  /** Tokens the model saw for this call, special tokens included, after truncation (e.g. for usage reports). */
  tokens: number;
}

/** What the pool knows of its model once a worker has loaded it. */
export interface ModelInfo {
  /** The model's path on disk, or its hub id. */
  model: string;
  dtype: string;
  /** Vector length. */
  dims: number;
  /** Longest input in tokens (special tokens included); longer texts are truncated by default. */
  maxTokens: number;
}

export type PoolState = 'idle' | 'starting' | 'ready' | 'failed' | 'closing' | 'closed';

export interface CloseOptions {
  /** Milliseconds to let running calls finish; defaults to the pool's `closeTimeout`. */
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
  readonly #admission: AdmissionQueue;
  readonly #ready = deferred<void>();
  readonly #readyThreads = new Set<number>();
  readonly #closeController = new AbortController();
  readonly #control: Int32Array;
  readonly #freeCancelSlots: number[];
  #piscina: Piscina | undefined;
  #model: ModelSpec | undefined;
  #info: ModelInfo | undefined;
  #state: PoolState = 'idle';
  #failure: ModelLoadError | undefined;
  #closing: Promise<void> | undefined;
  #requestIds = 0;
  #activeTasks = 0;
  #onIdle: (() => void)[] = [];
  #onDisposed: ((threadId: number) => void) | undefined;

  constructor(options: PoolOptions = {}) {
    this.options = resolveOptions(options);
    const { maxThreads, concurrentTasksPerWorker, maxQueue } = this.options;
    // Room for replacements: a worker's slot is reused once it has exited.
    this.#stats = new PoolStats(StatsView.create(Math.max(8, maxThreads * 2)));
    // Every running call listens to it; that is expected, not a leak.
    setMaxListeners(Infinity, this.#closeController.signal);
    const maxInFlight = maxThreads * concurrentTasksPerWorker;
    this.#admission = new AdmissionQueue(maxInFlight, maxQueue, (delta) => this.#stats.gaugeAdd('queued', delta));
    // One cancel flag per task that can be in flight, plus the close-everything flag at index 0.
    this.#control = new Int32Array(new SharedArrayBuffer(4 * (maxInFlight + 1)));
    this.#freeCancelSlots = Array.from({ length: maxInFlight }, (_, i) => maxInFlight - i);
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
    return this.#info;
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

  /**
   * Stops admission, rejects waiting calls with `PoolClosedError`, lets running calls finish
   * until `timeout`, frees the model sessions and terminates the workers. Idempotent.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    const timeout = options.timeout ?? this.options.closeTimeout;
    if (!(typeof timeout === 'number' && timeout >= 0)) {
      return Promise.reject(new RangeError(`close timeout must be a non-negative number of milliseconds, received ${String(timeout)}`));
    }
    this.#closing = this.#close(timeout);
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #start(): void {
    if (this.#state !== 'idle' || !this.#model) return;
    this.#state = 'starting';
    const { minThreads, maxThreads, idleTimeout, concurrentTasksPerWorker, intraOpThreads } = this.options;
    const workerData: WorkerConfig = {
      poolId: this.id,
      model: this.#model,
      intraOpThreads,
      statsBuffer: this.#stats.buffer,
      control: this.#control.buffer as SharedArrayBuffer,
      piscinaUrl: PISCINA_URL,
    };
    const piscina = new Piscina({
      filename: WORKER_FILE,
      minThreads,
      maxThreads,
      idleTimeout,
      concurrentTasksPerWorker,
      // Admission is bounded in front of Piscina; it never holds more than maxThreads x concurrency tasks.
      maxQueue: Infinity,
      // Workers wait on their message port, not in Atomics.wait(), so their event loop stays free
      // for pool messages (dispose) while idle.
      atomics: 'disabled',
      workerData,
    });
    piscina.on('message', (message: WorkerMessage) => this.#onWorkerMessage(message));
    piscina.on('workerDestroy', (worker: { id: number }) => this.#onWorkerExit(worker.id));
    // Without a listener an 'error' event would throw in the main thread.
    piscina.on('error', (error: unknown) => this.#publishWorkerError(undefined, error));
    this.#piscina = piscina;
  }

  #onWorkerMessage(message: WorkerMessage): void {
    if (typeof message !== 'object' || message === null || !(MESSAGE_TAG in message)) return;
    switch (message[MESSAGE_TAG]) {
      case 'ready': {
        this.#readyThreads.add(message.threadId);
        this.#info ??= { model: this.#model!.label, dtype: this.#model!.dtype, dims: message.dims, maxTokens: message.maxTokens };
        if (channels.workerReady.hasSubscribers) {
          channels.workerReady.publish({ poolId: this.id, threadId: message.threadId, loadMs: message.loadMs });
        }
        if (this.#state === 'starting' && this.#readyThreads.size >= this.options.minThreads) {
          this.#state = 'ready';
          this.#ready.resolve();
        }
        break;
      }
      case 'load-error': {
        const error = errorFromWire(message.error);
        this.#publishWorkerError(message.threadId, error);
        // Before the pool is ready a load error means the model is unusable: fail fast.
        if (this.#state === 'starting') this.#fail(error as ModelLoadError);
        break;
      }
      case 'disposed':
        this.#onDisposed?.(message.threadId);
        break;
    }
  }

  #onWorkerExit(threadId: number): void {
    this.#readyThreads.delete(threadId);
    this.#stats.workerExited(threadId);
    if (channels.workerExit.hasSubscribers) channels.workerExit.publish({ poolId: this.id, threadId });
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
    this.#admission.rejectAll(() => this.#failedError());
    const piscina = this.#piscina;
    this.#piscina = undefined;
    void piscina?.destroy().catch(() => {});
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
    let admitted = false;
    let dispatchedAt = 0;
    try {
      texts = normalizeTexts(input);
      const opts = checkEmbedOptions(options);
      if (channels.requestStart.hasSubscribers) {
        channels.requestStart.publish({ poolId: this.id, requestId, op: 'embed', texts: texts.length });
      }
      if (this.#state === 'closing' || this.#state === 'closed') throw new PoolClosedError();
      if (this.#state === 'failed') throw this.#failedError();
      if (opts.signal?.aborted) throw new AbortError('the call was aborted before it started', { cause: opts.signal.reason });
      if (texts.length === 0) {
        stats.inc('completed');
        this.#publishEnd(requestId, 0, 0, 0, undefined);
        return { data: new Float32Array(0), dims: [0, this.#info?.dims ?? 0], tokens: 0 };
      }
      if (this.#state === 'idle') this.#start();

      const waiting = this.#admission.acquire(opts.signal, this.options.queueTimeout);
      if (waiting) await waiting;
      admitted = true;
      dispatchedAt = performance.now();
      stats.recordWait(dispatchedAt - began);
      stats.gaugeAdd('inFlight', 1);
      const result = await this.#dispatch(texts, opts);
      const runMs = performance.now() - dispatchedAt;
      stats.recordRun(runMs);
      stats.inc('texts', texts.length);
      stats.inc('tokens', result.tokens);
      stats.inc('completed');
      stats.gaugeAdd('inFlight', -1);
      this.#publishEnd(requestId, texts.length, dispatchedAt - began, runMs, undefined);
      return { data: result.data, dims: result.dims, tokens: result.tokens };
    } catch (error) {
      if (admitted) {
        stats.gaugeAdd('inFlight', -1);
        stats.recordRun(performance.now() - dispatchedAt);
      }
      this.#countFailure(error, admitted);
      const now = performance.now();
      this.#publishEnd(requestId, texts.length, admitted ? dispatchedAt - began : now - began, admitted ? now - dispatchedAt : 0, error);
      throw error;
    }
  }

  /** Runs a task on a worker. The caller may stop waiting (timeout, abort, close); the worker never is. */
  #dispatch(texts: string[], opts: CheckedEmbedOptions): Promise<EmbedResult> {
    // Admission guarantees a free flag: at most maxInFlight tasks run at once.
    const cancelSlot = this.#freeCancelSlots.pop()!;
    const task: EmbedTask = {
      cancelSlot,
      op: 'embed',
      texts,
      pooling: opts.pooling,
      normalize: opts.normalize,
      truncate: opts.truncate,
      batchSize: this.options.batchSize,
    };
    this.#activeTasks++;
    // No signal goes to Piscina: its abort terminates the worker and throws the warm model away.
    // A call that stops waiting leaves its task to finish; the slot is freed when it does.
    const run = this.#piscina!.run(task).then(
      (result: TaskResult) => {
        this.#taskDone(cancelSlot);
        if ('error' in result) throw errorFromWire(result.error);
        return result;
      },
      (error: unknown) => {
        this.#taskDone(cancelSlot);
        if (this.#state === 'closing' || this.#state === 'closed') {
          throw new PoolClosedError('the pool closed before the call finished');
        }
        throw new WorkerExitedError(`the worker running the call exited before answering: ${describe(error)}`, { cause: error });
      },
    );
    const timeout = opts.timeout ?? this.options.timeout;
    // A caller that stops waiting raises the task's flag, so the worker skips its remaining batches.
    return raceCall(run, timeout, opts.signal, this.#closeController.signal, () => Atomics.store(this.#control, cancelSlot, 1));
  }

  #taskDone(cancelSlot: number): void {
    Atomics.store(this.#control, cancelSlot, 0);
    this.#freeCancelSlots.push(cancelSlot);
    this.#admission.release();
    if (--this.#activeTasks === 0) {
      const waiters = this.#onIdle;
      this.#onIdle = [];
      for (const resolve of waiters) resolve();
    }
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
    const wasStarted = this.#piscina !== undefined;
    this.#state = 'closing';
    this.#admission.rejectAll(() => new PoolClosedError('the pool closed before the call reached a worker'));
    if (wasStarted) {
      await this.#whenIdle(timeout);
      // Past the deadline, callers still waiting are answered now, and workers drop what is left
      // of their tasks. A model run already inside onnxruntime is let finish: terminating a thread
      // in the middle of one aborts the whole process.
      this.#closeController.abort();
      Atomics.store(this.#control, CONTROL_ALL, 1);
      await this.#whenIdle(NATIVE_RUN_GRACE_MS);
      await this.#disposeSessions();
      const piscina = this.#piscina;
      this.#piscina = undefined;
      await piscina?.destroy();
    }
    this.#state = 'closed';
    if (!this.#ready.settled) this.#ready.reject(new PoolClosedError('the pool closed before it was ready'));
  }

  async #whenIdle(timeout: number): Promise<void> {
    if (this.#activeTasks === 0) return;
    const idle = new Promise<void>((resolve) => this.#onIdle.push(resolve));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeout);
    });
    await Promise.race([idle, deadline]);
    clearTimeout(timer);
  }

  /** Asks every worker to free its model session, and waits (briefly) for their answers. */
  async #disposeSessions(): Promise<void> {
    const piscina = this.#piscina;
    if (!piscina || piscina.threads.length === 0 || this.#activeTasks > 0) return;
    const pending = new Set(piscina.threads.map((worker) => worker.threadId));
    const channel = new BroadcastChannel(broadcastName(this.id));
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#onDisposed = (threadId) => {
        pending.delete(threadId);
        if (pending.size === 0) resolve();
      };
      timer = setTimeout(resolve, 2_000);
      channel.postMessage({ type: 'dispose' });
    });
    clearTimeout(timer);
    this.#onDisposed = undefined;
    channel.close();
  }
}

/** Settles with the task, or earlier with a typed error when the caller's deadline or signal fires. */
function raceCall<T>(
  work: Promise<T>,
  timeout: number,
  signal: AbortSignal | undefined,
  closed: AbortSignal,
  onGiveUp: () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const giveUp = (error: Error): void => {
      cleanup();
      onGiveUp();
      reject(error);
    };
    const cleanup = (): void => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      closed.removeEventListener('abort', onClose);
    };
    const onAbort = (): void =>
      giveUp(new AbortError('the call was aborted while running; its result is discarded and the worker keeps its model', { cause: signal!.reason }));
    const onClose = (): void => giveUp(new PoolClosedError('the pool closed before the call finished (close timeout passed)'));
    if (timeout !== Infinity) {
      timer = setTimeout(
        () => giveUp(new TaskTimeoutError(`the call ran longer than its timeout of ${timeout} ms; its result is discarded and the worker keeps its model`)),
        timeout,
      );
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    closed.addEventListener('abort', onClose, { once: true });
    work.then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (error: unknown) => {
        cleanup();
        reject(error);
      },
    );
  });
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
