/** `warmpool info`: the resolved model and pool settings as JSON. */
import type { Command } from 'commander';
import { addPoolFlags, oneShot, poolOptionsFrom, type PoolFlags } from './pool-flags.js';
import { withPool } from './with-pool.js';

export function register(program: Command): void {
  addPoolFlags(program.command('info').description('load the model and print it and the resolved pool settings as JSON')).action(
    async (flags: PoolFlags) => {
      await withPool(poolOptionsFrom(flags, oneShot()), async (pool) => {
        await pool.ready();
        process.stdout.write(`${JSON.stringify({ model: pool.model, options: pool.options }, null, 2)}\n`);
      });
    },
  );
}
