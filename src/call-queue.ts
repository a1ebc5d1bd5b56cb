import { AbortError, QueueFullError, QueueTimeoutError } from './errors.js';

/** What the queue holds: something it can fail when it leaves without running. */
export interface Queued {
  fail(error: Error): void;
}

/** A lane of the queue: `INTERACTIVE` calls are taken before any waiting `BATCH` call. */
export const INTERACTIVE = 0;
export const BATCH = 1;
export type Lane = typeof INTERACTIVE | typeof BATCH;

/** A call waiting for a worker. The queue owns its waiting state; the pool owns the payload. */
export interface Waiting<T extends Queued> {
  readonly payload: T;
  /** Texts the call carries, for sizing coalesced tasks. */
  readonly size: number;
  readonly lane: Lane;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  done: boolean;
}

/** One lane's FIFO: `head` is the next call; settled calls are skipped and compacted away. */
interface Fifo<T extends Queued> {
  items: (Waiting<T> | undefined)[];
  head: number;
  waiting: number;
  texts: number;
}

/**
 * The bounded admission queue, in two lanes: at most `maxQueue` calls wait in each, in FIFO order,
 * and a waiting interactive call is always taken before any waiting batch call (bulk work never
 * holds a user's call back in the queue). A call beyond its lane's bound is refused at once; a
 * waiting call leaves at once when its signal aborts or its wait passes `timeout`, and never runs.
 * The pool takes calls from the head in batches ({@link CallQueue.take}), one lane at a time.
 */
export class CallQueue<T extends Queued> {
  readonly maxQueue: number;
  readonly #lanes: [Fifo<T>, Fifo<T>] = [
    { items: [], head: 0, waiting: 0, texts: 0 },
    { items: [], head: 0, waiting: 0, texts: 0 },
  ];
  readonly #onChange: (delta: number, lane: Lane) => void;

  constructor(maxQueue: number, onChange: (delta: number, lane: Lane) => void) {
    this.maxQueue = maxQueue;
    this.#onChange = onChange;
  }

  /** Calls waiting now, in both lanes. */
  get waiting(): number {
    return this.#lanes[0].waiting + this.#lanes[1].waiting;
  }

  /** Texts carried by the calls waiting now, in the lane that is taken next. */
  get texts(): number {
    return this.#lanes[this.next].texts;
  }

  /** Calls waiting in one lane. */
  waitingIn(lane: Lane): number {
    return this.#lanes[lane].waiting;
  }

  /** The lane the next {@link CallQueue.take} takes from: interactive while any waits. */
  get next(): Lane {
    return this.#lanes[INTERACTIVE].waiting > 0 ? INTERACTIVE : BATCH;
  }

  /** The call at the head of the lane taken next, if any. */
  peek(): T | undefined {
    const fifo = this.#lanes[this.next];
    for (let i = fifo.head; i < fifo.items.length; i++) {
      const item = fifo.items[i];
      if (item && !item.done) return item.payload;
    }
    return undefined;
  }

  /**
   * Adds a call to a lane. Throws `QueueFullError` when `maxQueue` calls already wait in that lane
   * beyond the `free` places that workers will take at the next dispatch.
   */
  push(payload: T, size: number, signal: AbortSignal | undefined, timeout: number, free = 0, lane: Lane = INTERACTIVE): void {
    const fifo = this.#lanes[lane];
    if (fifo.waiting >= this.maxQueue + free) {
      const which = lane === BATCH ? 'batch lane of the admission queue' : 'admission queue';
      throw new QueueFullError(`the ${which} is full (${fifo.waiting} calls waiting, maxQueue ${this.maxQueue}); try again later`);
    }
    const item: Waiting<T> = { payload, size, lane, timer: undefined, signal, onAbort: undefined, done: false };
    if (timeout !== Infinity) {
      item.timer = setTimeout(() => {
        this.#leave(item, new QueueTimeoutError(`the call waited ${timeout} ms for a worker (queueTimeout) and did not run`));
      }, timeout);
    }
    if (signal) {
      item.onAbort = () => this.#leave(item, new AbortError('the call was aborted while waiting for a worker', { cause: signal.reason }));
      signal.addEventListener('abort', item.onAbort, { once: true });
    }
    fifo.items.push(item);
    fifo.waiting++;
    fifo.texts += size;
    this.#onChange(1, lane);
  }

  /**
   * Takes calls from the head of the lane taken next while they fit in `maxTexts` texts and
   * `maxCalls` calls; the first call is always taken, however large. Returns [] when nothing waits.
   * The calls of one take are all of one lane.
   */
  take(maxTexts: number, maxCalls: number): T[] {
    const fifo = this.#lanes[this.next];
    const out: T[] = [];
    let texts = 0;
    while (fifo.head < fifo.items.length && out.length < maxCalls) {
      const item = fifo.items[fifo.head];
      if (!item || item.done) {
        fifo.items[fifo.head++] = undefined;
        continue;
      }
      if (out.length > 0 && texts + item.size > maxTexts) break;
      fifo.items[fifo.head++] = undefined;
      this.#settle(item);
      out.push(item.payload);
      texts += item.size;
    }
    compact(fifo);
    return out;
  }

  /** Rejects every waiting call with a fresh error (used by close and by a failed model). */
  rejectAll(error: () => Error): void {
    for (const fifo of this.#lanes) {
      while (fifo.head < fifo.items.length) {
        const item = fifo.items[fifo.head];
        fifo.items[fifo.head++] = undefined;
        if (item && !item.done) {
          this.#settle(item);
          item.payload.fail(error());
        }
      }
      compact(fifo);
    }
  }

  #leave(item: Waiting<T>, error: Error): void {
    if (item.done) return;
    this.#settle(item);
    item.payload.fail(error);
  }

  #settle(item: Waiting<T>): void {
    item.done = true;
    const fifo = this.#lanes[item.lane];
    fifo.waiting--;
    fifo.texts -= item.size;
    this.#onChange(-1, item.lane);
    if (item.timer) clearTimeout(item.timer);
    if (item.onAbort) item.signal!.removeEventListener('abort', item.onAbort);
  }
}

function compact<T extends Queued>(fifo: Fifo<T>): void {
  if (fifo.head === fifo.items.length) {
    fifo.items.length = 0;
    fifo.head = 0;
  } else if (fifo.head > 1024 && fifo.head * 2 > fifo.items.length) {
    fifo.items = fifo.items.slice(fifo.head);
    fifo.head = 0;
  }
}
