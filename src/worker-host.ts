import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { ModelLoadError } from './errors.js';
import { errorFromWire } from './errors.js';
import { preferUnpacked } from './asar-path.js';
import type { ResolvedOptions } from './options.js';
import {
  MESSAGE_TAG,
  broadcastName,
  type EmbedTask,
  type ModelSpec,
  type TaskResult,
  type WorkerConfig,
  type WorkerMessage,
} from './protocol.js';
import type { Supervisor } from './supervisor.js';
import type { ModelInfo } from './types.js';

// Handed to workers: see WorkerConfig.piscinaUrl.
const PISCINA_URL = import.meta.resolve('piscina');
// Inside a packaged Electron app the worker is loaded from the unpacked copy of the archive.
const WORKER_FILE = preferUnpacked(fileURLToPath(new URL('../workers/embed-worker.js', import.meta.url)));

export interface HostEvents {
  ready(host: WorkerHost, threadId: number, loadMs: number): void;
  loadError(host: WorkerHost, threadId: number, error: ModelLoadError): void;
  exit(host: WorkerHost, threadId: number, exitCode: number): void;
  error(host: WorkerHost, threadId: number | undefined, error: unknown): void;
}

export interface HostSettings {
  poolId: string;
  /** Unique within the pool (never reused): names the host's broadcast channel. */
  number: number;
  model: ModelSpec;
  options: ResolvedOptions;
  statsBuffer: SharedArrayBuffer;
  control: SharedArrayBuffer;
  supervisor: Supervisor;
  events: HostEvents;
  /** Whether a worker thread is inside native onnxruntime work right now (from the stats buffer). */
  inNative: (threadId: number) => boolean;
  /** Tells a worker thread to enter native work no more; says whether it is inside now (see PoolStats.stopNative). */
  stopNative: (threadId: number) => boolean;
}

/** How long ending a host (or closing the pool) waits for native work (a run, a load or a release) to finish. */
const NATIVE_GRACE_MS = 60_000;

/**
 * One embedding worker for one model, in a one-thread Piscina of its own. Piscina runs the
 * worker's tasks and starts the thread again after a crash; the pool decides when a host starts
 * and when it ends. That is what lets a replacement load before the worker it replaces leaves:
 * inside one Piscina a thread is only started when another exits (below `minThreads`) or when a
 * task finds no free one, so a pool-wide Piscina cannot warm a replacement ahead of time.
 */
export class WorkerHost {
  readonly number: number;
  readonly model: ModelSpec;
  readonly piscina: Piscina;
  info: ModelInfo | undefined;
  /** Why the model could not be loaded here (a load error, or the thread died while loading). */
  loadError: ModelLoadError | undefined;
  /** The last error a worker died of, as Piscina reported it. */
  lastWorkerError: unknown;
  readonly #s: HostSettings;
  readonly #readyThreads = new Set<number>();
  readonly #failedThreads = new Set<number>();
  readonly #watched = new Set<number>();
  /** Threads whose module has run (they said hello): terminating one earlier can hit Node's synchronous module loading, which aborts the process. */
  readonly #started = new Set<number>();
  #activeTasks = 0;
  #onIdle: (() => void)[] = [];
  #onDisposed: ((threadId: number) => void) | undefined;
  #disposed: Promise<void> | undefined;
  #destroyed: Promise<void> | undefined;

  constructor(settings: HostSettings) {
    this.#s = settings;
    this.number = settings.number;
    this.model = settings.model;
    const { options } = settings;
    const workerData: WorkerConfig = {
      poolId: settings.poolId,
      generation: settings.number,
      model: settings.model,
      intraOpThreads: options.intraOpThreads,
      weightsCache: options.weightsCache,
      memory: { cpuMemArena: options.cpuMemArena, memPattern: options.memPattern },
      warmup: { batchSize: options.batchSize, maxBatchTokens: options.maxBatchTokens, peak: options.preallocate && options.cpuMemArena },
      statsBuffer: settings.statsBuffer,
      control: settings.control,
      heartbeatMs: Math.max(20, Math.min(500, Math.floor(options.healthTimeout / 4))),
      piscinaUrl: PISCINA_URL,
      loadTimeout: options.loadTimeout,
    };
    this.piscina = new Piscina({
      filename: WORKER_FILE,
      minThreads: 1,
      maxThreads: 1,
      // Twice the pool's: the places kept for interactive tasks past batch work (see
      // Dispatcher) must reach the worker at once, not wait in Piscina's queue behind the batch task.
      concurrentTasksPerWorker: options.concurrentTasksPerWorker * 2,
      // Admission is bounded in front of Piscina, and the pool hands a host no more tasks than
      // its worker runs at once (except at start-up, while no worker is warm yet).
      maxQueue: Infinity,
      // Workers wait on their message port, not in Atomics.wait(), so their event loop stays free
      // for the heartbeat and pool messages while idle.
      atomics: 'disabled',
      workerData,
      ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
    });
    this.piscina.on('message', (message: WorkerMessage) => this.#onMessage(message));
    this.piscina.on('workerCreate', (worker: { id: number }) => {
      settings.supervisor.loading(worker.id);
      this.#watch(worker.id);
    });
    // Without a listener an 'error' event would throw in the main thread. Piscina emits it for a
    // worker that died with no task, often one that died while loading (out of memory, say).
    this.piscina.on('error', (error: unknown) => {
      this.lastWorkerError = error;
      this.rescan();
      settings.events.error(this, undefined, error);
    });
    this.rescan();
  }

  /**
   * Watches every worker thread the host's Piscina has now. Piscina starts a thread again by
   * itself after a crash and only announces one that got as far as loading its handler, so the
   * host looks for new threads itself: at start, whenever a worker exits or errs, and at every
   * health check.
   */
  rescan(): void {
    for (const worker of this.piscina.threads) {
      if (worker.threadId >= 0 && !this.#watched.has(worker.threadId)) {
        this.#s.supervisor.loading(worker.threadId);
        this.#watch(worker.threadId);
      }
    }
  }

  /** Live worker threads (none after a thread died while loading: Piscina then gives up on it). */
  get threadIds(): number[] {
    return this.piscina.threads.map((w) => w.threadId).filter((id) => id >= 0);
  }

  /** Whether the worker has loaded the model and may take tasks (not hung, failed or leaving). */
  get warm(): boolean {
    for (const id of this.#readyThreads) if (this.#s.supervisor.routable(id)) return true;
    return false;
  }

  /** Whether a thread is still loading the model (it may enter onnxruntime at any moment). */
  get loading(): boolean {
    return this.threadIds.some((id) => !this.#readyThreads.has(id) && !this.#failedThreads.has(id));
  }

  get activeTasks(): number {
    return this.#activeTasks;
  }

  /** Runs a task; never with a signal, since Piscina's abort terminates the worker and its warm model. */
  run(task: EmbedTask): Promise<TaskResult> {
    this.#activeTasks++;
    const done = (): void => {
      if (--this.#activeTasks > 0) return;
      // Tell waiters once the task's callers have their answers (their handlers run after this
      // one) and unless a retry has made the generation busy again meanwhile.
      setImmediate(() => {
        if (this.#activeTasks > 0) return;
        const waiters = this.#onIdle;
        this.#onIdle = [];
        for (const resolve of waiters) resolve();
      });
    };
    return (this.piscina.run(task) as Promise<TaskResult>)
      .then((result) => {
        // Task results and the worker's 'ready' message travel on different ports: the first
        // result may come first, and the caller may then read pool.model.
        if (!this.info && 'width' in result) this.info = modelInfo(this.model, result.width, result.maxTokens, result.labels, result.multiLabel);
        return result;
      })
      .finally(done);
  }

  /** Resolves when no task of this host runs, or after `timeout` ms (`Infinity`: no deadline). */
  async whenIdle(timeout: number): Promise<void> {
    if (this.#activeTasks === 0) return;
    await withDeadline(new Promise<void>((resolve) => this.#onIdle.push(resolve)), timeout);
  }

  /** Ends one worker thread (the pool's supervisor decided it must go); Piscina starts it again. */
  terminate(threadId: number): boolean {
    const worker = this.piscina.threads.find((w) => w.threadId === threadId);
    if (!worker) return false;
    void worker.terminate();
    return true;
  }

  /**
   * Gives the host up now: its worker is loading and stuck past `loadTimeout`, outside onnxruntime,
   * which it will not enter any more (see PoolStats.stopNative). Piscina ends the thread and starts
   * none again; the thread's exit is reported as usual.
   */
  abandon(): void {
    this.#destroyed ??= this.piscina.destroy();
  }

  /**
   * Asks the worker to free its model session, and waits for its answer (or its exit). Once: a
   * session is released at most once (closing and a replacement may both ask). The wait is as
   * long as a health check's: a worker that gets the request late starts releasing its session
   * then, and terminating a thread in the middle of that aborts the whole process; one that does
   * not answer in that time counts as hung.
   */
  disposeSession(timeout = this.#s.options.healthTimeout): Promise<void> {
    if (this.threadIds.length === 0 || this.#activeTasks > 0) return Promise.resolve();
    this.#disposed ??= this.#dispose(timeout);
    return this.#disposed;
  }

  async #dispose(timeout: number): Promise<void> {
    // Only a worker that has loaded listens for the request (and has a session to free).
    const pending = new Set(this.threadIds.filter((id) => this.#readyThreads.has(id)));
    if (pending.size === 0) return;
    const channel = new BroadcastChannel(broadcastName(this.#s.poolId, this.number));
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#onDisposed = (threadId) => {
        pending.delete(threadId);
        if (pending.size === 0) resolve();
      };
      timer = setTimeout(resolve, timeout);
      channel.postMessage({ type: 'dispose' });
    });
    clearTimeout(timer);
    this.#onDisposed = undefined;
    channel.close();
  }

  /** Whether a worker of this host is inside native onnxruntime work now. */
  get inNative(): boolean {
    return this.threadIds.some((id) => this.#s.inNative(id));
  }

  /**
   * Waits, at most NATIVE_GRACE_MS, until no worker is inside onnxruntime (a run, a load or a
   * release); with `whileBusy`, only as long as a task of this host still runs. A worker busy in
   * JavaScript (even spinning) can be terminated safely; one inside onnxruntime cannot.
   */
  async untilOutOfOnnxruntime(whileBusy = false): Promise<void> {
    await this.#until(() => !this.inNative || (whileBusy && this.#activeTasks === 0));
  }

  /**
   * Terminates the host's worker once that is safe: its module loaded (a thread ended while
   * Piscina loads the worker's module synchronously aborts the process), told to enter native
   * code no more, and not inside it (a thread terminated in the middle of a run, a load, an
   * addon's start or a release aborts the whole process). Waits at most NATIVE_GRACE_MS.
   * Idempotent.
   */
  destroy(): Promise<void> {
    this.#destroyed ??= (async () => {
      for (const id of this.threadIds) this.#s.supervisor.retire(id);
      // Piscina may start the thread again (after a crash) meanwhile: every thread it has is asked.
      await this.#until(() => {
        let safe = true;
        for (const id of this.threadIds) {
          if (!this.#started.has(id) || this.#s.stopNative(id)) safe = false;
        }
        return safe;
      });
      for (const id of this.threadIds) this.#s.supervisor.retire(id);
      await this.piscina.destroy();
    })();
    return this.#destroyed;
  }

  async #until(done: () => boolean): Promise<void> {
    const deadline = performance.now() + NATIVE_GRACE_MS;
    while (!done() && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * Follows a worker's exit by its own 'exit' event: Piscina's workerDestroy event reads the
   * thread id after the thread is gone (it is -1 by then), so it cannot say which worker left.
   */
  #watch(threadId: number): void {
    if (this.#watched.has(threadId)) return;
    const worker = this.piscina.threads.find((w) => w.threadId === threadId);
    if (!worker) return;
    this.#watched.add(threadId);
    // Piscina announces the removal of a crashed worker before the thread is gone; its own
    // 'error' event tells the two apart.
    worker.once('error', (error: unknown) => {
      this.lastWorkerError = error;
      this.#s.supervisor.crashed(threadId);
    });
    worker.once('exit', (exitCode: number) => {
      // A thread that is gone will not answer a request to free its session.
      this.#onDisposed?.(threadId);
      this.#watched.delete(threadId);
      this.#started.delete(threadId);
      this.#readyThreads.delete(threadId);
      this.#failedThreads.delete(threadId);
      this.#s.events.exit(this, threadId, exitCode);
      this.rescan();
    });
  }

  #onMessage(message: WorkerMessage): void {
    if (typeof message !== 'object' || message === null || !(MESSAGE_TAG in message)) return;
    this.#watch(message.threadId);
    switch (message[MESSAGE_TAG]) {
      case 'hello':
        this.#started.add(message.threadId);
        this.#s.supervisor.loading(message.threadId);
        break;
      case 'ready':
        this.#readyThreads.add(message.threadId);
        this.info ??= modelInfo(this.model, message.dims, message.maxTokens, message.labels, message.multiLabel);
        // A task's result may have come first and made the info without the weights' story.
        if (message.weights && !this.info.weights) this.info = { ...this.info, weights: Object.freeze({ ...message.weights }) };
        this.#s.supervisor.ready(message.threadId, message.slot);
        this.#s.events.ready(this, message.threadId, message.loadMs);
        break;
      case 'load-error': {
        const error = errorFromWire(message.error) as ModelLoadError;
        this.#failedThreads.add(message.threadId);
        this.loadError ??= error;
        this.#s.supervisor.loadFailed(message.threadId, error);
        this.#s.events.loadError(this, message.threadId, error);
        break;
      }
      case 'disposed':
        this.#onDisposed?.(message.threadId);
        break;
    }
  }
}

/**
 * Waits for `done`, or `timeout` ms, whichever comes first. Node turns a delay it cannot hold
 * (Infinity, or past 2^31 - 1 ms) into 1 ms, so Infinity sets no timer at all.
 */
export async function withDeadline(done: Promise<void>, timeout: number): Promise<void> {
  if (timeout === Infinity) return done;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeout);
  });
  await Promise.race([done, deadline]);
  clearTimeout(timer);
}

/** What `pool.model` tells of a loaded model: the spec's settings and what the worker found. */
function modelInfo(spec: ModelSpec, dims: number, maxTokens: number, labels: string[] | undefined, multiLabel: boolean | undefined): ModelInfo {
  return {
    name: spec.name,
    task: spec.task,
    model: spec.label,
    dtype: spec.dtype,
    dims,
    maxTokens,
    pooling: spec.pooling,
    prompts: spec.prompts,
    defaultPrompt: spec.defaultPrompt,
    wordVectors: spec.wordVectors,
    labels: labels === undefined ? undefined : Object.freeze([...labels]),
    multiLabel: labels === undefined ? undefined : multiLabel === true,
  };
}
