import { AbortError, QueueFullError, QueueTimeoutError } from './errors.js';

/** What the queue holds: something it can fail when it leaves without running. */
export interface Queued {
  fail(error: Error): void;
}

/** A call waiting for a worker. The queue owns its waiting state; the pool owns the payload. */
export interface Waiting<T extends Queued> {
  readonly payload: T;
  /** Texts the call carries, for sizing coalesced tasks. */
  readonly size: number;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  done: boolean;
}

/**
 * The bounded admission queue: at most `maxQueue` calls wait, in FIFO order. A call beyond that
 * is refused at once; a waiting call leaves at once when its signal aborts or its wait passes
 * `timeout`, and never runs. The pool takes calls from the head in batches ({@link CallQueue.take}).
 */
export class CallQueue<T extends Queued> {
  readonly maxQueue: number;
  #waiting = 0;
  #texts = 0;
  // A growable FIFO: `#head` is the next call; settled calls are skipped and compacted away.
  #items: (Waiting<T> | undefined)[] = [];
  #head = 0;
  readonly #onChange: (delta: number) => void;

  constructor(maxQueue: number, onChange: (delta: number) => void) {
    this.maxQueue = maxQueue;
    this.#onChange = onChange;
  }

  /** Calls waiting now. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Texts carried by the calls waiting now. */
  get texts(): number {
    return this.#texts;
  }

  /** The call at the head of the queue, if any. */
  peek(): T | undefined {
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i];
      if (item && !item.done) return item.payload;
    }
    return undefined;
  }

  /**
   * Adds a call. Throws `QueueFullError` when `maxQueue` calls already wait beyond the `free`
   * places that workers will take at the next dispatch.
   */
  push(payload: T, size: number, signal: AbortSignal | undefined, timeout: number, free = 0): void {
    if (this.#waiting >= this.maxQueue + free) {
      throw new QueueFullError(`the admission queue is full (${this.#waiting} calls waiting, maxQueue ${this.maxQueue}); try again later`);
    }
    const item: Waiting<T> = { payload, size, timer: undefined, signal, onAbort: undefined, done: false };
    if (timeout !== Infinity) {
      item.timer = setTimeout(() => {
        this.#leave(item, new QueueTimeoutError(`the call waited ${timeout} ms for a worker (queueTimeout) and did not run`));
      }, timeout);
    }
    if (signal) {
      item.onAbort = () => this.#leave(item, new AbortError('the call was aborted while waiting for a worker', { cause: signal.reason }));
      signal.addEventListener('abort', item.onAbort, { once: true });
    }
    this.#items.push(item);
    this.#waiting++;
    this.#texts += size;
    this.#onChange(1);
  }

  /**
   * Takes calls from the head while they fit in `maxTexts` texts and `maxCalls` calls; the first
   * call is always taken, however large. Returns [] when nothing waits.
   */
  take(maxTexts: number, maxCalls: number): T[] {
    const out: T[] = [];
    let texts = 0;
    while (this.#head < this.#items.length && out.length < maxCalls) {
      const item = this.#items[this.#head];
      if (!item || item.done) {
        this.#items[this.#head++] = undefined;
        continue;
      }
      if (out.length > 0 && texts + item.size > maxTexts) break;
      this.#items[this.#head++] = undefined;
      this.#settle(item);
      out.push(item.payload);
      texts += item.size;
    }
    this.#compact();
    return out;
  }

  /** Rejects every waiting call with a fresh error (used by close and by a failed model). */
  rejectAll(error: () => Error): void {
    while (this.#head < this.#items.length) {
      const item = this.#items[this.#head];
      this.#items[this.#head++] = undefined;
      if (item && !item.done) {
        this.#settle(item);
        item.payload.fail(error());
      }
    }
    this.#compact();
  }

  #compact(): void {
    if (this.#head === this.#items.length) {
      this.#items.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }

  #leave(item: Waiting<T>, error: Error): void {
    if (item.done) return;
    this.#settle(item);
    item.payload.fail(error);
  }

  #settle(item: Waiting<T>): void {
    item.done = true;
    this.#waiting--;
    this.#texts -= item.size;
    this.#onChange(-1);
    if (item.timer) clearTimeout(item.timer);
    if (item.onAbort) item.signal!.removeEventListener('abort', item.onAbort);
  }
}
