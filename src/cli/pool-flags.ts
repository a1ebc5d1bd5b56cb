/** The pool options every command that starts a pool takes as flags (explicit flags beat WARMPOOL_* variables). */
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { OptionRow } from '../option-table.js';
import { ENV_VARS, POOL_OPTIONS as P, type PoolOptions } from '../options.js';
import { DTYPES } from '../types.js';

/** A flag's name (`--max-queue`) from its row's `flag` (`--max-queue <n>`). */
export const flagName = (row: { flag: string }): string => row.flag.split(' ')[0]!;

/** A flag's help: what it does, then the option's variable and default, from its row. */
export function flagHelp(row: OptionRow, what: string): string {
  const fallback = row.none ?? row.computed?.doc ?? (row.default === undefined ? undefined : String(row.default));
  const notes = [row.env && `env ${row.env}`, fallback !== undefined && `default ${fallback.replace(/`/g, '')}`].filter(Boolean);
  return notes.length === 0 ? what : `${what} (${notes.join('; ')})`;
}

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

/** The pool flags' names (`--model`, ...): what `--url` refuses, since the server runs its own pool. */
export const POOL_FLAG_NAMES: ReadonlySet<string> = new Set(
  [P.model, P.task, P.models, P.dtype, P.maxThreads, P.minThreads, P.intraOpThreads, P.maxQueue, P.queueTimeout, P.timeout, P.batchSize, P.allowRemoteModels, P.cacheDir, P.weightsCache, P.storePath].map(flagName),
);

export function addPoolFlags(command: Command): Command {
  return command
    .option(P.model.flag, flagHelp(P.model, 'model to load'))
    .addOption(new Option(P.task.flag, flagHelp(P.task, "what --model does")).choices(['embed', 'rerank', 'classify']))
    .option(P.models.flag, flagHelp(P.models, 'another model in the pool, e.g. --with rerank=rerank:glove-rerank (repeatable)'), collectModel, [])
    .addOption(new Option(P.dtype.flag, flagHelp(P.dtype, 'model precision')).choices(DTYPES))
    .option(P.maxThreads.flag, flagHelp(P.maxThreads, 'worker threads'), int(flagName(P.maxThreads)))
    .option(P.minThreads.flag, flagHelp(P.minThreads, 'workers kept warm when idle'), int(flagName(P.minThreads)))
    .option(P.intraOpThreads.flag, flagHelp(P.intraOpThreads, 'onnxruntime threads per worker'), int(flagName(P.intraOpThreads)))
    .option(P.maxQueue.flag, flagHelp(P.maxQueue, 'calls that may wait for a worker'), int(flagName(P.maxQueue)))
    .option(P.queueTimeout.flag, flagHelp(P.queueTimeout, 'longest wait for a worker'), millis(flagName(P.queueTimeout)))
    .option(P.timeout.flag, flagHelp(P.timeout, 'longest run of one call'), millis(flagName(P.timeout)))
    .option(P.batchSize.flag, flagHelp(P.batchSize, 'texts per model run'), int(flagName(P.batchSize)))
    .option(P.allowRemoteModels.flag, flagHelp(P.allowRemoteModels, 'allow downloading a hub model'))
    .option(P.cacheDir.flag, flagHelp(P.cacheDir, 'where hub models are cached'))
    .option(P.weightsCache.flag, flagHelp(P.weightsCache, 'where models prepared for shared weights are kept; off: each worker loads its own copy'))
    .option(P.storePath.flag, flagHelp(P.storePath, 'collections directory'));
}

/** `--with name=task:model`, repeatable: one more model of the pool each. */
function collectModel(value: string, previous: ModelFlag[]): ModelFlag[] {
  const match = /^([^=]+)=(embed|rerank|classify):(.+)$/.exec(value);
  if (!match) throw new InvalidArgumentError(`--with takes name=task:model (task one of embed, rerank, classify), e.g. rerank=rerank:glove-rerank; received ${JSON.stringify(value)}`);
  return [...previous, { name: match[1]!, task: match[2] as ModelFlag['task'], model: match[3]! }];
}

export interface ModelFlag {
  name: string;
  task: 'embed' | 'rerank' | 'classify';
  model: string;
}

export interface PoolFlags {
  model?: string;
  task?: 'embed' | 'rerank' | 'classify';
  with?: ModelFlag[];
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
  weightsCache?: string;
  store?: string;
}

/** `--weights-cache`: a folder, or `false`/`off`/`no`/`0` for none (as `WARMPOOL_WEIGHTS_CACHE` reads them). */
export function weightsCacheFlag(value: string): string | false {
  return ['0', 'false', 'no', 'off'].includes(value.toLowerCase()) ? false : value;
}

/** Only the flags given become options, so the environment still fills in the rest. */
export function poolOptionsFrom(flags: PoolFlags, defaults: PoolOptions = {}): PoolOptions {
  const options: PoolOptions = { ...defaults };
  if (flags.model !== undefined) options.model = flags.model;
  if (flags.task !== undefined) options.task = flags.task;
  if (flags.with !== undefined && flags.with.length > 0) {
    options.models = { ...options.models };
    for (const { name, task, model } of flags.with) options.models[name] = { task, model };
  }
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
  if (flags.weightsCache !== undefined) options.weightsCache = weightsCacheFlag(flags.weightsCache);
  if (flags.store !== undefined) options.storePath = flags.store;
  return options;
}

/**
 * Defaults of the commands that answer once and exit (embed, search, info, stats, demo): a worker's
 * run at the largest batch (`preallocate`) would only keep their one worker busy.
 * `WARMPOOL_PREALLOCATE` still decides when it is set.
 */
export function oneShot(defaults: PoolOptions = {}): PoolOptions {
  return process.env[ENV_VARS.preallocate] === undefined ? { preallocate: false, ...defaults } : defaults;
}
