/** `warmpool info`: the resolved model and pool settings as JSON (and every model, in a pool of several). */
import type { Command } from 'commander';
import { addPoolFlags, oneShot, poolOptionsFrom, type PoolFlags } from './pool-flags.js';
import { withPool } from './with-pool.js';

export function register(program: Command): void {
  addPoolFlags(program.command('info').description('load the model and print it and the resolved pool settings as JSON')).action(
    async (flags: PoolFlags) => {
      await withPool(poolOptionsFrom(flags, oneShot()), async (pool) => {
        await pool.ready();
        const info: Record<string, unknown> = { model: pool.model, options: pool.options };
        // A pool of several models (--with): each with its task and what a worker found.
        if (pool.models.length > 1) info.models = pool.models.map((m) => ({ name: m.name, task: m.task, source: m.source, info: m.info }));
        process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
      });
    },
  );
}
