import { LoadTimeoutError, type ModelLoadError } from './errors.js';
import type { PoolStats } from './stats.js';
import type { HealthReport, IndexHealth, PoolState, WorkerPhase } from './types.js';

interface WorkerRecord {
  threadId: number;
  phase: WorkerPhase;
  slot: number;
  lastBeat: number;
  lastBeatAt: number;
  /** The pool ended this worker on purpose (hung, failed load, retired): not a crash. */
  expectedExit: boolean;
  /** When the worker began loading (performance.now()): its `loadTimeout` counts from here. */
  loadingSince: number;
  /** The load outlived `loadTimeout`: the error it fails with (reported once). */
  timedOut?: ModelLoadError;
  /** The supervisor asked for this loading worker's end (past `loadTimeout`). */
  ending?: boolean;
}

export interface SupervisorOptions {
  stats: PoolStats;
  healthTimeout: number;
  /** Milliseconds a worker may take to load its model (Infinity: no deadline). */
  loadTimeout: number;
  /**
   * A worker's load outlived `loadTimeout`: said once, when the deadline passes (`native`: it is
   * inside onnxruntime, and is ended as soon as it leaves).
   */
  loadTimedOut?: (threadId: number, error: ModelLoadError, native: boolean) => void;
  /** MiB of V8 heap past which a worker is replaced (Infinity: never). */
  recycleHeapMb: number;
  /** Ends a worker thread (by threadId); the Piscina that hosts it starts it again. */
  terminate: (threadId: number) => void;
  /**
   * Ends a loading worker past `loadTimeout` (it is not inside onnxruntime and will not enter):
   * its host starts no thread again; its exit counts as a failed load, replaced after the backoff.
   */
  endLoad: (threadId: number) => void;
  /**
   * Starts a warm replacement for a worker past `recycleHeapMb`; false when none can start now
   * (another replacement or a reload is under way): the next check asks again.
   */
  recycle: (threadId: number) => boolean;
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
 * Watches the pool's worker threads: knows which are warm, notices hung ones through their
 * heartbeat in shared memory (no message needed: a blocked event loop cannot answer one anyway),
 * ends them, paces the replacement of workers whose model failed to load, and asks for the
 * replacement of workers whose heap grew past `recycleHeapMb`.
 */
export class Supervisor {
  readonly #o: SupervisorOptions;
  readonly #records = new Map<number, WorkerRecord>();
  #consecutiveLoadFailures = 0;
  readonly #timers = new Set<NodeJS.Timeout>();
  #lastLoadError: Error | undefined;

  constructor(options: SupervisorOptions) {
    this.#o = options;
  }

  /** The last model-load error of a replacement worker, until a worker loads again. */
  get lastLoadError(): Error | undefined {
    return this.#lastLoadError;
  }

  /** Warm workers that may take tasks (one being recycled serves until its replacement is warm). */
  warm(): number {
    let n = 0;
    for (const r of this.#records.values()) if (r.phase === 'ready' || r.phase === 'recycling') n++;
    return n;
  }

  /** Whether a warm worker may take a task: not hung, failed, or on its way out. */
  routable(threadId: number): boolean {
    const phase = this.#records.get(threadId)?.phase;
    return phase === 'ready' || phase === 'recycling';
  }

  loading(threadId: number): void {
    if (!this.#records.has(threadId)) {
      const now = performance.now();
      this.#records.set(threadId, { threadId, phase: 'loading', slot: -1, lastBeat: 0, lastBeatAt: now, expectedExit: false, loadingSince: now });
    }
  }

  ready(threadId: number, slot: number): void {
    this.loading(threadId);
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
  loadFailed(threadId: number, error: Error): void {
    this.loading(threadId);
    const record = this.#records.get(threadId)!;
    record.phase = 'failed';
    this.#lastLoadError = error;
    this.#o.stats.inc('loadFailures');
    this.#consecutiveLoadFailures++;
    this.later(this.backoff, () => this.#end(record));
    this.#o.onChange();
  }

  /** A worker thread could not even be created (out of threads or memory): a failed load, with its backoff. */
  spawnFailed(error: Error): void {
    this.#lastLoadError = error;
    this.#o.stats.inc('loadFailures');
    this.#consecutiveLoadFailures++;
    this.#o.onChange();
  }

  /** A worker died of an uncaught error: whatever else was said of it, that is a crash. */
  crashed(threadId: number): void {
    const record = this.#records.get(threadId);
    if (record) record.expectedExit = false;
  }

  /** Ends a worker on purpose: replaced (recycled, reloaded), idle above `threads.min`, or closing. */
  retire(threadId: number): void {
    const record = this.#records.get(threadId);
    if (record) {
      record.phase = 'retiring';
      record.expectedExit = true;
    }
  }

  /** A recycled worker whose replacement could not load stays in service. */
  restore(threadId: number): void {
    const record = this.#records.get(threadId);
    if (record?.phase === 'recycling') record.phase = 'ready';
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
      this.#lastLoadError = record.timedOut ?? loadError();
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
   * The periodic health check: a worker whose heartbeat stalls past `healthTimeout` is ended
   * (one on its way out too: its calls must not wait forever); for a worker whose heap passed
   * `recycleHeapMb` a replacement starts, and it leaves once that one is warm.
   */
  check(now = performance.now()): void {
    const stats = this.#o.stats;
    for (const record of this.#records.values()) {
      if (record.phase === 'loading') {
        this.#checkLoad(record, now);
        continue;
      }
      if ((record.phase !== 'ready' && record.phase !== 'recycling' && record.phase !== 'retiring') || record.slot < 0) continue;
      if (record.phase === 'ready' && stats.heapMb(record.slot) > this.#o.recycleHeapMb && this.#o.recycle(record.threadId)) {
        record.phase = 'recycling';
        stats.inc('recycled');
      }
      const beat = this.#o.stats.heartbeat(record.slot);
      if (beat !== record.lastBeat) {
        record.lastBeat = beat;
        record.lastBeatAt = now;
        continue;
      }
      // A thread inside onnxruntime is never terminated (that aborts the process). The pool's
      // word that it is ending the thread goes up first: one that is outside now stays outside.
      if (now - record.lastBeatAt > this.#o.healthTimeout && !this.#o.stats.inNative(record.slot)) {
        record.phase = 'hung';
        this.#o.stats.inc('workersHung');
        this.#endOutsideNative(record);
      }
    }
    // Hung threads that were inside native code when found: ended once they come out.
    for (const record of this.#records.values()) {
      if (record.phase === 'hung' && !record.expectedExit) this.#endOutsideNative(record);
    }
  }

  /** Ends a thread unless it is inside native code now; from now on it enters none (see PoolStats.stopNative). */
  #endOutsideNative(record: WorkerRecord): void {
    if (record.slot >= 0 && this.#o.stats.stopNative(record.slot)) return;
    this.#end(record);
  }

  /**
   * What `pool.health()` reports: the pool in `state`, with `warm` of the `wanted` workers
   * (`threads.min`) warm and taking calls, the workers this supervisor watches, and the index
   * worker's health once a collection call was made.
   */
  report(state: PoolState, wanted: number, warm: number, index: IndexHealth | undefined): HealthReport {
    const snapshot = this.#o.stats.snapshot();
    const phases = new Map([...this.#records.values()].map((r) => [r.threadId, r.phase]));
    const usable = state === 'ready' || state === 'starting';
    // A pool that keeps no worker on purpose (threads.min 0, or unloaded) is healthy with none warm:
    // the next call warms one.
    const status = !usable || (warm === 0 && wanted > 0) ? 'unhealthy' : warm < wanted || index?.state === 'down' || this.#lastLoadError !== undefined && warm === 0 ? 'degraded' : 'healthy';
    const report: HealthReport = {
      status,
      state,
      wanted,
      warm,
      restarts: snapshot.workerCrashes + snapshot.workersHung + snapshot.loadFailures,
      workers: snapshot.workers
        .filter((w) => phases.has(w.threadId))
        .map((w) => ({
          threadId: w.threadId,
          phase: phases.get(w.threadId)!,
          busy: w.busy,
          tasks: w.tasks,
          errors: w.errors,
          lastMs: w.lastMs,
          loadMs: w.loadMs,
        })),
    };
    if (this.#lastLoadError) report.lastError = this.#lastLoadError.message;
    if (index) report.index = index;
    return report;
  }

  stop(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  /**
   * A load past `loadTimeout`: reported once, and the worker ended unless it is inside onnxruntime
   * now (ending a thread there can abort the process). One stuck there enters onnxruntime no more
   * and fails its load as it comes out (or is ended at a later check that finds it out). Its exit
   * counts as a failed load (see exited()), replaced after the backoff.
   */
  #checkLoad(record: WorkerRecord, now: number): void {
    const limit = this.#o.loadTimeout;
    if (record.ending || !(now - record.loadingSince > limit)) return;
    const stats = this.#o.stats;
    const slot = stats.slotOf(record.threadId);
    // A worker with no stats slot yet has not begun to load (it claims one first).
    const native = slot >= 0 && stats.stopNative(slot);
    if (!record.timedOut) {
      const where = native ? ": it is inside onnxruntime's session creation, and is ended as soon as it leaves" : ', so it was ended';
      record.timedOut = new LoadTimeoutError(`a worker did not load its model within loadTimeout (${limit} ms)${where}`) as unknown as ModelLoadError;
      this.#lastLoadError = record.timedOut;
      this.#o.loadTimedOut?.(record.threadId, record.timedOut, native);
      this.#o.onChange();
    }
    if (native) return;
    record.ending = true;
    this.#o.endLoad(record.threadId);
  }

  #end(record: WorkerRecord): void {
    if (!this.#records.has(record.threadId)) return;
    record.expectedExit = true;
    this.#o.terminate(record.threadId);
  }
}
