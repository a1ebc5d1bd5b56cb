import type { Doc, IndexDocsOptions, IndexResult, SearchHit, SearchOptions, VectorInput } from './collections/types.js';
import type { EmbedOptions } from './inputs.js';
import { createPool, type WarmPool } from './pool.js';

let defaultPool: WarmPool | undefined;

/**
 * The process-wide default pool, created on first use from the environment variables
 * (`WARMPOOL_MODEL`, `WARMPOOL_THREADS`, ...) and defaults. Its idle workers do not keep the
 * process alive.
 */
export function getDefaultPool(): WarmPool {
  if (!defaultPool || defaultPool.state === 'closing' || defaultPool.state === 'closed') {
    defaultPool = createPool();
  }
  return defaultPool;
}

/** Closes the default pool, if one was created; the next `embed()` creates a new one. */
export async function closeDefaultPool(): Promise<void> {
  const pool = defaultPool;
  defaultPool = undefined;
  await pool?.close();
}

/** Embeds with the default pool: see {@link WarmPool.embed}. */
export function embed(input: string, options?: EmbedOptions): Promise<Float32Array>;
export function embed(input: readonly string[], options?: EmbedOptions): Promise<Float32Array[]>;
export function embed(input: string | readonly string[], options?: EmbedOptions): Promise<Float32Array | Float32Array[]> {
  return getDefaultPool().embed(input as string, options);
}

/** Indexes with the default pool: see {@link WarmPool.index}. */
export function index(docs: readonly (Doc | string)[] | Doc | string, options?: IndexDocsOptions): Promise<IndexResult> {
  return getDefaultPool().index(docs, options);
}

/** Searches with the default pool: see {@link WarmPool.search}. */
export function search(query: string | VectorInput, options?: SearchOptions): Promise<SearchHit[]> {
  return getDefaultPool().search(query, options);
}
