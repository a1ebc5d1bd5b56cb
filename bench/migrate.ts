/**
 * A change of model: what a re-embed migration costs against indexing the same texts afresh, and
 * how searches of the collection answer while it runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { round, summarize, type Summary } from './lib/stats.js';
import { textOf } from './lib/texts.js';
import { checkTarget, type Benchmark, type Table, type TargetCheck } from './lib/types.js';
import { createPool, type WarmPool } from './lib/warmpool.js';

const FROM = 'glove-100d';
const TO = 'minilm-shape';
const TOKENS = 40;
const SEARCH_EVERY_MS = 50;

/** Searches of `collection` every SEARCH_EVERY_MS until `done` settles: their latencies. */
async function searchWhile(pool: WarmPool, collection: string, done: Promise<unknown>): Promise<number[]> {
  let over = false;
  void done.finally(() => (over = true)).catch(() => {});
  const times: number[] = [];
  for (let i = 0; !over; i++) {
    const t = performance.now();
    await pool.search(textOf(8, 10_000 + i), { collection, k: 10 });
    times.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, SEARCH_EVERY_MS));
  }
  return times;
}

const benchmark: Benchmark = {
  name: 'migrate',
  title: 'Re-embed migration after a change of model',
  description:
    `A collection of ${TOKENS}-token texts indexed with \`${FROM}\` is migrated to \`${TO}\` (MiniLM-L6's shape, random weights) with ` +
    '`pool.collections().migrate()`, against `indexStream` of the same texts into a new collection by the same pool (2 workers), side by side in one run, ' +
    `in alternating order over the rounds. During each, a search of the collection every ${SEARCH_EVERY_MS} ms: during the migration they are answered by the old ` +
    'collection (by keyword, as its vectors are the old model\'s), during indexStream by the collection being written (hybrid). Also: the idle search latency, and ' +
    "the time to fingerprint the new model (hashing its files, once per process).",
  async run(ctx) {
    const count = ctx.pick(2000, 600, 100);
    const rounds = ctx.pick(2, 1, 1);
    const to = ctx.tiny ? FROM : TO;
    const store = mkdtempSync(join(tmpdir(), 'warmpool-bench-migrate-'));
    const texts = Array.from({ length: count }, (_, i) => textOf(TOKENS, i));
    const docs = texts.map((text, i) => ({ id: `d${i}`, text }));
    const targets: TargetCheck[] = [];
    const tables: Table[] = [];
    const data: Record<string, unknown> = {};
    try {
      const fingerprintMs: Record<string, number> = {};
      const { fingerprintOf } = await import('../dist/src/collections/fingerprint.js');
      const runs: { order: number; migrateMs: number; streamMs: number; during: Summary; duringStream: Summary }[] = [];
      let idle: Summary | undefined;
      for (let r = 0; r < rounds; r++) {
        const old = createPool({ model: FROM, threads: 2, storePath: store, env: false });
        await old.index(docs, { collection: `old${r}` });
        await old.close();
        const pool = createPool({ model: to, threads: 2, storePath: store, env: false, cacheBytes: 0 });
        await pool.ready();
        if (r === 0) {
          // Before any collection call of this pool: the files of its model are not hashed yet.
          const t = performance.now();
          await fingerprintOf(pool.model!);
          fingerprintMs[to] = performance.now() - t;
          await pool.index(docs.slice(0, 50), { collection: 'idle' });
          idle = summarize(await searchWhile(pool, 'idle', new Promise((r2) => setTimeout(r2, 2000))));
        }
        const migrate = async () => {
          const t = performance.now();
          const done = pool.collections().migrate(`old${r}`, { batchSize: 256 });
          const during = await searchWhile(pool, `old${r}`, done);
          await done;
          return { ms: performance.now() - t, during: summarize(during) };
        };
        const stream = async () => {
          await pool.collections().create(`new${r}`);
          const t = performance.now();
          const done = pool.indexStream(docs, { collection: `new${r}` });
          const during = await searchWhile(pool, `new${r}`, done);
          await done;
          return { ms: performance.now() - t, during: summarize(during) };
        };
        let m: Awaited<ReturnType<typeof migrate>>;
        let s: Awaited<ReturnType<typeof stream>>;
        if (r % 2 === 0) {
          m = await migrate();
          s = await stream();
        } else {
          s = await stream();
          m = await migrate();
        }
        runs.push({ order: r, migrateMs: m.ms, streamMs: s.ms, during: m.during, duringStream: s.during });
        await pool.close();
      }
      // Summed over the rounds: each order counts once (the nearest-rank median of two would pick one).
      const ratio = runs.reduce((a, x) => a + x.migrateMs, 0) / runs.reduce((a, x) => a + x.streamMs, 0);
      tables.push({
        title: `${count} documents, ${FROM} -> ${to}, 2 workers (per round)`,
        columns: ['round', 'migrate s', 'migrate docs/s', 'indexStream s', 'indexStream docs/s', 'migrate / indexStream time', 'search p50 ms during migrate', 'p99', 'search p50 ms during indexStream', 'p99'],
        rows: runs.map((x) => [
          x.order + 1,
          round(x.migrateMs / 1000),
          round(count / (x.migrateMs / 1000)),
          round(x.streamMs / 1000),
          round(count / (x.streamMs / 1000)),
          round(x.migrateMs / x.streamMs),
          round(x.during.p50),
          round(x.during.p99),
          round(x.duringStream.p50),
          round(x.duringStream.p99),
        ]),
      });
      tables.push({
        title: 'Idle search latency and fingerprint time',
        columns: ['figure', 'ms'],
        rows: [
          ['search p50, idle pool (50 docs, hybrid)', round(idle!.p50)],
          ...Object.entries(fingerprintMs).map(([m, ms]) => [`fingerprint of ${m} (first, uncached)`, round(ms)] as [string, number]),
        ],
      });
      targets.push(checkTarget('migrate-vs-index', 'migration time / indexStream time of the same texts, summed over the rounds', ratio, 1.25, false, 'x',
        'The migration reads the old documents from the index worker in batches and writes them to a second log, where indexStream only writes.'));
      Object.assign(data, { count, rounds, runs, idle, fingerprintMs });
      return { model: to, dtype: 'fp32', models: { from: FROM, to }, available: true, targets, tables, charts: [], notes: [], data };
    } finally {
      rmSync(store, { recursive: true, force: true });
    }
  },
};

export default benchmark;
