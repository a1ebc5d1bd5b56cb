/**
 * One caller's call on its way through the pool ({@link Call}), and the calls that share one task
 * on a worker ({@link RunningTask}).
 */
import { AbortError, TaskTimeoutError } from './errors.js';
import type { CheckedEmbedOptions } from './inputs.js';
import type { PoolStats } from './stats.js';
import type { PackedVectors } from './types.js';

/** What a call resolves to: its vectors (or scores, a row per text), or a custom task's outputs in `values`. */
export interface CallResult extends PackedVectors {
  values?: unknown[];
}

/** What a call carries besides its texts: a rerank call's query, a custom call's inputs. */
export interface CallExtra {
  /** `rerank`: the query each of the call's texts is paired with. */
  pair?: string;
  /** `custom`: the call's inputs (its `texts` are then empty). */
  inputs?: unknown[];
}

/**
 * One caller's call, from the admission queue to its answer. It settles exactly once: with its
 * outcome, or earlier with a typed error when its deadline, its signal or the pool's close fires.
 */
export class Call {
  readonly promise: Promise<CallResult>;
  dispatchedAt = 0;
  #resolve!: (result: CallResult) => void;
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

  /** Items of the call: its texts, or a custom call's inputs. */
  readonly size: number;

  constructor(
    readonly texts: string[],
    readonly opts: CheckedEmbedOptions,
    readonly began: number,
    readonly extra: CallExtra = {},
  ) {
    this.size = extra.inputs?.length ?? texts.length;
    this.promise = new Promise<CallResult>((resolve, reject) => {
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

  /** A custom call's outputs arrived, one per input. */
  finishValues(values: unknown[]): void {
    if (this.#settled) return;
    this.#settle();
    this.#resolve({ data: new Float32Array(0), dims: [values.length, 0], tokens: 0, values });
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
    /** Whether the task took one of the places kept for interactive tasks. */
    readonly extra = false,
    /** Whether it is batch work. */
    readonly batch = false,
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
