import { CollectionLockedError } from '../errors.js';
import { createPool, type WarmPool } from '../pool.js';
import type { PoolOptions } from '../options.js';
import { UsageError } from './exit-codes.js';
import { URL_ENV } from './remote.js';

/** What to do about a store another process holds: said after the lock error's own message (which names the holder's pid). */
export const LOCKED_STORE_HINT = `a warmpool server or another process holds this store; pass --url http://host:port (or set ${URL_ENV}) to go through the server, or stop it`;

/**
 * Runs `body` with a pool and always closes it. Bad pool options (the library's TypeError or
 * RangeError, with the value received) are usage errors here: they came from the command line.
 * A store locked by another process (a running `warmpool serve`, most likely) fails with the
 * lock's message and what to do about it.
 */
export async function withPool<T>(options: PoolOptions, body: (pool: WarmPool) => Promise<T>): Promise<T> {
  let pool: WarmPool;
  try {
    pool = createPool(options);
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) throw new UsageError(error.message);
    throw error;
  }
  try {
    return await body(pool);
  } catch (error) {
    if (error instanceof CollectionLockedError) throw new CollectionLockedError(`${error.message}\n${LOCKED_STORE_HINT}`, { cause: error });
    throw error;
  } finally {
    await pool.close();
  }
}
