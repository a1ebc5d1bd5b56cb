/**
 * `warmpool worker`: consumes embed jobs from a Redis queue (BullMQ) on this machine's warm pool.
 * SIGTERM or SIGINT stops taking jobs, finishes the running ones, closes the pool and exits 0:
 * within `--close-timeout` (plus the pool's `closeTimeout` for jobs still running on it) whatever
 * Redis does, because a close that Redis does not answer in time disconnects by force.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { QUEUE_WORKER_OPTIONS as W } from '../queue/queue-options.js';
import { runQueueWorker } from '../queue/run-worker.js';
import { addPoolFlags, flagHelp, flagName, poolOptionsFrom, type PoolFlags } from './pool-flags.js';

interface WorkerFlags extends PoolFlags {
  redis: string;
  queue: string;
  concurrency?: number;
  lockDuration?: number;
  stalledInterval?: number;
  closeTimeout?: number;
}

const positive = (flag: string) => (value: string): number => {
  const n = Number(value);
  if (!(n > 0)) throw new InvalidArgumentError(`${flag} takes a positive number, received ${JSON.stringify(value)}`);
  return n;
};

export function register(program: Command): void {
  addPoolFlags(
    program
      .command('worker')
      .description("consume embed jobs from a Redis queue on this machine's warm pool (scale-out)")
      .requiredOption(W.connection.flag, 'Redis connection, e.g. redis://127.0.0.1:6379')
      .requiredOption(W.queue.flag, 'queue to consume')
      .option(W.concurrency.flag, flagHelp(W.concurrency, 'jobs run at once'), positive(flagName(W.concurrency)))
      .option(W.lockDuration.flag, flagHelp(W.lockDuration, "ms a job's lock lasts; a dead consumer's jobs move on after about this"), positive(flagName(W.lockDuration)))
      .option(W.stalledInterval.flag, flagHelp(W.stalledInterval, 'ms between checks for stalled jobs'), positive(flagName(W.stalledInterval)))
      .option(
        W.closeTimeout.flag,
        flagHelp(W.closeTimeout, 'on SIGTERM/SIGINT, ms to let running jobs finish and Redis answer before disconnecting by force'),
        positive(flagName(W.closeTimeout)),
      ),
  ).action(async (flags: WorkerFlags) => {
    const running = await runQueueWorker({
      connection: flags.redis,
      queue: flags.queue,
      pool: poolOptionsFrom(flags),
      ...(flags.concurrency !== undefined && { concurrency: flags.concurrency }),
      ...(flags.lockDuration !== undefined && { lockDuration: flags.lockDuration }),
      ...(flags.stalledInterval !== undefined && { stalledInterval: flags.stalledInterval }),
      ...(flags.closeTimeout !== undefined && { closeTimeout: flags.closeTimeout }),
      onError: (error) => process.stderr.write(`warmpool worker: ${error.message}\n`),
    });
    process.stderr.write(`warmpool worker: ready, pid ${process.pid}, queue ${flags.queue}, ${running.pool.options.maxThreads} worker threads\n`);
    await running.stopped;
    const s = running.worker.stats();
    process.stderr.write(`warmpool worker: stopped after ${s.completed} jobs (${s.failed} failed)\n`);
  });
}
