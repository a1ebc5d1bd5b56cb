import type { PoolStats } from './stats.js';

/** What the pool knows of one worker thread. */
export type WorkerPhase = 'loading' | 'ready' | 'failed' | 'hung' | 'recycling' | 'retiring';

interface WorkerRecord {
  threadId: number;
  generation: number;
  phase: WorkerPhase;
  slot: number;
  lastBeat: number;
  lastBeatAt: number;
  /** The pool ended this worker on purpose (hung, failed load, retired): not a crash. */
  expectedExit: boolean;
}

/** A worker as Piscina's load balancer sees it. */
interface BalancedWorker {
  readonly id: number;
  readonly currentUsage: number;
}

export interface SupervisorOptions {
  stats: PoolStats;
  concurrency: number;
  healthTimeout: number;
  /** MiB of V8 heap past which a worker is retired once idle (Infinity: never). */
  recycleHeapMb: number;
  /** Ends a worker thread (by threadId); the pool's Piscina replaces it. */
  terminate: (threadId: number) => void;
  /** Something changed that may let waiting calls go (a worker became ready). */
  onChange: () => void;
}

/** Backoff between attempts to replace a worker whose model failed to load: 0.5 s doubling to 30 s. */
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;

/** The wait before the next attempt to start a worker after `failures` failed attempts in a row. */
export function restartBackoff(failures: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, failures - 1));
}

/**
 * Watches the pool's workers: routes tasks to warm ones only, notices hung ones through their
 * heartbeat in shared memory (no message needed: a blocked event loop cannot answer one anyway),
 * ends them, and paces the replacement of workers whose model failed to load.
 */
export class Supervisor {
  readonly #o: SupervisorOptions;
  readonly #records = new Map<number, WorkerRecord>();
  #consecutiveLoadFailures = 0;
  readonly #timers = new Set<NodeJS.Timeout>();
  #lastLoadError: Error | undefined;
  #current = 0;

  constructor(options: SupervisorOptions) {
    this.#o = options;
  }

  /** The generation whose workers get new tasks (a rolling reload starts a new one). */
  set current(generation: number) {
    this.#current = generation;
  }

  /** The last model-load error of a replacement worker, until a worker loads again. */
  get lastLoadError(): Error | undefined {
    return this.#lastLoadError;
  }

  warm(generation = this.#current): number {
    let n = 0;
    for (const r of this.#records.values()) if (r.generation === generation && r.phase === 'ready') n++;
    return n;
  }

  /**
   * Piscina's load balancer: the least busy warm worker of the current generation. While none
   * is warm yet (start-up), a loading worker may take the task: it runs once the model is in.
   */
  readonly balance = (_task: unknown, workers: BalancedWorker[]): BalancedWorker | null => {
    let best: BalancedWorker | null = null;
    let fallback: BalancedWorker | null = null;
    let anyWarm = false;
    for (const worker of workers) {
      const record = this.#records.get(worker.id);
      const phase = record?.phase ?? 'loading';
      if (record && record.generation !== this.#current && phase !== 'loading') continue;
      if (phase === 'ready') {
        anyWarm = true;
        if (worker.currentUsage < this.#o.concurrency && (!best || worker.currentUsage < best.currentUsage)) best = worker;
      } else if (phase === 'loading' && worker.currentUsage < this.#o.concurrency && !fallback) {
        fallback = worker;
      }
    }
    return best ?? (anyWarm ? null : fallback);
  };

  loading(threadId: number, generation: number): void {
    if (!this.#records.has(threadId)) {
      this.#records.set(threadId, { threadId, generation, phase: 'loading', slot: -1, lastBeat: 0, lastBeatAt: performance.now(), expectedExit: false });
    }
  }

  ready(threadId: number, generation: number, slot: number): void {
    this.loading(threadId, generation);
    const record = this.#records.get(threadId)!;
    record.phase = 'ready';
    record.slot = slot;
    record.lastBeat = this.#o.stats.heartbeat(slot);
    record.lastBeatAt = performance.now();
    this.#consecutiveLoadFailures = 0;
    this.#lastLoadError = undefined;
    this.#o.onChange();
  }

  /** A worker could not load the model: keep it out of rotation, and replace it after a backoff. */
  loadFailed(threadId: number, generation: number, error: Error): void {
    this.loading(threadId, generation);
    const record = this.#records.get(threadId)!;
    record.phase = 'failed';
    this.#lastLoadError = error;
    this.#o.stats.inc('loadFailures');
    this.#consecutiveLoadFailures++;
    this.later(this.backoff, () => this.#end(record));
    this.#o.onChange();
  }

  /** A worker died of an uncaught error: whatever else was said of it, that is a crash. */
  crashed(threadId: number): void {
    const record = this.#records.get(threadId);
    if (record) record.expectedExit = false;
  }

  /** Ends a worker on purpose, e.g. the old generation after a reload. */
  retire(threadId: number): void {
    const record = this.#records.get(threadId);
    if (record) {
      record.phase = 'retiring';
      record.expectedExit = true;
    }
  }

  /**
   * A worker left. Says whether it crashed while serving, died while loading the model (which
   * counts as a failed load and backs off like one), or was ended on purpose or by close.
   */
  exited(threadId: number, closing: boolean, loadError: () => Error): 'crash' | 'load-crash' | 'expected' {
    const record = this.#records.get(threadId);
    this.#records.delete(threadId);
    if (closing || record === undefined || record.expectedExit) return 'expected';
    if (record.phase === 'loading') {
      this.#lastLoadError = loadError();
      this.#o.stats.inc('loadFailures');
      this.#consecutiveLoadFailures++;
      return 'load-crash';
    }
    this.#o.stats.inc('workerCrashes');
    return 'crash';
  }

  /** The backoff before the next attempt to load the model, after consecutive failures. */
  get backoff(): number {
    return restartBackoff(this.#consecutiveLoadFailures);
  }

  get consecutiveLoadFailures(): number {
    return this.#consecutiveLoadFailures;
  }

  /** Runs `fn` after `ms`, on a timer that never keeps the process alive and stops with the pool. */
  later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    timer.unref();
    this.#timers.add(timer);
  }

  /**
   * The periodic health check: a worker whose heartbeat stalls past `healthTimeout` is ended; a
   * worker whose heap passed `recycleHeapMb` gets no new task and is ended once idle.
   */
  check(now = performance.now()): void {
    const stats = this.#o.stats;
    for (const record of this.#records.values()) {
      if (record.phase === 'recycling') {
        if (stats.busy(record.slot) === 0 && !stats.inNative(record.slot)) this.#end(record);
        continue;
      }
      if (record.phase !== 'ready' || record.slot < 0) continue;
      if (stats.heapMb(record.slot) > this.#o.recycleHeapMb) {
        record.phase = 'recycling';
        stats.inc('recycled');
        continue;
      }
      const beat = this.#o.stats.heartbeat(record.slot);
      if (beat !== record.lastBeat) {
        record.lastBeat = beat;
        record.lastBeatAt = now;
        continue;
      }
      // A thread inside onnxruntime is never terminated (that aborts the process); its heartbeat
      // keeps going anyway, since a model run does not block the event loop.
      if (now - record.lastBeatAt > this.#o.healthTimeout && !this.#o.stats.inNative(record.slot)) {
        record.phase = 'hung';
        this.#o.stats.inc('workersHung');
        this.#end(record);
      }
    }
  }

  /** Phases by threadId, for health reports. */
  phases(): Map<number, WorkerPhase> {
    return new Map([...this.#records.values()].map((r) => [r.threadId, r.phase]));
  }

  stop(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  #end(record: WorkerRecord): void {
    if (!this.#records.has(record.threadId)) return;
    record.expectedExit = true;
    this.#o.terminate(record.threadId);
  }
}
