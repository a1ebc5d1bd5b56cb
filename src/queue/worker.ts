/**
 * A consumer: takes jobs from a BullMQ queue and runs them on this machine's warm pool, so the
 * model stays loaded across jobs.
 */
import type { Job } from 'bullmq';
import { ErrorCodes, InvalidInputError, errorToWire } from '../errors.js';
import { wireToReason } from './codec.js';
import { loadBullmq, RedisConnections } from './connection.js';
import { BUILTIN_HANDLERS, type JobHandlers } from './handlers.js';
import { resolveWorkerOptions, type QueueWorkerOptions } from './queue-options.js';

/** Failures that the same input would hit again on any machine: never retried. */
const FINAL_CODES: ReadonlySet<string> = new Set([ErrorCodes.INVALID_INPUT]);

export interface QueueWorker {
  /** The queue this consumer serves. */
  readonly queue: string;
  /** Resolves once connected to Redis and taking jobs. */
  ready(): Promise<void>;
  /** Jobs this consumer finished, and jobs that failed here, since it started. */
  stats(): { completed: number; failed: number; active: number };
  /**
   * Stops taking jobs, lets the running ones finish and store their results, and disconnects
   * (QUIT). If that takes longer than `closeTimeout`, or Redis is unreachable when close starts, it
   * disconnects by force instead, so it returns within `closeTimeout` (plus a fraction of a second)
   * whatever Redis does, and leaves no handle open; a job cut off runs again elsewhere once its
   * lock expires. Idempotent. The pool stays open: its owner closes it.
   */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts consuming `queue` at once.
 *
 * @example
 * const pool = createPool();
 * const worker = createQueueWorker({ connection: 'redis://127.0.0.1:6379', queue: 'embed', pool });
 */
export function createQueueWorker(options: QueueWorkerOptions): QueueWorker {
  const o = resolveWorkerOptions(options);
  const { UnrecoverableError, Worker } = loadBullmq();
  const handlers: JobHandlers = { ...BUILTIN_HANDLERS, ...o.handlers };
  const counts = { completed: 0, failed: 0, active: 0 };

  const run = async (job: Job): Promise<unknown> => {
    const handler = Object.hasOwn(handlers, job.name) ? handlers[job.name] : undefined;
    counts.active++;
    try {
      if (!handler) {
        throw new InvalidInputError(`unknown job name ${JSON.stringify(job.name)}; this consumer serves ${Object.keys(handlers).join(', ')}`);
      }
      const result = await handler(job.data, { pool: o.pool, job });
      counts.completed++;
      return result;
    } catch (error) {
      counts.failed++;
      const wire = errorToWire(error);
      const reason = wireToReason(wire);
      // BullMQ keeps only the message: the code leads it so the client can rebuild the class.
      throw FINAL_CODES.has(wire.code) ? new UnrecoverableError(reason) : new Error(reason);
    } finally {
      counts.active--;
    }
  };

  let closing: Promise<void> | undefined;
  // The worker's main connection is this one; its blocking connection, a copy.
  const redis = new RedisConnections(o.connection);
  const worker = new Worker(o.queue, run, {
    connection: redis.connection,
    ...(o.prefix !== undefined && { prefix: o.prefix }),
    concurrency: o.concurrency,
    lockDuration: o.lockDuration,
    stalledInterval: o.stalledInterval,
    maxStalledCount: o.maxStalledCount,
    ...(o.limiter !== undefined && { limiter: o.limiter }),
  });
  // An 'error' event without a listener would throw; Redis errors are survived (ioredis reconnects).
  worker.on('error', (error) => o.onError(error));

  const close = (): Promise<void> =>
    (closing ??= (async () => {
      // Redis unreachable: nothing can finish, so BullMQ's forced close (no waiting for jobs).
      const outcome = await redis.close((reachable) => worker.close(!reachable), o.closeTimeout);
      const why = {
        quit: undefined,
        timeout: `not closed gracefully within closeTimeout (${o.closeTimeout} ms); disconnected by force`,
        unreachable: 'Redis unreachable when closing; disconnected by force at once',
      }[outcome];
      try {
        if (why) o.onError(new Error(`queue ${JSON.stringify(o.queue)}: ${why}`));
      } catch {
        // The caller's handler failing must not make close() fail.
      }
    })());
  return {
    queue: o.queue,
    ready: () => worker.waitUntilReady().then(() => undefined),
    stats: () => ({ ...counts }),
    close,
    [Symbol.asyncDispose]: close,
  };
}
