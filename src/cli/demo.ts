/** `warmpool demo`: indexes the bundled samples/ folder into the default store and runs a few searches. */
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { indexFolder } from '../collections/ingest.js';
import { printHits } from './hits.js';
import { addPoolFlags, oneShot, poolOptionsFrom, type PoolFlags } from './pool-flags.js';
import { withPool } from './with-pool.js';

const SAMPLES_DIR = fileURLToPath(new URL('../../../samples/', import.meta.url));

const DEMO_QUESTIONS = [
  'How do bees tell each other where the flowers are?',
  'What makes the dough rise?',
  'What do the moon and the sun do to the sea?',
  'How far away did the lightning strike?',
  'How do runners train for a marathon?',
];

interface DemoFlags extends PoolFlags {
  collection: string;
}

export function register(program: Command): void {
  addPoolFlags(
    program
      .command('demo')
      .description('index the bundled samples/ folder into the store and run a few searches')
      .option('--collection <name>', 'collection to index into', 'default'),
  ).action(async (flags: DemoFlags) => {
    await withPool(poolOptionsFrom(flags, oneShot()), async (pool) => {
      const started = performance.now();
      const { passages, files } = await indexFolder(pool, SAMPLES_DIR, flags.collection, () => {});
      process.stdout.write(
        `indexed ${passages} passages from ${files} files in samples/ into ${pool.options.storePath} (${pool.model!.model}, ${pool.model!.dims}-d) in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
      );
      for (const question of DEMO_QUESTIONS) {
        const t0 = performance.now();
        const hits = await pool.search(question, { collection: flags.collection, k: 2 });
        process.stdout.write(`\n${question}  (${(performance.now() - t0).toFixed(1)} ms)\n`);
        printHits(hits);
      }
    });
  });
}
