/** The pool options every command that starts a pool takes as flags (explicit flags beat WARMPOOL_* variables). */
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { PoolOptions } from '../options.js';
import { DTYPES } from '../types.js';

const int = (flag: string) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`${flag} takes an integer, received ${JSON.stringify(value)}`);
  return n;
};

const millis = (flag: string) => (value: string): number => {
  if (/^inf(inity)?$/i.test(value)) return Infinity;
  const n = Number(value);
  if (Number.isNaN(n)) throw new InvalidArgumentError(`${flag} takes milliseconds (a number, or Infinity), received ${JSON.stringify(value)}`);
  return n;
};

export function addPoolFlags(command: Command): Command {
  return command
    .option('--model <name|path|hub-id>', 'model to load (env WARMPOOL_MODEL; default glove-100d)')
    .addOption(new Option('--dtype <dtype>', 'model precision (env WARMPOOL_DTYPE; default fp32)').choices(DTYPES))
    .option('--threads <n>', 'worker threads (env WARMPOOL_THREADS)', int('--threads'))
    .option('--min-threads <n>', 'workers kept warm when idle (env WARMPOOL_MIN_THREADS; default --threads)', int('--min-threads'))
    .option('--intra-op-threads <n>', 'onnxruntime threads per worker (env WARMPOOL_INTRA_OP_THREADS)', int('--intra-op-threads'))
    .option('--max-queue <n>', 'calls that may wait for a worker (env WARMPOOL_MAX_QUEUE; default 1024)', int('--max-queue'))
    .option('--queue-timeout <ms>', 'longest wait for a worker (env WARMPOOL_QUEUE_TIMEOUT)', millis('--queue-timeout'))
    .option('--timeout <ms>', 'longest run of one call (env WARMPOOL_TIMEOUT)', millis('--timeout'))
    .option('--batch-size <n>', 'texts per model run (env WARMPOOL_BATCH_SIZE; default 32)', int('--batch-size'))
    .option('--allow-remote-models', 'allow downloading a hub model (env WARMPOOL_ALLOW_REMOTE_MODELS)')
    .option('--cache-dir <path>', 'where hub models are cached (env WARMPOOL_CACHE_DIR)')
    .option('--store <dir>', 'collections directory (env WARMPOOL_STORE_PATH; default ./.warmpool)');
}

export interface PoolFlags {
  model?: string;
  dtype?: PoolOptions['dtype'];
  threads?: number;
  minThreads?: number;
  intraOpThreads?: number;
  maxQueue?: number;
  queueTimeout?: number;
  timeout?: number;
  batchSize?: number;
  allowRemoteModels?: boolean;
  cacheDir?: string;
  store?: string;
}

/** Only the flags given become options, so the environment still fills in the rest. */
export function poolOptionsFrom(flags: PoolFlags, defaults: PoolOptions = {}): PoolOptions {
  const options: PoolOptions = { ...defaults };
  if (flags.model !== undefined) options.model = flags.model;
  if (flags.dtype !== undefined) options.dtype = flags.dtype;
  if (flags.threads !== undefined || flags.minThreads !== undefined) {
    options.threads = flags.minThreads === undefined ? flags.threads! : { min: flags.minThreads, ...(flags.threads !== undefined && { max: flags.threads }) };
  }
  if (flags.intraOpThreads !== undefined) options.intraOpThreads = flags.intraOpThreads;
  if (flags.maxQueue !== undefined) options.maxQueue = flags.maxQueue;
  if (flags.queueTimeout !== undefined) options.queueTimeout = flags.queueTimeout;
  if (flags.timeout !== undefined) options.timeout = flags.timeout;
  if (flags.batchSize !== undefined) options.batchSize = flags.batchSize;
  if (flags.allowRemoteModels) options.allowRemoteModels = true;
  if (flags.cacheDir !== undefined) options.cacheDir = flags.cacheDir;
  if (flags.store !== undefined) options.storePath = flags.store;
  return options;
}

/**
 * Defaults of the commands that answer once and exit (embed, search, info, stats, demo): a worker's
 * run at the largest batch before it reports ready (`preallocate`) would only delay their answer.
 * `WARMPOOL_PREALLOCATE` still decides when it is set.
 */
export function oneShot(defaults: PoolOptions = {}): PoolOptions {
  return process.env.WARMPOOL_PREALLOCATE === undefined ? { preallocate: false, ...defaults } : defaults;
}
