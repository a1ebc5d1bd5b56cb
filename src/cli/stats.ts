/** `warmpool stats`: a pool's statistics snapshot as JSON, from a fresh warm pool or a running server. */
import type { Command } from 'commander';
import { addPoolFlags, oneShot, poolOptionsFrom, type PoolFlags } from './pool-flags.js';
import { addRemoteFlags, remoteServer, type RemoteFlags } from './remote.js';
import { withPool } from './with-pool.js';

interface StatsFlags extends PoolFlags, RemoteFlags {}

export function register(program: Command): void {
  addPoolFlags(
    addRemoteFlags(
      program.command('stats').description("print a pool's statistics as JSON: a fresh pool, warmed, or a running server's (--url)"),
    ),
  ).action(async (flags: StatsFlags, command: Command) => {
    let snapshot: unknown;
    const server = remoteServer(flags, command);
    if (server) {
      snapshot = await server.request('GET', 'stats');
    } else {
      snapshot = await withPool(poolOptionsFrom(flags, oneShot()), async (pool) => {
        await pool.ready();
        return pool.stats();
      });
    }
    process.stdout.write(`${JSON.stringify(snapshot, null, 2)}\n`);
  });
}
