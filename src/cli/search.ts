/** `warmpool search <question>`: prints the passages of a collection closest to the question. */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { SEARCH_MODES, type SearchMode } from '../collections/hybrid.js';
import type { SearchHit } from '../collections/types.js';
import { printHits } from './hits.js';
import { addPoolFlags, oneShot, poolOptionsFrom, type PoolFlags } from './pool-flags.js';
import { addRemoteFlags, collectionPath, remoteServer, type RemoteFlags } from './remote.js';
import { withPool } from './with-pool.js';

interface SearchFlags extends PoolFlags, RemoteFlags {
  collection: string;
  k: number;
  json?: boolean;
  mode?: SearchMode;
}

const count = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`-k takes a positive integer, received ${JSON.stringify(value)}`);
  return n;
};

export function register(program: Command): void {
  addPoolFlags(
    addRemoteFlags(
      program
        .command('search')
        .description('print the passages of a collection closest to a question')
        .argument('<question...>', 'the question (several words are joined)')
        .option('--collection <name>', 'collection to search', 'default')
        .option('-k, --k <n>', 'hits to print', count, 5)
        .addOption(new Option('--mode <mode>', 'hybrid (vectors and keywords, the default), dense or keyword').choices(SEARCH_MODES))
        .option('--json', 'print the hits as one JSON array'),
    ),
  ).action(async (words: string[], flags: SearchFlags, command: Command) => {
    const question = words.join(' ').trim();
    const print = (hits: SearchHit[]): void => {
      if (flags.json) process.stdout.write(`${JSON.stringify(hits)}\n`);
      else printHits(hits);
    };
    const server = remoteServer(flags, command);
    if (server) {
      const { hits } = await server.request<{ hits: SearchHit[] }>('POST', collectionPath(flags.collection, '/search'), { query: question, k: flags.k, ...(flags.mode && { mode: flags.mode }) });
      print(hits);
      return;
    }
    await withPool(poolOptionsFrom(flags, oneShot({ threads: 1 })), async (pool) => {
      print(await pool.search(question, { collection: flags.collection, k: flags.k, ...(flags.mode && { mode: flags.mode }) }));
    });
  });
}
