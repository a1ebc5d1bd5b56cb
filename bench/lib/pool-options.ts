import { DEFAULTS, type PoolOptions } from './warmpool.js';

/** Which optional pool features this build has (older builds reject unknown options with a TypeError). */
export const FEATURES = {
  batching: 'batching' in DEFAULTS,
  cache: 'cacheBytes' in DEFAULTS,
} as const;

/**
 * Options for a pool that does the work on every call: the embedding cache is off (where the
 * build has one), so benchmarks measure workers and models, not a lookup of repeated texts.
 */
export function uncached(options: PoolOptions): PoolOptions {
  return FEATURES.cache ? ({ ...options, cacheBytes: 0 } as PoolOptions) : options;
}

/** The same, with call coalescing set as asked where the build has it; undefined where it has not. */
export function withBatching(options: PoolOptions, batching: boolean): PoolOptions | undefined {
  return FEATURES.batching ? uncached({ ...options, batching } as PoolOptions) : undefined;
}

/** The build's feature defaults, for the JSON. */
export function featureDefaults(): Record<string, unknown> {
  const d = DEFAULTS as unknown as Record<string, unknown>;
  return { batching: d.batching ?? 'not in this build', cacheBytes: d.cacheBytes ?? 'not in this build' };
}
