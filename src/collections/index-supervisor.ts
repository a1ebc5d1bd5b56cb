/**
 * Keeps the pool's one index worker running. It is started by the first collection call; when it
 * dies (an uncaught error, process.exit() in it, out of memory) a replacement opens the store from
 * disk (snapshot and log replay: every acknowledged write is there, the log is synced before the
 * answer) before it takes a request, and the calls the dead worker held are sent again, up to
 * `retries` times. Repeating a call is safe: a write is an upsert or a delete by id, so a write
 * that reached the log before the crash is written again, never twice as a new document.
 *
 * A replacement that cannot open the store, or that dies before answering anything, is a failure
 * in a row: the waiting calls get its typed error and the next start waits for a backoff (0.5 s
 * doubling to 30 s, as for embed workers), taken by the next call after it.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, errorFromWire, errorToWire, PoolClosedError, QueueTimeoutError, WorkerExitedError } from '../errors.js';
import { PoolStats } from '../stats.js';
import { restartBackoff } from '../supervisor.js';
import { StoreLock } from './lock.js';
import type { IndexMessage, IndexReply, IndexRequest, IndexWorkerData } from './protocol.js';
import type { CollectionRecovery, IndexHealth, IndexWorkerState } from '../types.js';

const WORKER_FILE = fileURLToPath(new URL('../../workers/index-worker.js', import.meta.url));
// The worker inherits the process's flags, but `--input-type` (of `node --input-type=module -e`)
// is refused for a file entry point and would kill every index worker at start.
const WORKER_EXEC_ARGV = process.execArgv.filter((arg) => !arg.startsWith('--input-type'));

/** A worker that lived this long once warm died of something new, not of the last failure again. */
const SETTLED_MS = 5_000;

export interface IndexSupervisorOptions {
  root: string;
  statsBuffer: SharedArrayBuffer;
  /** Times a call is sent again after the worker holding it died. */
  retries: number;
  /** Milliseconds a call may wait for a worker that is starting (`Infinity`: until it is ready or fails). */
  queueTimeout: number;
}

interface Job {
  readonly request: IndexRequest;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  /** Workers that died holding it. */
  attempts: number;
  timer: NodeJS.Timeout | undefined;
}

export class IndexSupervisor {
  readonly #o: IndexSupervisorOptions;
  readonly #stats: PoolStats;
  /** The store's lock, held here (not in a worker) from the first start until close: a replacement worker runs under it. */
  readonly #lock: StoreLock;
  #worker: Worker | undefined;
  #state: IndexWorkerState = 'not-started';
  /** Calls waiting for a worker to be ready, in order. */
  #waiting: Job[] = [];
  /** Calls the current worker holds, by message id. */
  readonly #sent = new Map<number, Job>();
  #nextId = 0;
  /** Collections the worker served: a replacement recovers them before it takes calls. */
  #used = new Set<string>();
  #failures = 0;
  #retryAt = 0;
  #downError: (() => Error) | undefined;
  #lastError: Error | undefined;
  #restarts = 0;
  #warmSince = 0;
  #answered = false;
  #closing: Promise<void> | undefined;
  /** What opening each collection found damaged, since the pool started (until it is dropped). */
  readonly #recoveries = new Map<string, CollectionRecovery>();

  constructor(options: IndexSupervisorOptions) {
    this.#o = options;
    this.#stats = new PoolStats(options.statsBuffer);
    this.#lock = new StoreLock(options.root);
  }

  /** Sends a request to the index worker (starting one if needed); resolves to its answer. */
  call(request: IndexRequest): Promise<unknown> {
    if (this.#closing) return Promise.reject(new PoolClosedError());
    if (this.#state === 'down') {
      if (performance.now() < this.#retryAt) return Promise.reject(this.#downError!());
      this.#start();
    } else if (this.#state === 'not-started') {
      this.#start();
    }
    // Starting may have failed at once (the worker could not even be created).
    if (this.#state === 'down') return Promise.reject(this.#downError!());
    return new Promise((resolve, reject) => {
      const job: Job = { request, resolve, reject, attempts: 0, timer: undefined };
      if (this.#state === 'warm') this.#send(job);
      else this.#wait(job);
    });
  }

  health(): IndexHealth {
    const health: IndexHealth = { state: this.#state, restarts: this.#restarts };
    if (this.#lastError) health.lastError = describe(this.#lastError);
    if (this.#state === 'down') health.retryInMs = Math.max(0, Math.ceil(this.#retryAt - performance.now()));
    if (this.#recoveries.size > 0) health.recoveries = [...this.#recoveries].map(([collection, recovery]) => ({ collection, recovery }));
    return health;
  }

  #start(): void {
    this.#state = 'starting';
    this.#answered = false;
    try {
      this.#lock.acquire();
    } catch (error) {
      // Another pool holds the store (or it cannot be created): no worker, and the same backoff as a failed open.
      this.#restarted();
      this.#failures++;
      const wire = errorToWire(error);
      this.#down(error as Error, () => errorFromWire(wire));
      return;
    }
    const workerData: IndexWorkerData = {
      root: this.#o.root,
      statsBuffer: this.#o.statsBuffer,
      reopen: [...this.#used],
    };
    let worker: Worker;
    try {
      worker = new Worker(WORKER_FILE, { workerData, execArgv: WORKER_EXEC_ARGV });
    } catch (error) {
      this.#failures++;
      this.#down(error as Error, () => new WorkerExitedError(`the index worker could not be started: ${describe(error)}`, { cause: error }));
      return;
    }
    this.#worker = worker;
    let crash: Error | undefined;
    worker.on('message', (reply: IndexReply) => this.#onMessage(worker, reply));
    worker.on('error', (error) => {
      crash = error;
    });
    worker.on('exit', (code) => this.#onExit(worker, crash ?? new Error(`exit code ${code}`)));
    this.#updateRef();
  }

  #onMessage(worker: Worker, reply: IndexReply): void {
    if (worker !== this.#worker) return;
    if ('event' in reply) {
      if (reply.event === 'recovery') {
        this.#recoveries.set(reply.collection, reply.recovery);
        return;
      }
      if (reply.event === 'ready') {
        this.#state = 'warm';
        this.#warmSince = performance.now();
        this.#lastError = undefined;
        this.#used = new Set(reply.open);
        const waiting = this.#waiting;
        this.#waiting = [];
        for (const job of waiting) this.#send(job);
        return;
      }
      // The store cannot be opened (e.g. another process holds its lock): the worker ends itself
      // (see workers/index-worker.ts); its exit is expected now.
      this.#worker = undefined;
      const wire = reply.error;
      this.#restarted();
      this.#failures++;
      this.#down(errorFromWire(wire), () => errorFromWire(wire));
      return;
    }
    const job = this.#sent.get(reply.id);
    if (!job) return;
    this.#sent.delete(reply.id);
    this.#answered = true;
    this.#failures = 0;
    if ('error' in reply) {
      job.reject(errorFromWire(reply.error));
    } else {
      this.#track(job.request);
      job.resolve(reply.result);
    }
    this.#updateRef();
  }

  #onExit(worker: Worker, cause: Error): void {
    if (worker !== this.#worker || this.#closing) return;
    this.#worker = undefined;
    const wasWarm = this.#state === 'warm';
    this.#restarted();
    // The calls it held go first in line again, in order, while they have retries left.
    const again: Job[] = [];
    for (const job of this.#sent.values()) {
      job.attempts++;
      if (job.attempts <= this.#o.retries) {
        again.push(job);
      } else {
        const n = job.attempts;
        job.reject(new WorkerExitedError(`the index worker exited before answering (${n} attempt${n === 1 ? '' : 's'}): ${describe(cause)}`, { cause }));
      }
    }
    this.#sent.clear();
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const job of [...again, ...waiting]) this.#wait(job);
    // A worker that served before it died failed afresh: replace it now. One that died opening
    // the store, or before it answered anything, continues a run of failures: back off.
    const served = wasWarm && (this.#answered || performance.now() - this.#warmSince > SETTLED_MS);
    this.#failures = served ? 1 : this.#failures + 1;
    if (served) {
      this.#lastError = cause;
      this.#start();
      return;
    }
    const what = wasWarm ? 'exited' : 'exited while opening the store';
    this.#down(cause, () => new WorkerExitedError(`the index worker ${what}: ${describe(cause)}`, { cause }));
  }

  /** Counts a worker that died or could not open the store. */
  #restarted(): void {
    this.#restarts++;
    this.#stats.inc('indexRestarts');
  }

  /** No worker until the backoff has passed: the waiting calls get the failure's error now. */
  #down(cause: Error, error: () => Error): void {
    this.#state = 'down';
    this.#lastError = cause;
    this.#downError = error;
    this.#retryAt = performance.now() + restartBackoff(this.#failures);
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const job of waiting) {
      clearTimeout(job.timer);
      job.reject(error());
    }
  }

  #wait(job: Job): void {
    this.#waiting.push(job);
    if (this.#o.queueTimeout !== Infinity) {
      job.timer = setTimeout(() => {
        const at = this.#waiting.indexOf(job);
        if (at < 0) return;
        this.#waiting.splice(at, 1);
        job.reject(new QueueTimeoutError(`the call waited ${this.#o.queueTimeout} ms for the index worker to open the store (queueTimeout) and did not run`));
        this.#updateRef();
      }, this.#o.queueTimeout);
    }
    this.#updateRef();
  }

  #send(job: Job): void {
    clearTimeout(job.timer);
    job.timer = undefined;
    const id = ++this.#nextId;
    this.#sent.set(id, job);
    this.#updateRef();
    this.#worker!.postMessage({ ...job.request, id } satisfies IndexMessage);
  }

  /** Remembers which collections are in use, for a replacement to recover. */
  #track(request: IndexRequest): void {
    if (request.op === 'drop') {
      this.#used.delete(request.collection);
      this.#recoveries.delete(request.collection);
    }
    else if (request.op === 'create') this.#used.add(request.settings.name);
    else if ('collection' in request) this.#used.add(request.collection);
  }

  /** Waiting callers keep the process alive; an idle index worker does not. */
  #updateRef(): void {
    if (this.#sent.size > 0 || this.#waiting.length > 0 || this.#closing) this.#worker?.ref();
    else this.#worker?.unref();
  }

  /**
   * Lets the worker finish the requests it holds (their callers get their answers), snapshot and
   * close the store, and end itself; then releases the store's lock. A worker still opening the
   * store stops after the collection it is opening. The pool never terminates the index worker:
   * ending a thread in the middle of a usearch call aborts the whole process. Calls still waiting
   * for a worker get `PoolClosedError`. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const job of waiting) {
      clearTimeout(job.timer);
      job.reject(new PoolClosedError('the pool closed before the call reached the index worker'));
    }
    const worker = this.#worker;
    if (worker) {
      worker.ref();
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage({ op: 'close', id: ++this.#nextId } satisfies IndexMessage);
      await exited;
    }
    this.#worker = undefined;
    this.#state = 'closed';
    // Only a worker that died meanwhile leaves calls unanswered.
    for (const job of this.#sent.values()) job.reject(new PoolClosedError('the pool closed before the index worker answered the call'));
    this.#sent.clear();
    this.#lock.release();
  }
}
