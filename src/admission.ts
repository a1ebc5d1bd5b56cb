import { AbortError, QueueFullError, QueueTimeoutError } from './errors.js';

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  done: boolean;
}

/**
 * A bounded admission queue: at most `maxInFlight` slots are held at once and at most `maxQueue`
 * callers wait for one, in FIFO order. A caller beyond that is refused at once; a waiting caller
 * leaves at once when its signal aborts or its wait passes `timeout`, and never runs.
 */
export class AdmissionQueue {
  readonly maxInFlight: number;
  readonly maxQueue: number;
  #held = 0;
  #waiting = 0;
  // A growable FIFO: `#head` is the next waiter; settled waiters are skipped and compacted away.
  #queue: (Waiter | undefined)[] = [];
  #head = 0;
  readonly #onQueuedChange: (delta: number) => void;

  constructor(maxInFlight: number, maxQueue: number, onQueuedChange: (delta: number) => void = () => {}) {
    this.maxInFlight = maxInFlight;
    this.maxQueue = maxQueue;
    this.#onQueuedChange = onQueuedChange;
  }

  /** Slots held now. */
  get held(): number {
    return this.#held;
  }

  /** Callers waiting now. */
  get waiting(): number {
    return this.#waiting;
  }

  /**
   * Takes a slot. Returns `undefined` when one was free (the common, allocation-free path), or a
   * promise that resolves once a slot is handed over. Throws `QueueFullError` when the queue is full.
   */
  acquire(signal: AbortSignal | undefined, timeout: number): Promise<void> | undefined {
    if (this.#held < this.maxInFlight && this.#waiting === 0) {
      this.#held++;
      return undefined;
    }
    if (this.#waiting >= this.maxQueue) {
      throw new QueueFullError(
        `the admission queue is full (${this.#waiting} calls waiting, maxQueue ${this.maxQueue}); try again later`,
      );
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined, signal, onAbort: undefined, done: false };
      if (timeout !== Infinity) {
        waiter.timer = setTimeout(() => {
          this.#leave(waiter, new QueueTimeoutError(`the call waited ${timeout} ms for a worker (queueTimeout) and did not run`));
        }, timeout);
      }
      if (signal) {
        waiter.onAbort = () => this.#leave(waiter, new AbortError('the call was aborted while waiting for a worker', { cause: signal.reason }));
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#queue.push(waiter);
      this.#waiting++;
      this.#onQueuedChange(1);
    });
  }

  /** Gives a slot back: it goes straight to the longest-waiting caller, if any. */
  release(): void {
    const next = this.#shift();
    if (next) {
      this.#settle(next);
      next.resolve();
      return;
    }
    this.#held--;
  }

  /** Rejects every waiting caller with `error` (used by close). */
  rejectAll(error: () => Error): void {
    for (let next = this.#shift(); next; next = this.#shift()) {
      this.#settle(next);
      next.reject(error());
    }
  }

  #shift(): Waiter | undefined {
    while (this.#head < this.#queue.length) {
      const waiter = this.#queue[this.#head];
      this.#queue[this.#head++] = undefined;
      if (waiter && !waiter.done) {
        this.#compact();
        return waiter;
      }
    }
    this.#compact();
    return undefined;
  }

  #compact(): void {
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  #leave(waiter: Waiter, error: Error): void {
    if (waiter.done) return;
    this.#settle(waiter);
    waiter.reject(error);
  }

  #settle(waiter: Waiter): void {
    waiter.done = true;
    this.#waiting--;
    this.#onQueuedChange(-1);
    if (waiter.timer) clearTimeout(waiter.timer);
    if (waiter.onAbort) waiter.signal!.removeEventListener('abort', waiter.onAbort);
  }
}
