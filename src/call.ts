/**
 * One caller's call on its way through the pool ({@link Call}), and the calls that share one task
 * on a worker ({@link RunningTask}).
 */
import { AbortError, TaskTimeoutError } from './errors.js';
import type { CheckedEmbedOptions } from './inputs.js';
import type { PoolStats } from './stats.js';
import type { PackedVectors } from './types.js';

/**
 * One caller's call, from the admission queue to its answer. It settles exactly once: with its
 * outcome, or earlier with a typed error when its deadline, its signal or the pool's close fires.
 */
export class Call {
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

/**
 * The calls of one task. When every one of them has given up (timeout, abort, close), the task's
 * cancel flag tells the worker to skip the model runs left.
 */
export class RunningTask {
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
