import type { Benchmark } from './lib/types.js';

/** Every benchmark, in report order, loaded only when run. */
export const BENCHMARKS: Record<string, () => Promise<Benchmark>> = {
  'warm-cold': async () => (await import('./warm-cold.js')).default,
  startup: async () => (await import('./startup.js')).default,
  throughput: async () => (await import('./throughput.js')).default,
  overhead: async () => (await import('./overhead.js')).default,
  overload: async () => (await import('./overload.js')).default,
  'stats-cost': async () => (await import('./stats-cost.js')).default,
  batching: async () => (await import('./batching.js')).default,
  search: async () => (await import('./search-suite.js')).default,
  models: async () => (await import('./models.js')).default,
  idle: async () => (await import('./idle.js')).default,
  weights: async () => (await import('./weights.js')).default,
  migrate: async () => (await import('./migrate.js')).default,
};

export const NAMES = Object.keys(BENCHMARKS);
