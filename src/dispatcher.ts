/**
 * The way from the admission queue to the workers and back: waiting calls are coalesced into
 * tasks, sent to free workers, run again elsewhere when their worker dies, and answered call by
 * call. Internal: {@link WarmPool} is the public shell over it.
 */
import { performance } from 'node:perf_hooks';
import { Call, RunningTask, type CallExtra } from './call.js';
import { BATCH, CallQueue, INTERACTIVE, type Lane } from './call-queue.js';
import { ModelLoadError, PoolClosedError, WorkerExitedError, describe, errorFromWire } from './errors.js';
import type { Fleet } from './fleet.js';
import type { CheckedEmbedOptions } from './inputs.js';
import type { ResolvedOptions } from './options.js';
import { CONTROL_ALL, callFlags, isPackedCall, type EmbedTask, type TaskResult } from './protocol.js';
import type { PoolStats } from './stats.js';
import type { Supervisor } from './supervisor.js';
import type { ModelTask, PoolState } from './types.js';

/** What the dispatcher reads of the pool that owns it, as it is at each moment. */
export interface DispatcherHost {
  /** Retries stop once the pool closes; waiting calls fail fast for want of a model only once it was ready. */
  state(): PoolState;
  /** The pool's workers: undefined before start and once failed or closed. */
  fleet(): Fleet | undefined;
  /** What the model does: the `op` of every task. */
  readonly task: ModelTask;
  /** Once the model failed to load (state `failed`): the error its calls get. */
  failedError(): Error;
}

export class Dispatcher {
  readonly #options: ResolvedOptions;
  readonly #stats: PoolStats;
  readonly #supervisor: Supervisor;
  readonly #host: DispatcherHost;
  readonly #queue: CallQueue<Call>;
  /** Tasks that may still be sent to workers: maxThreads x concurrentTasksPerWorker minus those running. */
  #freeTaskSlots: number;
  /**
   * Places beyond those, as many again, for interactive tasks only: with every regular place taken
   * by batch work, an interactive call still reaches a worker at once, and runs there between two
   * model runs of the batch task (see `EmbedTask.lane`). More than one per worker, so that calls
   * arriving while an interactive task runs are already on the worker when it ends, and run next,
   * before the batch task takes its next model run.
   */
  #freeInteractiveSlots: number;
  /** Batch tasks out now: the places above are only for getting past batch work. */
  #runningBatch = 0;
  #pumpScheduled = false;
  #delayTimer: NodeJS.Timeout | undefined;
  /** Tasks sent to workers and not yet answered: close() answers their calls when its deadline passes. */
  readonly #running = new Set<RunningTask>();
  readonly #control: Int32Array;
  readonly #freeCancelSlots: number[];

  constructor(options: ResolvedOptions, stats: PoolStats, supervisor: Supervisor, host: DispatcherHost) {
    this.#options = options;
    this.#stats = stats;
    this.#supervisor = supervisor;
    this.#host = host;
    const regular = options.maxThreads * options.concurrentTasksPerWorker;
    this.#freeTaskSlots = regular;
    this.#freeInteractiveSlots = regular;
    const maxInFlight = regular * 2;
    this.#queue = new CallQueue<Call>(options.maxQueue, (delta, lane) => {
      stats.gaugeAdd('queued', delta);
      if (lane === BATCH) stats.gaugeAdd('queuedBatch', delta);
    });
    // One cancel flag per task that can be in flight, plus the close-everything flag at index 0.
    this.#control = new Int32Array(new SharedArrayBuffer(4 * (maxInFlight + 1)));
    this.#freeCancelSlots = Array.from({ length: maxInFlight }, (_, i) => maxInFlight - i);
  }

  /** The flags workers check between model runs (see `WorkerConfig.control`). */
  get controlBuffer(): SharedArrayBuffer {
    return this.#control.buffer as SharedArrayBuffer;
  }

  /** Puts a call in the admission queue (throws `QueueFullError` at once when it is full). */
  enqueue(texts: string[], opts: CheckedEmbedOptions, began: number, extra?: CallExtra): Call {
    const call = new Call(texts, opts, began, extra);
    const lane: Lane = opts.priority === 'batch' ? BATCH : INTERACTIVE;
    // Calls that free workers will take at the next dispatch do not count against maxQueue.
    const free = this.#freeTaskSlots + (lane === INTERACTIVE && this.#runningBatch > 0 ? this.#freeInteractiveSlots : 0);
    this.#queue.push(call, call.size, opts.signal, this.#options.queueTimeout, free, lane);
    // Calls made in the same tick share a task: sending waits for the microtask queue to drain.
    if (!this.#pumpScheduled) {
      this.#pumpScheduled = true;
      queueMicrotask(() => {
        this.#pumpScheduled = false;
        this.pump();
      });
    }
    return call;
  }

  /** Sends waiting calls to free workers, coalescing them into tasks when batching is on. */
  pump(): void {
    const { batching, maxBatchSize, maxBatchDelay } = this.#options;
    const supervisor = this.#supervisor;
    if (this.#host.state() === 'ready' && this.#queue.waiting > 0 && supervisor.warm() === 0 && supervisor.lastLoadError) {
      // No worker holds the model and the last attempt to load it failed: say so rather than wait.
      const cause = supervisor.lastLoadError;
      this.#queue.rejectAll(() => new ModelLoadError(`no worker has the model loaded; the last attempt failed: ${cause.message}`, { cause }));
      return;
    }
    let fleet: Fleet | undefined;
    while (this.#queue.waiting > 0 && (fleet = this.#host.fleet())) {
      const lane = this.#queue.next;
      // With every regular place taken, only an interactive call may go, to a place of its own,
      // and only past batch work (interactive calls among themselves keep their order and limits).
      const extra = this.#freeTaskSlots === 0;
      if (extra && (lane !== INTERACTIVE || this.#freeInteractiveSlots === 0 || this.#runningBatch === 0)) break;
      if (batching && maxBatchDelay > 0 && this.#queue.texts < maxBatchSize) {
        const waited = performance.now() - this.#queue.peek()!.began;
        if (waited < maxBatchDelay) {
          this.#delayTimer ??= setTimeout(() => {
            this.#delayTimer = undefined;
            this.pump();
          }, maxBatchDelay - waited);
          return;
        }
      }
      const share = taskShare(this.#queue.texts, fleet.idle, extra ? this.#freeInteractiveSlots : this.#freeTaskSlots);
      const calls = batching ? this.#queue.take(Math.min(maxBatchSize, share), Infinity) : this.#queue.take(Infinity, 1);
      if (calls.length === 0) break;
      if (extra) this.#freeInteractiveSlots--;
      else this.#freeTaskSlots--;
      this.#dispatch(calls, lane, extra);
    }
  }

  /** Fails every waiting call with a fresh error (a failed model, or close). */
  rejectWaiting(error: () => Error): void {
    this.#queue.rejectAll(error);
  }

  /** Close: waiting calls fail with `PoolClosedError`, and no delayed pump runs any more. */
  close(): void {
    this.#queue.rejectAll(() => new PoolClosedError('the pool closed before the call reached a worker'));
    clearTimeout(this.#delayTimer);
  }

  /** Close past its deadline: callers still waiting for a running task are answered with `error` now. */
  giveUpRunning(error: () => Error): void {
    for (const task of this.#running) {
      for (const call of task.calls) call.giveUp(error());
    }
  }

  /** Raises the flag that makes every worker drop what is left of its tasks (and a loading one stop before onnxruntime). */
  stopAll(): void {
    Atomics.store(this.#control, CONTROL_ALL, 1);
  }

  /** Runs a task on a worker. A caller may stop waiting (timeout, abort, close); the worker never is stopped mid-run. */
  #dispatch(calls: Call[], lane: Lane, extra: boolean): void {
    const now = performance.now();
    // At most maxThreads x (concurrency + 1) tasks run at once, so a cancel flag is always free.
    const cancelSlot = this.#freeCancelSlots.pop()!;
    const task = packTask(calls, this.#options, cancelSlot, this.#host.task, lane);
    const running = new RunningTask(calls, this.#control, cancelSlot, this.#stats, extra, lane === BATCH);
    if (lane === BATCH) this.#runningBatch++;
    this.#running.add(running);
    const stats = this.#stats;
    stats.inc('tasks');
    stats.gaugeAdd('inFlight', calls.length);
    const timeout = this.#options.timeout;
    for (const call of calls) {
      stats.recordWait(now - call.began, lane === INTERACTIVE);
      call.dispatched(now, timeout, running);
    }
    this.#attempt(task, running, 0);
  }

  /** One attempt at a task. When its worker dies, embedding being pure, it runs again elsewhere. */
  #attempt(task: EmbedTask, running: RunningTask, attempt: number): void {
    this.#host.fleet()!.run(task).then(
      (result: TaskResult) => {
        this.#taskDone(running);
        answerCalls(running.calls, result);
      },
      (error: unknown) => {
        const state = this.#host.state();
        if (state === 'failed') {
          // The model failed to load while the task waited on a loading worker, which was then
          // ended: its callers are told why the model is unusable, not that a worker exited.
          this.#taskDone(running);
          for (const call of running.calls) call.fail(this.#host.failedError());
          return;
        }
        const closing = state === 'closing' || state === 'closed';
        if (!closing && running.calls.some((call) => !call.settled) && attempt < this.#options.retries && this.#host.fleet()) {
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
    if (running.extra) this.#freeInteractiveSlots++;
    else this.#freeTaskSlots++;
    if (running.batch) this.#runningBatch--;
    this.pump();
  }
}

/**
 * Texts one task may take from the queue: what waits, spread over the free workers rather than
 * handed all to the first one. Idle workers first, each taking an equal share; only when every
 * worker is busy do tasks go to the slots where a worker keeps its next task
 * (concurrentTasksPerWorker > 1).
 */
export function taskShare(waitingTexts: number, idleWorkers: number, freeTaskSlots: number): number {
  return Math.ceil(waitingTexts / (idleWorkers > 0 ? idleWorkers : freeTaskSlots));
}

/** A task for a worker, packed flat: every call's texts in one array, each call's count and flags in one `Int32Array`. */
export function packTask(
  calls: readonly (Pick<Call, 'texts' | 'opts'> & { extra?: CallExtra })[],
  limits: Pick<EmbedTask, 'batchSize' | 'maxBatchTokens' | 'batchRunMs'>,
  cancelSlot: number,
  op: ModelTask = 'embed',
  lane: Lane = INTERACTIVE,
): EmbedTask {
  const texts: string[] = [];
  const shape = new Int32Array(calls.length * 2);
  const { batchSize, maxBatchTokens, batchRunMs } = limits;
  const task: EmbedTask = { op, texts, calls: shape, batchSize, maxBatchTokens, batchRunMs, cancelSlot, lane };
  if (op === 'rerank') task.pairs = calls.map((call) => call.extra?.pair ?? '');
  if (op === 'custom') task.inputs = [];
  for (let c = 0; c < calls.length; c++) {
    const call = calls[c]!;
    const inputs = call.extra?.inputs;
    if (inputs) for (const input of inputs) task.inputs!.push(input);
    else for (const text of call.texts) texts.push(text);
    shape[2 * c] = inputs?.length ?? call.texts.length;
    shape[2 * c + 1] = callFlags(call.opts.pooling, call.opts.normalize, call.opts.truncate);
  }
  return task;
}

/**
 * Settles the calls of a task with its worker's answer: each call with its own vectors (a large
 * call's buffer as it came, a small call's copied out of the task's shared buffer) and its own
 * tokens, or with its own error; every call with the task's error when the model could not run.
 */
export function answerCalls(calls: readonly (Pick<Call, 'texts' | 'settled' | 'finish' | 'fail'> & Partial<Pick<Call, 'size' | 'finishValues'>>)[], result: TaskResult): void {
  if ('error' in result) {
    for (const call of calls) call.fail(errorFromWire(result.error));
    return;
  }
  if ('values' in result) {
    for (const [c, error] of result.errors) calls[c]!.fail(errorFromWire(error));
    for (let c = 0, at = 0; c < calls.length; c++) {
      const call = calls[c]!;
      const count = call.size ?? call.texts.length;
      if (!call.settled) call.finishValues!(result.values.slice(at, at + count));
      at += count;
    }
    return;
  }
  const { vectors, packed, width, tokens, errors } = result;
  for (const [c, error] of errors) calls[c]!.fail(errorFromWire(error));
  for (let c = 0, t = 0, p = 0; c < calls.length; c++) {
    const call = calls[c]!;
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
}
