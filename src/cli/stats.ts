/** `warmpool stats`: a pool's statistics snapshot as JSON, from a fresh warm pool or a running server. */
import type { Command } from 'commander';
import { SERVER_ENV_VARS } from '../server/options.js';
import { addPoolFlags, oneShot, poolOptionsFrom, type PoolFlags } from './pool-flags.js';
import { withPool } from './with-pool.js';
import { UsageError } from './exit-codes.js';

interface StatsFlags extends PoolFlags {
  url?: string;
  apiKey?: string;
}

async function fromServer(url: string, apiKey: string | undefined): Promise<unknown> {
  let target: URL;
  try {
    target = new URL('stats', url.endsWith('/') ? url : `${url}/`);
  } catch {
    throw new UsageError(`--url must be a URL such as http://127.0.0.1:8080, received ${JSON.stringify(url)}`);
  }
  const res = await fetch(target, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} });
  const text = await res.text();
  if (!res.ok) throw new Error(`${target.href} answered ${res.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as unknown;
}

export function register(program: Command): void {
  addPoolFlags(
    program
      .command('stats')
      .description("print a pool's statistics as JSON: a fresh pool, warmed, or a running server's (--url)")
      .option('--url <url>', 'ask a running `warmpool serve` at this address instead of starting a pool')
      .option('--api-key <key>', `the server's API key (env ${SERVER_ENV_VARS.apiKey})`),
  ).action(async (flags: StatsFlags) => {
    let snapshot: unknown;
    if (flags.url !== undefined) {
      snapshot = await fromServer(flags.url, flags.apiKey ?? process.env[SERVER_ENV_VARS.apiKey]);
    } else {
      snapshot = await withPool(poolOptionsFrom(flags, oneShot()), async (pool) => {
        await pool.ready();
        return pool.stats();
      });
    }
    process.stdout.write(`${JSON.stringify(snapshot, null, 2)}\n`);
  });
}
