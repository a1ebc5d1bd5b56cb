/** `warmpool search <question>`: prints the passages of a collection closest to the question. */
import { InvalidArgumentError, type Command } from 'commander';
import { printHits } from './hits.js';
import { addPoolFlags, oneShot, poolOptionsFrom, type PoolFlags } from './pool-flags.js';
import { withPool } from './with-pool.js';

interface SearchFlags extends PoolFlags {
  collection: string;
  k: number;
  json?: boolean;
}

const count = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`-k takes a positive integer, received ${JSON.stringify(value)}`);
  return n;
};

export function register(program: Command): void {
  addPoolFlags(
    program
      .command('search')
      .description('print the passages of a collection closest to a question')
      .argument('<question...>', 'the question (several words are joined)')
      .option('--collection <name>', 'collection to search', 'default')
      .option('-k, --k <n>', 'hits to print', count, 5)
      .option('--json', 'print the hits as one JSON array'),
  ).action(async (words: string[], flags: SearchFlags) => {
    const question = words.join(' ').trim();
    await withPool(poolOptionsFrom(flags, oneShot({ threads: 1 })), async (pool) => {
      const hits = await pool.search(question, { collection: flags.collection, k: flags.k });
      if (flags.json) process.stdout.write(`${JSON.stringify(hits)}\n`);
      else printHits(hits);
    });
  });
}
