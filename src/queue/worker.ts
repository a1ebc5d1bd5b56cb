/**
 * A consumer: takes jobs from a BullMQ queue and runs them on this machine's warm pool, so the
 * model stays loaded across jobs.
 */
import type { Job } from 'bullmq';
import { ErrorCodes, InvalidInputError, errorToWire } from '../errors.js';
import { wireToReason } from './codec.js';
import { loadBullmq, stoppable } from './connection.js';
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
   * Stops taking jobs, lets the running ones finish, and disconnects. Idempotent. The pool stays
   * open: its owner closes it.
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
  const worker = new Worker(o.queue, run, {
    connection: stoppable(o.connection, () => closing !== undefined),
    ...(o.prefix !== undefined && { prefix: o.prefix }),
    concurrency: o.concurrency,
    lockDuration: o.lockDuration,
    stalledInterval: o.stalledInterval,
    maxStalledCount: o.maxStalledCount,
    ...(o.limiter !== undefined && { limiter: o.limiter }),
  });
  // An 'error' event without a listener would throw; Redis errors are survived (ioredis reconnects).
  worker.on('error', (error) => o.onError(error));

  const close = (): Promise<void> => (closing ??= worker.close());
  return {
    queue: o.queue,
    ready: () => worker.waitUntilReady().then(() => undefined),
    stats: () => ({ ...counts }),
    close,
    [Symbol.asyncDispose]: close,
  };
}
