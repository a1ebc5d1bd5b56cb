/**
 * `warmpool weights`: the weights cache's entries (models prepared for shared weights), and with
 * `--prune`, removing the ones not used for a while (see src/weights-cache.ts for what is safe).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { ENV_VARS, POOL_OPTIONS as P, resolveOptions } from '../options.js';
import { PRUNE_AFTER_DAYS, listWeightsCache, pruneWeightsCache } from '../weights-cache.js';
import { UsageError } from './exit-codes.js';
import { flagHelp, weightsCacheFlag } from './pool-flags.js';

interface WeightsFlags {
  weightsCache?: string;
  prune?: boolean;
  olderThan: number;
  dryRun?: boolean;
}

const days = (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`--older-than takes a number of days (0 or more), received ${JSON.stringify(value)}`);
  return n;
};

export function register(program: Command): void {
  program
    .command('weights')
    .description('list the weights cache (models prepared so that workers share one copy of their weights) as JSON; --prune removes entries not used for a while')
    .option(P.weightsCache.flag, flagHelp(P.weightsCache, 'the weights cache'))
    .option('--prune', `remove entries not used for --older-than days, unless a process prepares or maps them (a new preparation prunes at ${PRUNE_AFTER_DAYS} days)`)
    .option('--older-than <days>', 'with --prune: entries not used for this many days', days, PRUNE_AFTER_DAYS)
    .option('--dry-run', 'with --prune: print what would be removed, remove nothing')
    .action(async (flags: WeightsFlags) => {
      const cache = resolveOptions(flags.weightsCache === undefined ? {} : { weightsCache: weightsCacheFlag(flags.weightsCache) }).weightsCache;
      if (cache === false) throw new UsageError(`the weights cache is off (--weights-cache or ${ENV_VARS.weightsCache}): there is nothing to list or prune`);
      const out: Record<string, unknown> = { cache };
      if (flags.prune) {
        out.prune = { olderThanDays: flags.olderThan, dryRun: flags.dryRun === true, ...(await pruneWeightsCache(cache, { olderThanDays: flags.olderThan, dryRun: flags.dryRun })) };
      }
      out.entries = listWeightsCache(cache);
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    });
}
