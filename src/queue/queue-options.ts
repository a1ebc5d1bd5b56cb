/**
 * Options of the queue client and the queue worker: their public types (with TSDoc), and a table
 * for each, from which their defaults, known keys, validation (once, at construction: `TypeError`
 * for a wrong type, `RangeError` for a bad value) and `docs/options.md` are derived (see
 * `../option-table.ts`).
 */
import type { ConnectionOptions, RateLimiterOptions } from 'bullmq';
import type { WarmPool } from '../pool.js';
import type { JobHandler, JobHandlers } from './handlers.js';
import {
  callable,
  defaultsOf,
  integer,
  isPlainObject,
  MAX_TIMER_MS,
  numberOf,
  parser,
  read,
  received,
  recordOf,
  resolveWith,
  text,
  type Family,
  type OptionRow,
  type Resolved,
} from '../option-table.js';

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
  /** BullMQ's rate limiter for this queue: at most `max` jobs per `duration` ms across all consumers. @default none */
  limiter?: RateLimiterOptions;
  /** More operations, by job name, beside the built-in `embed`. @default only the built-in `embed` */
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

const connection = parser('a redis:// or rediss:// URL, or BullMQ connection options', (src): ConnectionOptions => {
  const c = src.value;
  if (typeof c === 'string') {
    if (!/^rediss?:\/\//.test(c)) throw new RangeError(`${src.from} must be a redis:// or rediss:// URL, received ${received(c)}`);
    return { url: c };
  }
  if (typeof c === 'object' && c !== null && read(src.from, () => !Array.isArray(c))) return c as ConnectionOptions;
  throw new TypeError(`${src.from} must be a Redis URL or connection options, received ${received(c)}`);
});

const queueName = parser("1-200 letters, digits, '_', '.' or '-'", (src): string => {
  const q = src.value;
  if (typeof q !== 'string') throw new TypeError(`${src.from} must be a string, received ${received(q)}`);
  if (!/^[\w.-]{1,200}$/.test(q)) throw new RangeError(`${src.from} must be ${queueName.takes}, received ${received(q)}`);
  return q;
});

const warmPool = parser('a warm pool from createPool()', (src): WarmPool => {
  const pool = src.value as WarmPool | undefined;
  if (typeof pool !== 'object' || pool === null || read(src.from, () => typeof pool.embedPacked) !== 'function') {
    throw new TypeError(`${src.from} must be a warm pool from createPool(), received ${received(pool)}`);
  }
  return pool;
});

const limiter = parser('{ max, duration }', (src): RateLimiterOptions => {
  const l = src.value;
  if (!isPlainObject(l, src.from)) throw new TypeError(`${src.from} must be an object, received ${received(l)}`);
  for (const key of ['max', 'duration'] as const) {
    const value = read(`${src.from}.${key}`, () => l[key]);
    integer(1)({ from: `${src.from}.${key}`, value: value ?? 1, fromEnv: false });
  }
  return l as unknown as RateLimiterOptions;
});

/** Where Redis is and which queue: the same rows for the client and the worker. */
const WHERE = {
  connection: {
    parse: connection,
    required: true,
    doc: 'Where Redis is: a `redis://` or `rediss://` URL, or BullMQ connection options. An ioredis instance serves as a template: connections of their own are opened with its options, and it is never used or closed.',
  },
  queue: {
    parse: queueName,
    required: true,
    doc: "The queue's name; consumers started with the same name serve clients of that name.",
  },
  prefix: {
    parse: text,
    none: "`'bull'` (BullMQ's own)",
    doc: 'Key prefix in Redis.',
  },
} as const;

/**
 * Every option of the queue client, once. The TSDoc of {@link QueueClientOptions} is the long
 * form of each `doc`; `test/unit/option-table.test.ts` checks that the two agree.
 */
export const QUEUE_CLIENT_OPTIONS = {
  ...WHERE,
  maxWaiting: {
    parse: integer(1),
    default: 10_000,
    doc: 'Jobs that may wait or run in the queue (from every client) before `embed()` answers `QueueFullError` at once; counted locally and reconciled with Redis every `reconcileInterval`.',
  },
  timeout: {
    parse: numberOf({ min: 1, max: MAX_TIMER_MS, infinity: true }),
    default: Infinity,
    doc: 'Default milliseconds a call waits for its result before `TaskTimeoutError`; per call: `timeout`.',
  },
  attempts: {
    parse: integer(1),
    default: 3,
    doc: 'Times a job runs before its failure is final, for failures that may pass; bad input is never retried, and a consumer that dies is not an attempt (see `maxStalledCount`).',
  },
  reconcileInterval: {
    parse: integer(10, MAX_TIMER_MS),
    default: 1000,
    doc: 'Milliseconds between reconciliations of the waiting count and of results whose event was missed.',
  },
  keepFinishedFor: {
    parse: integer(1),
    default: 600,
    doc: 'Seconds a finished job stays in Redis (results travel in the completion event; this is for late readers).',
  },
  closeTimeout: {
    parse: integer(0, MAX_TIMER_MS),
    default: 2000,
    doc: '`close()` waits this many milliseconds for Redis to answer its QUIT, then disconnects by force (at once when Redis is unreachable); pending calls are rejected at once either way.',
  },
} as const satisfies Record<string, OptionRow<any>>;

/**
 * Every option of the queue worker, once. The TSDoc of {@link QueueWorkerOptions} is the long
 * form of each `doc`; `test/unit/option-table.test.ts` checks that the two agree.
 */
export const QUEUE_WORKER_OPTIONS = {
  connection: { ...WHERE.connection, flag: '--redis <url>' },
  queue: { ...WHERE.queue, flag: '--queue <name>' },
  prefix: WHERE.prefix,
  pool: {
    parse: warmPool,
    required: true,
    doc: 'The warm pool that runs the jobs. The worker never closes it: its owner does.',
  },
  concurrency: {
    parse: integer(1),
    flag: '--concurrency <n>',
    computed: { doc: 'max(4, 4 x pool threads)', of: (r) => Math.max(4, 4 * (r.pool as WarmPool).options.maxThreads) },
    doc: "Jobs this consumer runs at once; more than the pool's workers lets the pool coalesce texts of several jobs into one model run.",
  },
  lockDuration: {
    parse: integer(100, MAX_TIMER_MS),
    flag: '--lock-duration <ms>',
    default: 5000,
    doc: "Milliseconds a consumer's lock on a job lasts (renewed every half of it while it runs); a dead consumer holds its jobs about this long, plus `stalledInterval`.",
  },
  stalledInterval: {
    parse: integer(50, MAX_TIMER_MS),
    flag: '--stalled-interval <ms>',
    default: 2000,
    doc: 'Milliseconds between checks for jobs whose consumer died.',
  },
  maxStalledCount: {
    parse: integer(0),
    default: 2,
    doc: 'Times a job may lose its consumer before it fails with `WorkerExitedError`.',
  },
  limiter: {
    parse: limiter,
    doc: "BullMQ's rate limiter for this queue: at most `max` jobs per `duration` ms across all consumers.",
  },
  handlers: {
    parse: recordOf(callable<JobHandler>(), 'an object of functions'),
    default: Object.freeze({}) as JobHandlers,
    none: 'only the built-in `embed`',
    doc: 'More operations, by job name, beside the built-in `embed`.',
  },
  onError: {
    parse: callable<(error: Error) => void>(),
    default: () => {},
    none: 'ignored',
    doc: 'Connection and processing errors the consumer survives (Redis reconnects by itself), and a close that had to disconnect by force.',
  },
  closeTimeout: {
    parse: integer(0, MAX_TIMER_MS),
    flag: '--close-timeout <ms>',
    default: 10_000,
    doc: '`close()` lets running jobs finish and Redis answer this many milliseconds, then disconnects by force; a job cut off this way runs again on a consumer once its lock expires.',
  },
} as const satisfies Record<string, OptionRow<any>>;

const CLIENT_FAMILY: Family<typeof QUEUE_CLIENT_OPTIONS> = { table: QUEUE_CLIENT_OPTIONS, label: 'queue client options', env: false };
const WORKER_FAMILY: Family<typeof QUEUE_WORKER_OPTIONS> = { table: QUEUE_WORKER_OPTIONS, label: 'queue worker options', env: false };

const { closeTimeout: clientCloseTimeout, ...clientDefaults } = defaultsOf(QUEUE_CLIENT_OPTIONS);
const { closeTimeout: workerCloseTimeout, handlers: _handlers, onError: _onError, ...workerDefaults } = defaultsOf(QUEUE_WORKER_OPTIONS);

/** The defaults of the queue client's and worker's numeric options (the two `closeTimeout`s apart). */
export const QUEUE_DEFAULTS = Object.freeze({ ...clientDefaults, ...workerDefaults, clientCloseTimeout, workerCloseTimeout });

export type ResolvedClientOptions = Resolved<typeof QUEUE_CLIENT_OPTIONS>;
export type ResolvedWorkerOptions = Resolved<typeof QUEUE_WORKER_OPTIONS>;

export function resolveClientOptions(options: unknown): ResolvedClientOptions {
  return resolveWith(CLIENT_FAMILY, options) as ResolvedClientOptions;
}

export function resolveWorkerOptions(options: unknown): ResolvedWorkerOptions {
  return resolveWith(WORKER_FAMILY, options) as ResolvedWorkerOptions;
}
