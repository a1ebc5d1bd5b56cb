/**
 * A whole consumer process: a warm pool plus a queue worker, stopped gracefully on SIGTERM or
 * SIGINT (stop taking jobs, finish the running ones, close the pool), within the worker's
 * `closeTimeout` plus the pool's `closeTimeout` whatever Redis does. The `warmpool worker`
 * command is a thin wrapper around it.
 */
import { createPool, type WarmPool } from '../pool.js';
import type { PoolOptions } from '../options.js';
import type { QueueWorkerOptions } from './queue-options.js';
import { createQueueWorker, type QueueWorker } from './worker.js';

export interface RunQueueWorkerOptions extends Omit<QueueWorkerOptions, 'pool'> {
  /** Options of the warm pool this consumer starts (and closes). */
  pool?: PoolOptions;
  /** Signals that stop the consumer gracefully; `[]` installs no handler. @default ['SIGTERM', 'SIGINT'] */
  signals?: NodeJS.Signals[];
}

export interface RunningQueueWorker {
  pool: WarmPool;
  worker: QueueWorker;
  /** Stops gracefully; resolves when the pool is closed. Idempotent. */
  stop(): Promise<void>;
  /** Resolves when the consumer has stopped, by `stop()` or a signal. */
  stopped: Promise<void>;
}

/** Starts a pool, waits until it is warm, then starts consuming. Rejects if the model cannot load. */
export async function runQueueWorker(options: RunQueueWorkerOptions): Promise<RunningQueueWorker> {
  const { pool: poolOptions, signals = ['SIGTERM', 'SIGINT'], ...workerOptions } = options;
  const pool = createPool(poolOptions);
  let worker: QueueWorker;
  try {
    await pool.ready();
    worker = createQueueWorker({ ...workerOptions, pool });
    await worker.ready();
  } catch (error) {
    await pool.close();
    throw error;
  }
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let stopping: Promise<void> | undefined;
  const onSignal = (): void => void stop().catch(() => {});
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      for (const s of signals) process.off(s, onSignal);
      try {
        await worker.close();
      } finally {
        await pool.close();
        resolveStopped();
      }
    })());
  for (const s of signals) process.on(s, onSignal);
  return { pool, worker, stop, stopped };
}
