import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { ModelLoadError } from './errors.js';
import { errorFromWire } from './errors.js';
import { preferUnpacked } from './asar-path.js';
import type { ResolvedOptions } from './options.js';
import { MESSAGE_TAG, broadcastName, type EmbedTask, type ModelSpec, type TaskResult, type WorkerConfig, type WorkerMessage } from './protocol.js';
import type { Supervisor } from './supervisor.js';

// Handed to workers: see WorkerConfig.piscinaUrl.
const PISCINA_URL = import.meta.resolve('piscina');
// Inside a packaged Electron app the worker is loaded from the unpacked copy of the archive.
const WORKER_FILE = preferUnpacked(fileURLToPath(new URL('../workers/embed-worker.js', import.meta.url)));

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

export interface GenerationEvents {
  ready(threadId: number, loadMs: number): void;
  loadError(threadId: number, error: ModelLoadError): void;
  exit(threadId: number, exitCode: number): void;
  error(threadId: number | undefined, error: unknown): void;
}

export interface GenerationSettings {
  poolId: string;
  number: number;
  model: ModelSpec;
  options: ResolvedOptions;
  statsBuffer: SharedArrayBuffer;
  control: SharedArrayBuffer;
  supervisor: Supervisor;
  events: GenerationEvents;
  /** Whether a worker thread is inside native onnxruntime work right now (from the stats buffer). */
  inNative: (threadId: number) => boolean;
}

/** How long ending a generation (or closing the pool) waits for native work (a run, a load, a release) to finish. */
const NATIVE_GRACE_MS = 60_000;

/**
 * One set of workers running one model: a Piscina instance and what it takes to start, watch,
 * drain and stop it. A rolling reload warms a new generation before the old one is retired.
 */
export class Generation {
  readonly number: number;
  readonly model: ModelSpec;
  readonly piscina: Piscina;
  info: ModelInfo | undefined;
  /** Watchers of a reload in progress: called when a worker becomes warm or fails to load. */
  onReadyChange: (() => void) | undefined;
  onLoadError: ((error: ModelLoadError) => void) | undefined;
  readonly #s: GenerationSettings;
  readonly #readyThreads = new Set<number>();
  readonly #watched = new Set<number>();
  #activeTasks = 0;
  #onIdle: (() => void)[] = [];
  #onDisposed: ((threadId: number) => void) | undefined;

  constructor(settings: GenerationSettings) {
    this.#s = settings;
    this.number = settings.number;
    this.model = settings.model;
    const { options } = settings;
    const workerData: WorkerConfig = {
      poolId: settings.poolId,
      generation: settings.number,
      model: settings.model,
      intraOpThreads: options.intraOpThreads,
      memory: { cpuMemArena: options.cpuMemArena, memPattern: options.memPattern },
      statsBuffer: settings.statsBuffer,
      control: settings.control,
      heartbeatMs: Math.max(20, Math.min(500, Math.floor(options.healthTimeout / 4))),
      faults: options.faultInjection ?? null,
      piscinaUrl: PISCINA_URL,
    };
    this.piscina = new Piscina({
      filename: WORKER_FILE,
      minThreads: options.minThreads,
      maxThreads: options.maxThreads,
      idleTimeout: options.idleTimeout,
      concurrentTasksPerWorker: options.concurrentTasksPerWorker,
      // Admission is bounded in front of Piscina; it never holds more than maxThreads x concurrency tasks.
      maxQueue: Infinity,
      // Workers wait on their message port, not in Atomics.wait(), so their event loop stays free
      // for the heartbeat and pool messages while idle.
      atomics: 'disabled',
      workerData,
      ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
      loadBalancer: settings.supervisor.balance as never,
    });
    this.piscina.on('message', (message: WorkerMessage) => this.#onMessage(message));
    // Piscina removes live workers on purpose (idle above threads.min): not a crash. A worker that
    // died by itself is already gone when this fires, and its id reads -1.
    this.piscina.on('workerDestroy', (worker: { id: number }) => {
      if (worker.id >= 0) settings.supervisor.retire(worker.id);
    });
    this.piscina.on('workerCreate', (worker: { id: number }) => {
      settings.supervisor.loading(worker.id, this.number);
      this.#watch(worker.id);
    });
    // Without a listener an 'error' event would throw in the main thread. Piscina emits it for a
    // worker that died with no task, often one that died while loading (out of memory, say).
    this.piscina.on('error', (error: unknown) => {
      this.lastWorkerError = error;
      this.rescan();
      settings.events.error(undefined, error);
    });
    this.rescan();
  }

  /** The last error a worker died of, as Piscina reported it. */
  lastWorkerError: unknown;

  /**
   * Watches every worker thread Piscina has now. Piscina starts replacements by itself and only
   * announces those that got as far as loading their handler, so the pool looks for new threads
   * itself: at start, whenever a worker exits or errs, and at every health check.
   */
  rescan(): void {
    for (const worker of this.piscina.threads) {
      if (worker.threadId >= 0 && !this.#watched.has(worker.threadId)) {
        this.#s.supervisor.loading(worker.threadId, this.number);
        this.#watch(worker.threadId);
      }
    }
  }

  /** Workers of this generation that have loaded the model. */
  get warm(): number {
    return this.#readyThreads.size;
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
    return this.piscina.run(task).finally(done) as Promise<TaskResult>;
  }

  /** Resolves when no task of this generation runs, or after `timeout` ms (`Infinity`: no deadline). */
  async whenIdle(timeout: number): Promise<void> {
    if (this.#activeTasks === 0) return;
    const idle = new Promise<void>((resolve) => this.#onIdle.push(resolve));
    // Node turns a delay it cannot hold (Infinity, or past 2^31 - 1 ms) into 1 ms: no timer then.
    if (timeout === Infinity) return idle;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeout);
    });
    await Promise.race([idle, deadline]);
    clearTimeout(timer);
  }

  /** Ends one worker thread (the pool's supervisor decided it must go). */
  terminate(threadId: number): boolean {
    const worker = this.piscina.threads.find((w) => w.threadId === threadId);
    if (!worker) return false;
    void worker.terminate();
    return true;
  }

  /** Asks every worker to free its model session, and waits (briefly) for their answers. */
  async disposeSessions(timeout = 2_000): Promise<void> {
    const threads = this.piscina.threads;
    if (threads.length === 0 || this.#activeTasks > 0) return;
    const pending = new Set(threads.map((worker) => worker.threadId));
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

  /** Whether any worker of this generation is inside native onnxruntime work now. */
  get inNative(): boolean {
    return this.piscina.threads.some((w) => w.threadId >= 0 && this.#s.inNative(w.threadId));
  }

  /**
   * Waits, at most NATIVE_GRACE_MS, until no worker is inside onnxruntime (a run, a load or a
   * release); with `whileBusy`, only as long as a task of this generation still runs. A worker
   * busy in JavaScript (even spinning) can be terminated safely; one inside onnxruntime cannot.
   */
  async untilOutOfOnnxruntime(whileBusy = false): Promise<void> {
    const deadline = performance.now() + NATIVE_GRACE_MS;
    while (this.inNative && !(whileBusy && this.#activeTasks === 0) && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * Terminates every worker, once none is inside onnxruntime: a thread terminated in the middle
   * of a run, a load or a release aborts the whole process.
   */
  async destroy(): Promise<void> {
    for (const worker of this.piscina.threads) this.#s.supervisor.retire(worker.threadId);
    await this.untilOutOfOnnxruntime();
    await this.piscina.destroy();
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
      this.#watched.delete(threadId);
      this.#readyThreads.delete(threadId);
      this.#s.events.exit(threadId, exitCode);
      this.rescan();
    });
  }

  #onMessage(message: WorkerMessage): void {
    if (typeof message !== 'object' || message === null || !(MESSAGE_TAG in message)) return;
    this.#watch(message.threadId);
    switch (message[MESSAGE_TAG]) {
      case 'hello':
        this.#s.supervisor.loading(message.threadId, this.number);
        break;
      case 'ready':
        this.#readyThreads.add(message.threadId);
        this.info ??= { model: this.model.label, dtype: this.model.dtype, dims: message.dims, maxTokens: message.maxTokens };
        this.#s.supervisor.ready(message.threadId, this.number, message.slot);
        this.#s.events.ready(message.threadId, message.loadMs);
        break;
      case 'load-error': {
        const error = errorFromWire(message.error) as ModelLoadError;
        this.#s.supervisor.loadFailed(message.threadId, this.number, error);
        this.#s.events.loadError(message.threadId, error);
        break;
      }
      case 'disposed':
        this.#onDisposed?.(message.threadId);
        break;
    }
  }
}
