/**
 * Options of the queue client and the queue worker, their defaults, and their validation (once,
 * at construction: `TypeError` for a wrong type, `RangeError` for a bad value).
 */
import type { ConnectionOptions, RateLimiterOptions } from 'bullmq';
import type { WarmPool } from '../pool.js';
import type { JobHandlers } from './handlers.js';
import { MAX_TIMER_MS } from '../options.js';

/** A Redis URL (`redis://host:port/db`, `rediss://` for TLS) or BullMQ connection options (an ioredis instance works too). */
export type QueueConnection = string | ConnectionOptions;

export interface QueueClientOptions {
  /** Where Redis is. */
  connection: QueueConnection;
  /** The queue's name; consumers started with the same name serve this client. */
  queue: string;
  /**
   * Jobs that may wait or run in the queue (from every client) before `embed()` answers
   * `QueueFullError` at once. Counted locally and reconciled with Redis every `reconcileInterval`.
   * @default 10000
   */
  maxWaiting?: number;
  /** Default milliseconds a call waits for its result before `TaskTimeoutError`; per call: `timeout`. @default Infinity */
  timeout?: number;
  /**
   * Times a job runs before its failure is final, for failures that may pass (a consumer closing
   * under it). Bad input is never retried. A consumer that dies is not an attempt: see `maxStalledCount`.
   * @default 3
   */
  attempts?: number;
  /** Milliseconds between reconciliations of the waiting count and of results whose event was missed. @default 1000 */
  reconcileInterval?: number;
  /** Seconds a finished job stays in Redis (results travel in the completion event; this is for late readers). @default 600 */
  keepFinishedFor?: number;
  /** Key prefix in Redis. @default 'bull' */
  prefix?: string;
  /**
   * Milliseconds `close()` waits for Redis to answer its QUIT before it disconnects by force (it
   * does not wait at all when Redis is unreachable), so close returns within about this long
   * whatever Redis does. Pending calls are rejected at once either way. @default 2000
   */
  closeTimeout?: number;
}

export interface QueueWorkerOptions {
  connection: QueueConnection;
  queue: string;
  /** The warm pool that runs the jobs. The worker never closes it: its owner does. */
  pool: WarmPool;
  /**
   * Jobs this consumer runs at once. More than the pool's workers lets the pool coalesce texts of
   * several jobs into one model run. @default max(4, 4 x pool threads)
   */
  concurrency?: number;
  /**
   * Milliseconds a consumer's lock on a job lasts (renewed every half of it while it runs). A
   * consumer that dies holds its jobs for up to this long, plus `stalledInterval`, before another
   * takes them. @default 5000
   */
  lockDuration?: number;
  /** Milliseconds between checks for jobs whose consumer died. @default 2000 */
  stalledInterval?: number;
  /** Times a job may lose its consumer before it fails with `WorkerExitedError`. @default 2 */
  maxStalledCount?: number;
  /** BullMQ's rate limiter for this queue: at most `max` jobs per `duration` ms across all consumers. */
  limiter?: RateLimiterOptions;
  /** More operations, by job name, beside the built-in `embed`. */
  handlers?: JobHandlers;
  /** Connection and processing errors the consumer survives (Redis reconnects by itself). @default ignored */
  onError?: (error: Error) => void;
  /** Key prefix in Redis. @default 'bull' */
  prefix?: string;
  /**
   * Milliseconds `close()` lets running jobs finish and store their results, and Redis answer, before
   * it disconnects by force (it does not wait at all when Redis is unreachable), so close returns
   * within about this long whatever Redis does. A job cut off this way is not lost: its lock expires
   * and it runs again on a consumer. @default 10000
   */
  closeTimeout?: number;
}

export const QUEUE_DEFAULTS = Object.freeze({
  maxWaiting: 10_000,
  timeout: Number.POSITIVE_INFINITY,
  attempts: 3,
  reconcileInterval: 1000,
  keepFinishedFor: 600,
  lockDuration: 5000,
  stalledInterval: 2000,
  maxStalledCount: 2,
  clientCloseTimeout: 2000,
  workerCloseTimeout: 10_000,
});

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' && v !== null ? (Array.isArray(v) ? 'an array' : 'an object') : String(v));

function checkObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError(`${what} options must be an object, received ${show(value)}`);
  return value as Record<string, unknown>;
}

/**
 * A number option from `min` to `max`, or Infinity where allowed. Options that arm a timer take
 * `max = MAX_TIMER_MS`: Node fires a longer timer after 1 ms.
 */
function number(o: Record<string, unknown>, key: string, fallback: number, min: number, integer = true, allowInfinity = false, max = Number.MAX_SAFE_INTEGER): number {
  const v = o[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`options.${key} must be a number, received ${show(v)}`);
  const ok = (allowInfinity && v === Number.POSITIVE_INFINITY) || (Number.isFinite(v) && (!integer || Number.isInteger(v)) && v >= min && v <= max);
  if (!ok) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new RangeError(`options.${key} must be ${integer ? 'an integer' : 'a number'} ${range}${allowInfinity ? ' or Infinity' : ''}, received ${show(v)}`);
  }
  return v;
}

function common(o: Record<string, unknown>): { connection: ConnectionOptions; queue: string; prefix: string | undefined } {
  const c = o.connection;
  let connection: ConnectionOptions;
  if (typeof c === 'string') {
    if (!/^rediss?:\/\//.test(c)) throw new RangeError(`options.connection must be a redis:// or rediss:// URL, received ${show(c)}`);
    connection = { url: c };
  } else if (typeof c === 'object' && c !== null && !Array.isArray(c)) {
    connection = c as ConnectionOptions;
  } else {
    throw new TypeError(`options.connection must be a Redis URL or connection options, received ${show(c)}`);
  }
  const queue = o.queue;
  if (typeof queue !== 'string') throw new TypeError(`options.queue must be a string, received ${show(queue)}`);
  if (!/^[\w.-]{1,200}$/.test(queue)) throw new RangeError(`options.queue must be 1-200 letters, digits, '_', '.' or '-', received ${show(queue)}`);
  const prefix = o.prefix;
  if (prefix !== undefined && (typeof prefix !== 'string' || prefix === '')) throw new TypeError(`options.prefix must be a non-empty string, received ${show(prefix)}`);
  return { connection, queue, prefix: prefix as string | undefined };
}

export interface ResolvedClientOptions {
  connection: ConnectionOptions;
  queue: string;
  prefix: string | undefined;
  maxWaiting: number;
  timeout: number;
  attempts: number;
  reconcileInterval: number;
  keepFinishedFor: number;
  closeTimeout: number;
}

export function resolveClientOptions(options: unknown): ResolvedClientOptions {
  const o = checkObject(options, 'queue client');
  return {
    ...common(o),
    maxWaiting: number(o, 'maxWaiting', QUEUE_DEFAULTS.maxWaiting, 1),
    timeout: number(o, 'timeout', QUEUE_DEFAULTS.timeout, 1, false, true, MAX_TIMER_MS),
    attempts: number(o, 'attempts', QUEUE_DEFAULTS.attempts, 1),
    reconcileInterval: number(o, 'reconcileInterval', QUEUE_DEFAULTS.reconcileInterval, 10, true, false, MAX_TIMER_MS),
    keepFinishedFor: number(o, 'keepFinishedFor', QUEUE_DEFAULTS.keepFinishedFor, 1),
    closeTimeout: number(o, 'closeTimeout', QUEUE_DEFAULTS.clientCloseTimeout, 0, true, false, MAX_TIMER_MS),
  };
}

export interface ResolvedWorkerOptions {
  connection: ConnectionOptions;
  queue: string;
  prefix: string | undefined;
  pool: WarmPool;
  concurrency: number;
  lockDuration: number;
  stalledInterval: number;
  maxStalledCount: number;
  limiter: RateLimiterOptions | undefined;
  handlers: JobHandlers;
  onError: (error: Error) => void;
  closeTimeout: number;
}

export function resolveWorkerOptions(options: unknown): ResolvedWorkerOptions {
  const o = checkObject(options, 'queue worker');
  const pool = o.pool as WarmPool | undefined;
  if (typeof pool !== 'object' || pool === null || typeof pool.embedPacked !== 'function') {
    throw new TypeError(`options.pool must be a warm pool from createPool(), received ${show(pool)}`);
  }
  const limiter = o.limiter as RateLimiterOptions | undefined;
  if (limiter !== undefined) {
    const l = checkObject(limiter, 'limiter');
    number(l, 'max', 1, 1);
    number(l, 'duration', 1, 1);
  }
  const handlers = o.handlers ?? {};
  checkObject(handlers, 'handlers');
  for (const [name, fn] of Object.entries(handlers)) {
    if (typeof fn !== 'function') throw new TypeError(`options.handlers.${name} must be a function, received ${show(fn)}`);
  }
  const onError = o.onError ?? (() => {});
  if (typeof onError !== 'function') throw new TypeError(`options.onError must be a function, received ${show(onError)}`);
  const lockDuration = number(o, 'lockDuration', QUEUE_DEFAULTS.lockDuration, 100, true, false, MAX_TIMER_MS);
  return {
    ...common(o),
    pool,
    concurrency: number(o, 'concurrency', Math.max(4, 4 * pool.options.maxThreads), 1),
    lockDuration,
    stalledInterval: number(o, 'stalledInterval', QUEUE_DEFAULTS.stalledInterval, 50, true, false, MAX_TIMER_MS),
    maxStalledCount: number(o, 'maxStalledCount', QUEUE_DEFAULTS.maxStalledCount, 0),
    limiter,
    handlers: handlers as JobHandlers,
    onError: onError as (error: Error) => void,
    closeTimeout: number(o, 'closeTimeout', QUEUE_DEFAULTS.workerCloseTimeout, 0, true, false, MAX_TIMER_MS),
  };
}
