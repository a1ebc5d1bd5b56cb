import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './lib/paths.js';
import { checkTarget, type Benchmark } from './lib/types.js';

interface SizeRow {
  vectors: number;
  recallAt10: number;
  hnswP50Ms: number;
  hnswP99Ms: number;
  exactP50Ms: number;
  exactP99Ms: number;
  loadSeconds: number;
}

/**
 * The collections benchmark at a size that fits the suite: `bench/search.ts` (which `npm run
 * bench:search` runs at 100,000 vectors, the figure the README quotes) on 20,000 vectors, or
 * 5,000 in quick mode, into a folder of its own.
 */
const benchmark: Benchmark = {
  name: 'search',
  title: 'Search',
  description:
    'recall@10 of the HNSW path against exact search, and p50/p99 query latency of both, on real embeddings (the default glove-100d ' +
    "model's vectors of generated topical text) indexed into a collection: 20,000 vectors here (3,000 quick); `npm run bench:search` " +
    'runs the same at 100,000 (bench/results/search-100k.json).',
  async run(ctx) {
    const n = ctx.pick(20_000, 3_000, 2_000);
    const queries = ctx.pick(500, 100, 50);
    const out = mkdtempSync(join(tmpdir(), 'warmpool-bench-search-'));
    try {
      const run = spawnSync(process.execPath, ['--import', 'tsx', `${ROOT}bench/search.ts`], {
        cwd: ROOT,
        // Each text query waits behind the saturating embed load (seconds): a few are enough here.
        env: { ...process.env, BENCH_N: String(n), BENCH_QUERIES: String(queries), BENCH_TEXT_QUERIES: '5', BENCH_OUT_DIR: out },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      if (run.status !== 0) throw new Error(`bench/search.ts exited with ${run.status}`);
      const result = JSON.parse(readFileSync(join(out, 'search.json'), 'utf8')) as { sizes: SizeRow[]; underLoad: Record<string, number> };
      const sizes = [...result.sizes].sort((a, b) => a.vectors - b.vectors);
      const biggest = sizes.at(-1)!;
      return {
        model: 'glove-100d',
        dtype: 'fp32',
        available: true,
        targets: [
          checkTarget('recall', `recall@10 of HNSW vs exact, ${biggest.vectors.toLocaleString('en-US')} vectors`, biggest.recallAt10, 0.95, true, '',
            'The graph misses neighbours: raise expansionSearch (recall 0.95 at 64, 0.99 at 128 on 50,000 vectors).'),
        ],
        tables: [
          {
            title: `Query latency (ms) and recall@10, k = 10, ${queries} queries`,
            columns: ['vectors', 'recall@10', 'HNSW p50', 'HNSW p99', 'exact p50', 'exact p99', 'load s'],
            rows: sizes.map((r) => [r.vectors, r.recallAt10, r.hnswP50Ms, r.hnswP99Ms, r.exactP50Ms, r.exactP99Ms, r.loadSeconds]),
          },
        ],
        charts: [
          {
            id: 'latency',
            title: 'Search latency, p50',
            type: 'line',
            xLabel: 'vectors',
            yLabel: 'ms',
            x: sizes.map((r) => r.vectors.toLocaleString('en-US')),
            series: [
              { name: 'HNSW p50', values: sizes.map((r) => r.hnswP50Ms) },
              { name: 'exact p50', values: sizes.map((r) => r.exactP50Ms) },
            ],
          },
        ],
        notes: [`Vector queries while the embed workers are saturated: p50 ${result.underLoad.vectorQueryUnderEmbedLoadP50Ms} ms (idle: ${result.underLoad.vectorQueryIdleP50Ms} ms): the index has a worker of its own.`],
        data: result,
      };
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  },
};

export default benchmark;
