/**
 * The built package, as a user gets it. Benchmarks measure `dist/`, never the TypeScript sources,
 * so run `npm run build` first (`npm run bench` does).
 */
export * from '../../dist/src/index.js';
export { PoolStats, StatsView } from '../../dist/src/stats.js';
