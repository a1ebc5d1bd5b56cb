/**
 * `warmpool migrate <collection>`: re-embeds a collection's stored texts with the pool's model (the
 * `--model` given, or the default) and swaps the new collection in when done; a collection made
 * with another model is refused with `ModelMismatchError` until it is migrated.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { MigrationResult } from '../collections/types.js';
import { addPoolFlags, oneShot, poolOptionsFrom, type PoolFlags } from './pool-flags.js';
import { addRemoteFlags, collectionPath, remoteServer, type RemoteFlags } from './remote.js';
import { withPool } from './with-pool.js';

interface MigrateFlags extends PoolFlags, RemoteFlags {
  docsPerBatch?: number;
  json?: boolean;
}

const positive = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`--docs-per-batch takes a positive integer, received ${JSON.stringify(value)}`);
  return n;
};

function report(flags: MigrateFlags, result: MigrationResult): void {
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const line = result.migrated
    ? `migrated ${JSON.stringify(result.name)}: ${result.count} documents re-embedded from ${result.from?.model ?? 'an unrecorded model'} to ${result.to.model} in ${(result.elapsedMs / 1000).toFixed(1)} s`
    : `${JSON.stringify(result.name)} is already ${result.to.model}'s: nothing to do`;
  process.stdout.write(`${line}\n`);
}

export function register(program: Command): void {
  addPoolFlags(
    addRemoteFlags(
      program
        .command('migrate')
        .description("re-embed a collection with the model (after a change of model), swapping the new collection in when done")
        .argument('<collection>', 'the collection to re-embed')
        .option('--docs-per-batch <n>', 'documents re-embedded and written together (default 256)', positive)
        .option('--json', 'print the result as one JSON object on stdout (progress stays on stderr)'),
    ),
  ).action(async (collection: string, flags: MigrateFlags, command: Command) => {
    const server = remoteServer(flags, command);
    const batch = flags.docsPerBatch === undefined ? {} : { batchSize: flags.docsPerBatch };
    if (server) {
      report(flags, await server.request<MigrationResult>('POST', collectionPath(collection, '/migrate'), { wait: true, ...batch }));
      return;
    }
    await withPool(poolOptionsFrom(flags, oneShot()), async (pool) => {
      const result = await pool.collections().migrate(collection, {
        ...batch,
        onProgress: (p) => process.stderr.write(`migrating ${JSON.stringify(collection)}: ${p.migrated}/${p.total} documents\n`),
      });
      report(flags, result);
    });
  });
}
