import { createPool, type WarmPool } from '../pool.js';
import type { PoolOptions } from '../options.js';
import { UsageError } from './exit-codes.js';

/**
 * Runs `body` with a pool and always closes it. Bad pool options (the library's TypeError or
 * RangeError, with the value received) are usage errors here: they came from the command line.
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
  } finally {
    await pool.close();
  }
}
