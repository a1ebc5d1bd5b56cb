import { performance } from 'node:perf_hooks';
import { ModelLoadError, PoolClosedError, describe } from './errors.js';
import type { ResolvedOptions } from './options.js';
import type { EmbedTask, ModelSpec, TaskResult } from './protocol.js';
import type { CoreBudget } from './budget.js';
import type { PoolStats } from './stats.js';
import type { Supervisor } from './supervisor.js';
import { TEST_HOOKS_ENV, testHooks } from './test-hooks.js';
import type { ModelInfo } from './types.js';
import { WorkerHost, withDeadline } from './worker-host.js';

/**
 * `serving` takes tasks; `pending` is a replacement still loading, kept out of rotation until it
 * is warm; `draining` takes no new task, finishes what it has, and ends.
 */
type Role = 'serving' | 'pending' | 'draining';

/** What the pool hears of its workers. */
export interface FleetEvents {
  ready(threadId: number, loadMs: number): void;
  /** `serving`: false for a replacement that was still loading (its failure touches no caller). */
  loadError(threadId: number, error: ModelLoadError, serving: boolean): void;
  exit(threadId: number): void;
  /** A thread died while loading the model. */
  loadCrash(error: ModelLoadError, serving: boolean): void;
  error(threadId: number | undefined, error: unknown): void;
}

export interface FleetSettings {
  poolId: string;
  model: ModelSpec;
  options: ResolvedOptions;
  stats: PoolStats;
  control: SharedArrayBuffer;
  supervisor: Supervisor;
  events: FleetEvents;
  /** Workers of every model of the pool that may run at once. */
  budget: CoreBudget;
}

interface Job {
  task: EmbedTask;
  resolve: (result: TaskResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Every worker the pool runs, one {@link WorkerHost} each, and the decisions about them: which
 * warm worker takes a task, when a worker is added above `threads.min` and when an idle one
 * leaves, and how a worker is replaced on purpose (recycled, reloaded): blue-green, one at a time,
 * the replacement warm before the worker it replaces stops taking tasks. So the warm workers that
 * take tasks never number fewer than before, and at most one worker more than usual is alive.
 */
export class Fleet {
  readonly #s: FleetSettings;
  readonly #hosts = new Map<WorkerHost, Role>();
  readonly #infos = new Map<ModelSpec, ModelInfo>();
  /** Where ending a host is under way: awaited before the next replacement step. */
  readonly #leaving = new Map<WorkerHost, Promise<void>>();
  readonly #idleTimers = new Map<WorkerHost, NodeJS.Timeout>();
  /** Tasks no worker could take yet, in order. */
  readonly #waiting: Job[] = [];
  /** Called whenever a host's state changes, by whoever waits for a replacement. */
  readonly #watchers = new Set<() => void>();
  /** The model that workers added from now on load. */
  #target: ModelSpec;
  #hostNumbers = 0;
  #activeTasks = 0;
  #onIdle: (() => void)[] = [];
  /** A replacement (a recycle or a reload) under way: only one at a time. */
  #changing: Promise<void> | undefined;
  /** A recycle whose replacement could not load waits this long before the next try. */
  #recycleAfter = 0;
  /** After a worker thread could not be created, no new one is tried before this time. */
  #spawnAfter = 0;
  #stopped = false;
  /** After unload(): workers below threads.min are not brought back until a call or warmTo() wants them. */
  #unloaded = false;
  readonly #unwatch: () => void;

  constructor(settings: FleetSettings) {
    this.#s = settings;
    this.#target = settings.model;
    this.#unwatch = settings.budget.watch(() => this.#dispatch());
    for (let i = 0; i < settings.options.minThreads; i++) this.#add(settings.model, 'serving');
  }

  /** Warm workers that take tasks now. */
  get warm(): number {
    let n = 0;
    for (const [host, role] of this.#hosts) if (role === 'serving' && host.warm) n++;
    return n;
  }

  /** Every warm worker whatever its role (a replacement and the one it replaces both hold memory), and whether any is loading. */
  get census(): { warm: number; loading: boolean } {
    let warm = 0;
    let loading = false;
    for (const host of this.#hosts.keys()) {
      if (host.warm) warm++;
      if (host.loading) loading = true;
    }
    return { warm, loading };
  }

  /** Warm serving workers with no task: where the next task starts at once. */
  get idle(): number {
    let n = 0;
    for (const [host, role] of this.#hosts) if (role === 'serving' && host.warm && host.activeTasks === 0) n++;
    return n;
  }

  /** What a worker that loaded `model` said of it. */
  infoOf(model: ModelSpec): ModelInfo | undefined {
    return this.#infos.get(model);
  }

  /** Runs a task on the least busy warm worker, as soon as one is free. */
  run(task: EmbedTask): Promise<TaskResult> {
    this.#activeTasks++;
    const done = (): void => {
      if (--this.#activeTasks === 0) {
        const waiters = this.#onIdle;
        this.#onIdle = [];
        for (const resolve of waiters) resolve();
      }
    };
    return new Promise<TaskResult>((resolve, reject) => {
      const job = { task, resolve, reject };
      if (task.lane === 0) {
        // An interactive task goes ahead of every batch task still waiting for a worker.
        const at = this.#waiting.findIndex((waiting) => waiting.task.lane !== 0);
        if (at < 0) this.#waiting.push(job);
        else this.#waiting.splice(at, 0, job);
      } else {
        this.#waiting.push(job);
      }
      this.#dispatch();
    }).finally(done);
  }

  /** Looks for threads Piscina started by itself (at every health check). */
  rescan(): void {
    for (const host of this.#hosts.keys()) host.rescan();
  }

  /** Ends one worker thread (hung, or its model failed to load); its host starts it again. */
  terminate(threadId: number): void {
    this.#hostOf(threadId)?.terminate(threadId);
  }

  /**
   * Ends a worker whose load outlived `loadTimeout` (see Supervisor): its host is given up, so that
   * Piscina does not start the same thread again; its exit counts as a failed load, and a fresh
   * host replaces it after the backoff (see #onExit, #revive).
   */
  endLoad(threadId: number): void {
    this.#hostOf(threadId)?.abandon();
  }

  /**
   * Starts a replacement for a worker whose heap grew too big. The worker keeps serving until the
   * replacement is warm, then takes no new task and leaves once idle. False when it cannot start
   * now (another replacement or a reload is under way, or the last replacement failed lately).
   */
  recycle(threadId: number): boolean {
    const host = this.#hostOf(threadId);
    if (this.#stopped || this.#changing || performance.now() < this.#recycleAfter) return false;
    if (!host || this.#hosts.get(host) !== 'serving') return false;
    void this.#exclusive(async () => {
      const failure = await this.#replace(host, host.model);
      if (failure === undefined) await this.#leave(host);
      else if (!(failure instanceof PoolClosedError)) this.#recycleAfter = performance.now() + this.#s.supervisor.backoff;
    }).catch(() => {});
    return true;
  }

  /**
   * Rolling reload: replaces every worker by one that loads `model`, one at a time, each new one
   * warm before an old one stops taking tasks, and each old one gone before the next new one
   * starts. If a new worker cannot load the model, the workers already replaced go back to the
   * model they had the same way, and this rejects with the `ModelLoadError`.
   */
  async roll(model: ModelSpec): Promise<ModelInfo> {
    while (this.#changing) await this.#changing;
    let info: ModelInfo | undefined;
    await this.#exclusive(async () => {
      const previous = this.#target;
      this.#target = model;
      try {
        await this.#replaceAll(model);
      } catch (error) {
        this.#target = previous;
        if (!this.#stopped) await this.#replaceAll(previous).catch(() => {});
        this.#infos.delete(model);
        throw error;
      }
      info = this.#infos.get(model);
      for (const known of this.#infos.keys()) if (known !== model) this.#infos.delete(known);
    });
    return info!;
  }

  /** Serving workers now, warm or loading. */
  get live(): number {
    let n = 0;
    for (const role of this.#hosts.values()) if (role === 'serving') n++;
    return n;
  }

  /**
   * Scale to zero now: every serving worker takes no new task, finishes what it runs, frees its
   * session and ends. Tasks that come later start a worker again (see #grow). Resolves once they
   * are gone.
   */
  async unload(): Promise<void> {
    this.#unloaded = true;
    const leaving: Promise<void>[] = [];
    for (const [host, role] of this.#hosts) if (role === 'serving') leaving.push(this.#leave(host));
    await Promise.all(leaving);
  }

  /**
   * Starts serving workers until `count` are live (within threads.max), and resolves once that
   * many are warm, or rejects with the load error of one that could not load.
   */
  async warmTo(count: number): Promise<void> {
    this.#unloaded = false;
    const target = Math.min(count, this.#s.options.maxThreads);
    while (!this.#stopped && this.live < target) {
      if (this.#tryAdd(this.#target, 'serving') instanceof ModelLoadError) break;
    }
    let watcher!: () => void;
    try {
      await new Promise<void>((resolve, reject) => {
        watcher = () => {
          if (this.#stopped) reject(new PoolClosedError('the pool closed before its workers were warm'));
          else if (this.warm >= target) resolve();
          else {
            const failed = [...this.#hosts.keys()].find((h) => this.#hosts.get(h) === 'serving' && h.loadError);
            if (failed && !this.#hostsLoading()) reject(failed.loadError);
          }
        };
        this.#watchers.add(watcher);
        watcher();
      });
    } finally {
      this.#watchers.delete(watcher);
    }
  }

  /** Whether a serving worker is still loading the model. */
  get loading(): boolean {
    return this.#hostsLoading();
  }

  #hostsLoading(): boolean {
    for (const [host, role] of this.#hosts) if (role === 'serving' && host.loading) return true;
    return false;
  }

  /** Stops adding, replacing and reviving workers: the pool is closing or failed. */
  stop(): void {
    this.#stopped = true;
    this.#unwatch();
    for (const timer of this.#idleTimers.values()) clearTimeout(timer);
    this.#idleTimers.clear();
    this.#wake();
  }

  /**
   * Resolves when no task runs or waits for a worker, or after `timeout` ms. Once the last task
   * is done it still waits a turn of the event loop, so that the callers chained on that task have
   * their answer before whoever waits here goes on (close() fails whatever is left).
   */
  async whenIdle(timeout: number): Promise<void> {
    if (this.#activeTasks === 0) return;
    await withDeadline(new Promise<void>((resolve) => this.#onIdle.push(() => setImmediate(resolve))), timeout);
  }

  /** Waits until no worker that still runs a task is inside onnxruntime (see WorkerHost). */
  async untilOutOfOnnxruntime(): Promise<void> {
    await Promise.all([...this.#hosts.keys()].map((host) => host.untilOutOfOnnxruntime(true)));
  }

  /** Asks every worker to free its model session. */
  async disposeSessions(): Promise<void> {
    await Promise.all([...this.#hosts.keys()].map((host) => host.disposeSession()));
  }

  /** Ends every worker, each once that is safe (see WorkerHost.destroy); tasks still waiting fail. */
  async destroy(): Promise<void> {
    this.stop();
    for (const job of this.#waiting.splice(0)) job.reject(new Error('the workers were stopped before the task reached one'));
    await Promise.all([...this.#hosts.keys()].map((host) => host.destroy()));
    this.#hosts.clear();
  }

  #add(model: ModelSpec, role: Role): WorkerHost {
    const s = this.#s;
    /** A thread's answer from its stats slot; false for a thread that has no slot (it has not begun to load). */
    const bySlot = (threadId: number, read: (slot: number) => boolean): boolean => {
      const slot = s.stats.slotOf(threadId);
      return slot >= 0 && read(slot);
    };
    const host = new WorkerHost({
      poolId: s.poolId,
      number: ++this.#hostNumbers,
      model,
      options: s.options,
      statsBuffer: s.stats.buffer,
      control: s.control,
      supervisor: s.supervisor,
      inNative: (threadId) => bySlot(threadId, (slot) => s.stats.inNative(slot)),
      stopNative: (threadId) => bySlot(threadId, (slot) => s.stats.stopNative(slot)),
      events: {
        ready: (h, threadId, loadMs) => this.#onReady(h, threadId, loadMs),
        loadError: (h, threadId, error) => {
          s.events.loadError(threadId, error, this.#hosts.get(h) === 'serving');
          this.#wake();
        },
        exit: (h, threadId, exitCode) => this.#onExit(h, threadId, exitCode),
        error: (_h, threadId, error) => s.events.error(threadId, error),
      },
    });
    this.#hosts.set(host, role);
    return host;
  }

  /**
   * #add for a worker asked for after start-up (on demand, a replacement, a revival). A thread that
   * cannot be created (the Worker constructor throws: out of threads or memory) is a failed load
   * that backs off: said through the events, counted, and tried again later, never thrown into a
   * timer or a task's callback.
   */
  #tryAdd(model: ModelSpec, role: Role): WorkerHost | ModelLoadError {
    try {
      if (testHooks().spawnFail?.includes(this.#hostNumbers + 1)) {
        // Test-only. The number is spent, as it is when the constructor throws inside #add.
        throw new Error(`test-only: worker ${++this.#hostNumbers} cannot be created (${TEST_HOOKS_ENV} spawnFail)`);
      }
      return this.#add(model, role);
    } catch (error) {
      const s = this.#s;
      const failure = cannotStart(model, error);
      s.supervisor.spawnFailed(failure);
      this.#spawnAfter = performance.now() + s.supervisor.backoff;
      s.events.loadCrash(failure, role === 'serving');
      if (role === 'serving') s.supervisor.later(s.supervisor.backoff, () => this.#refill());
      return failure;
    }
  }

  /** After a thread could not be created: back up to `threads.min` serving workers, then on with the waiting tasks. */
  #refill(): void {
    if (this.#stopped) return;
    let live = 0;
    for (const role of this.#hosts.values()) if (role === 'serving') live++;
    if (!this.#unloaded && live < this.#s.options.minThreads && this.#tryAdd(this.#target, 'serving') instanceof ModelLoadError) return;
    this.#dispatch();
  }

  #onReady(host: WorkerHost, threadId: number, loadMs: number): void {
    if (host.info && !this.#infos.has(host.model)) this.#infos.set(host.model, host.info);
    // A replacement goes into service first, so that the tasks waiting now can go to it.
    this.#wake();
    this.#s.events.ready(threadId, loadMs);
    this.#dispatch();
    this.#idleLater(host);
  }

  #onExit(host: WorkerHost, threadId: number, exitCode: number): void {
    const s = this.#s;
    s.stats.workerExited(threadId);
    const how = s.supervisor.exited(threadId, this.#stopped, () => {
      const cause = host.lastWorkerError;
      host.lastWorkerError = undefined;
      const why = cause === undefined ? '' : `: ${describe(cause)}`;
      return new ModelLoadError(`a worker exited (code ${exitCode}) while loading model ${host.model.label}${why}`, { cause });
    });
    s.events.exit(threadId);
    if (how === 'load-crash') {
      const error = s.supervisor.lastLoadError as ModelLoadError;
      const role = this.#hosts.get(host);
      if (role === 'pending') host.loadError ??= error;
      s.events.loadCrash(error, role === 'serving');
      // Piscina gives up on a thread that dies while loading: after the backoff, a fresh host.
      if (role === 'serving') s.supervisor.later(s.supervisor.backoff, () => this.#revive(host));
    }
    this.#wake();
  }

  /** Replaces a serving host that has no thread left (it died loading) by a fresh one. */
  #revive(host: WorkerHost): void {
    if (this.#stopped || this.#hosts.get(host) !== 'serving' || host.threadIds.length > 0) return;
    this.#hosts.delete(host);
    void host.destroy().catch(() => {});
    this.#tryAdd(host.model, 'serving');
  }

  #hostOf(threadId: number): WorkerHost | undefined {
    for (const host of this.#hosts.keys()) if (host.threadIds.includes(threadId)) return host;
    return undefined;
  }

  /** Sends waiting tasks to free warm workers; adds a worker when none is free and there is room. */
  #dispatch(): void {
    const budget = this.#s.budget;
    while (this.#waiting.length > 0) {
      const interactive = this.#waiting[0]!.task.lane === 0;
      let host = this.#pick(false, interactive);
      // An idle worker that starts running takes a place in the pool's thread budget; with none
      // left (other models' workers run), only a busy worker may take the task as its next one.
      const starts = host !== undefined && host.activeTasks === 0;
      if (starts && !budget.tryAcquire()) host = this.#pick(true, interactive);
      if (!host) {
        if (budget.busy < budget.limit) this.#grow();
        return;
      }
      const job = this.#waiting.shift()!;
      this.#clearIdle(host);
      // A busy worker keeps the task as its next one; a worker more, where there is room, could
      // run it now instead. So could one take half of a task of several model runs: coalesced
      // callers waiting on one worker never form a queue, yet a second worker would halve their wait.
      const items = job.task.inputs?.length ?? job.task.texts.length;
      if (!starts || host.activeTasks > 0 || items > this.#s.options.batchSize) this.#grow(1);
      const counted = starts && host.activeTasks === 0;
      const batch = job.task.lane === 1;
      if (batch) this.#batchTasks.set(host, (this.#batchTasks.get(host) ?? 0) + 1);
      host
        .run(job.task)
        .then((result) => {
          // The first result may arrive before the worker's 'ready' message (another port).
          if (host.info && !this.#infos.has(host.model)) this.#infos.set(host.model, host.info);
          job.resolve(result);
        }, job.reject)
        .finally(() => {
          if (batch) {
            const left = (this.#batchTasks.get(host) ?? 1) - 1;
            if (left > 0) this.#batchTasks.set(host, left);
            else this.#batchTasks.delete(host);
          }
          if (counted || this.#holding.has(host)) this.#releaseWhenIdle(host);
          this.#dispatch();
          this.#idleLater(host);
        });
    }
  }

  /** Batch tasks each host holds now. */
  readonly #batchTasks = new Map<WorkerHost, number>();

  /** Hosts whose place in the thread budget is held until they have no task left. */
  readonly #holding = new Set<WorkerHost>();

  /**
   * A host counted in the budget gives its place back once it has no task left (a task it took
   * as its next one keeps the place: the worker never stopped running).
   */
  #releaseWhenIdle(host: WorkerHost): void {
    if (host.activeTasks > 0) {
      this.#holding.add(host);
      return;
    }
    this.#holding.delete(host);
    this.#s.budget.release();
  }

  /**
   * The least busy warm serving worker with room (`busyOnly`: among those already running; an
   * interactive task has one place more in each). While
   * none is warm (start-up, or every worker lost), a loading one may take the task: it runs once
   * the model is in, or fails the way the load did.
   */
  #pick(busyOnly: boolean, interactive: boolean): WorkerHost | undefined {
    // An interactive task may go to a worker running batch work past its room (up to twice it): it
    // runs there between two model runs of the batch task (see `EmbedTask.lane`).
    const base = this.#s.options.concurrentTasksPerWorker;
    let best: WorkerHost | undefined;
    let fallback: WorkerHost | undefined;
    let anyWarm = false;
    for (const [host, role] of this.#hosts) {
      if (role !== 'serving') continue;
      if (busyOnly && host.activeTasks === 0) continue;
      const room = base + (interactive && (this.#batchTasks.get(host) ?? 0) > 0 ? base : 0);
      if (host.warm) {
        anyWarm = true;
        if (host.activeTasks < room && (!best || host.activeTasks < best.activeTasks)) best = host;
      } else if (!fallback && host.loading && host.activeTasks < room) {
        fallback = host;
      }
    }
    return best ?? (anyWarm ? undefined : fallback);
  }

  /**
   * Adds a worker above `threads.min` when tasks wait (or `queued` tasks wait inside busy workers)
   * and the workers loading cannot take them all.
   */
  #grow(queued = 0): void {
    if (this.#stopped || performance.now() < this.#spawnAfter) return;
    const room = this.#s.options.concurrentTasksPerWorker;
    let live = 0;
    let coming = 0;
    for (const [host, role] of this.#hosts) {
      if (role === 'draining') continue;
      live++;
      if (role === 'serving' && host.loading) coming += room - host.activeTasks;
    }
    if (live < this.#s.options.maxThreads && coming < this.#waiting.length + queued) this.#tryAdd(this.#target, 'serving');
  }

  /**
   * A worker above `threads.min` (above none after `unload()`) that stays idle for `idleTimeout`
   * leaves (not during a replacement).
   */
  #idleLater(host: WorkerHost): void {
    const timeout = this.#s.options.idleTimeout;
    if (timeout === Infinity || host.activeTasks > 0 || !this.#surplus(host)) return;
    this.#clearIdle(host);
    const timer = setTimeout(() => {
      this.#idleTimers.delete(host);
      if (host.activeTasks === 0 && this.#surplus(host)) void this.#leave(host);
    }, timeout);
    timer.unref();
    this.#idleTimers.set(host, timer);
  }

  #surplus(host: WorkerHost): boolean {
    if (this.#stopped || this.#changing || this.#hosts.get(host) !== 'serving') return false;
    let serving = 0;
    for (const role of this.#hosts.values()) if (role === 'serving') serving++;
    // After unload(), workers that calls brought back leave when idle, down to none.
    return serving > (this.#unloaded ? 0 : this.#s.options.minThreads);
  }

  #clearIdle(host: WorkerHost): void {
    const timer = this.#idleTimers.get(host);
    if (timer) clearTimeout(timer);
    this.#idleTimers.delete(host);
  }

  #wake(): void {
    for (const watcher of [...this.#watchers]) watcher();
  }

  /** Runs one replacement at a time. */
  #exclusive(work: () => Promise<void>): Promise<void> {
    const run = work();
    this.#changing = run.then(
      () => {},
      () => {},
    );
    void this.#changing.then(() => {
      this.#changing = undefined;
    });
    return run;
  }

  /** Replaces every serving worker that does not run `model`, one at a time. */
  async #replaceAll(model: ModelSpec): Promise<void> {
    for (;;) {
      if (this.#stopped) throw new PoolClosedError();
      let old: WorkerHost | undefined;
      for (const [host, role] of this.#hosts) if (role === 'serving' && host.model !== model) old ??= host;
      if (!old) return;
      const failure = await this.#replace(old, model);
      if (failure) throw failure;
      // The old worker is gone before the next new one starts: one worker more than usual at most.
      await this.#leave(old);
    }
  }

  /**
   * Blue-green: starts a worker with `model` beside `old`, and once it is warm, puts it in
   * service and takes `old` out in the same step (`old` finishes its tasks, then ends: see
   * #leave), so the warm workers that take tasks never number fewer. Resolves to why that could
   * not be done, if it could not; `old` then stays in service.
   */
  async #replace(old: WorkerHost, model: ModelSpec): Promise<Error | undefined> {
    const next = this.#tryAdd(model, 'pending');
    if (next instanceof ModelLoadError) return next;
    let watcher!: () => void;
    const failure = await new Promise<Error | undefined>((resolve) => {
      watcher = () => {
        if (this.#stopped) resolve(new PoolClosedError('the pool closed before the new worker was warm'));
        else if (next.loadError) resolve(next.loadError);
        else if (next.warm && this.#hosts.get(next) === 'pending') {
          this.#hosts.set(next, 'serving');
          this.#hosts.set(old, 'draining');
          this.#clearIdle(old);
          for (const id of old.threadIds) this.#s.supervisor.retire(id);
          resolve(undefined);
        }
      };
      this.#watchers.add(watcher);
      watcher();
    });
    this.#watchers.delete(watcher);
    if (failure === undefined) return undefined;
    for (const id of old.threadIds) this.#s.supervisor.restore(id);
    // Closing ends every host by itself; otherwise the failed one leaves before anything else starts.
    if (!this.#stopped) await this.#leave(next);
    return failure;
  }

  /** Takes a host out of service: it finishes its tasks, frees its session, and ends once that is safe. */
  #leave(host: WorkerHost): Promise<void> {
    let leaving = this.#leaving.get(host);
    if (!leaving) {
      this.#hosts.set(host, 'draining');
      this.#clearIdle(host);
      for (const id of host.threadIds) this.#s.supervisor.retire(id);
      leaving = (async () => {
        await host.whenIdle(Infinity);
        await host.disposeSession();
        await host.destroy();
        this.#hosts.delete(host);
        this.#leaving.delete(host);
        this.#wake();
      })();
      this.#leaving.set(host, leaving);
    }
    return leaving;
  }
}

/** Creating a worker thread failed (the Worker constructor throws, e.g. EAGAIN when out of threads or memory). */
export function cannotStart(model: ModelSpec, error: unknown): ModelLoadError {
  return new ModelLoadError(`could not start a worker thread for model ${model.label}: ${describe(error)}`, { cause: error });
}
