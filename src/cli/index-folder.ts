/** `warmpool index <folder>`: splits the folder's .txt and .md files into passages and indexes them. */
import type { Command } from 'commander';
import { indexFolder } from '../collections/ingest.js';
import { addPoolFlags, poolOptionsFrom, type PoolFlags } from './pool-flags.js';
import { withPool } from './with-pool.js';

interface IndexFlags extends PoolFlags {
  collection: string;
}

export function register(program: Command): void {
  addPoolFlags(
    program
      .command('index')
      .description("split a folder's .txt and .md files into passages and index them into a collection")
      .argument('<folder>', 'folder of .txt / .md files (searched recursively)')
      .option('--collection <name>', 'collection to index into', 'default')
      .addHelpText('after', '\nExample:\n  warmpool index ./samples && warmpool search "what makes the dough rise?"'),
  ).action(async (folder: string, flags: IndexFlags) => {
    await withPool(poolOptionsFrom(flags), async (pool) => {
      // Progress goes to stderr: a rewritten line on a terminal, whole lines otherwise.
      const tty = process.stderr.isTTY === true;
      const { passages, files, seconds } = await indexFolder(pool, folder, flags.collection, (line) => process.stderr.write(tty ? `\r${line}` : `${line}\n`));
      if (tty) process.stderr.write('\n');
      process.stdout.write(`indexed ${passages} passages from ${files} files into collection "${flags.collection}" (${pool.options.storePath}) in ${seconds.toFixed(1)} s\n`);
    });
  });
}
