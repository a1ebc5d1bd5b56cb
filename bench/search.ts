/**
 * Collections benchmark: recall@10 of the HNSW path against exact search, and query latency, on
 * real embeddings (the default glove-100d model's vectors of generated topical text).
 *
 *   npm run build && npx tsx bench/search.ts            # 100,000 vectors, 1,000 queries
 *   BENCH_N=20000 npx tsx bench/search.ts               # smaller
 *
 * Writes bench/results/search-100k.json and search-100k.md (search.json / search.md when BENCH_OUT_DIR
 * is set, as the suite's `search` benchmark does). Also measures: vector-query
 * latency while the embed workers are saturated (the index lives in its own worker), and the
 * memory one copy of the collection takes.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPool, type WarmPool } from '../dist/src/index.js';
import { textGenerator } from './synthetic-text.js';

const N = Number(process.env.BENCH_N ?? 100_000);
// The suite's `search` benchmark runs this script smaller, into a folder of its own.
const BASENAME = process.env.BENCH_OUT_DIR ? 'search' : 'search-100k';
const OUT = process.env.BENCH_OUT_DIR ? new URL(`file://${process.env.BENCH_OUT_DIR.replace(/\/?$/, '/')}`) : new URL('./results/', import.meta.url);
const QUERIES = Number(process.env.BENCH_QUERIES ?? 1_000);
const K = 10;
// The full size first, so its memory is measured on a process that has held no other collection.
const SWEEP = [N, 5_000, 20_000, 50_000].filter((n, i, a) => n <= N && a.indexOf(n) === i);
const HNSW = { connectivity: 32, expansionAdd: 128, expansionSearch: 128 };
const EF_SWEEP = [32, 64, 128, 256];

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const round = (x: number, d = 3): number => Number(x.toFixed(d));
const log = (s: string): void => void process.stderr.write(`${s}\n`);

async function embedAll(pool: WarmPool, texts: string[]): Promise<Float32Array> {
  const out = new Float32Array(texts.length * 100);
  const chunk = 2_000;
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < texts.length; i += chunk) {
    jobs.push(pool.embedPacked(texts.slice(i, i + chunk)).then(({ data }) => out.set(data, i * 100)));
  }
  await Promise.all(jobs);
  return out;
}

async function load(pool: WarmPool, collection: string, vectors: Float32Array, texts: string[], n: number, create: object): Promise<number> {
  const t0 = performance.now();
  const batch = 5_000;
  for (let i = 0; i < n; i += batch) {
    const docs = [];
    for (let j = i; j < Math.min(n, i + batch); j++) docs.push({ id: `d${j}`, text: texts[j]!, vector: vectors.subarray(j * 100, (j + 1) * 100) });
    await pool.index(docs, { collection, create });
  }
  return performance.now() - t0;
}

async function measure(pool: WarmPool, collection: string, queries: Float32Array[], exact: boolean): Promise<{ ids: string[][]; ms: number[] }> {
  const ids: string[][] = [];
  const ms: number[] = [];
  for (const q of queries) {
    const t0 = performance.now();
    const hits = await pool.search(q, { collection, k: K, exact });
    ms.push(performance.now() - t0);
    ids.push(hits.map((h) => h.id));
  }
  return { ids, ms };
}

const recall = (truth: string[][], got: string[][]): number =>
  truth.reduce((sum, t, i) => sum + got[i]!.filter((id) => t.includes(id)).length / t.length, 0) / truth.length;

async function main(): Promise<void> {
  const store = mkdtempSync(join(tmpdir(), 'warmpool-bench-'));
  // No text cache: the load below repeats one text, which must reach the workers every time.
  const pool = createPool({ storePath: store, cacheBytes: 0 });
  await pool.ready();
  const gen = textGenerator(42);
  const texts = Array.from({ length: N }, (_, i) => gen.doc(i));
  const queryTexts = Array.from({ length: QUERIES }, (_, i) => gen.doc(N + i));
  let t0 = performance.now();
  const vectors = await embedAll(pool, texts);
  const embedMs = performance.now() - t0;
  const qv = await embedAll(pool, queryTexts);
  const queries = Array.from({ length: QUERIES }, (_, i) => qv.slice(i * 100, (i + 1) * 100));
  log(`embedded ${N} texts in ${(embedMs / 1000).toFixed(1)} s with ${pool.options.maxThreads} workers`);

  const sizes = [];
  let collectionMb = 0;
  for (const n of SWEEP) {
    const name = `hnsw-${n}`;
    const rssBefore = process.memoryUsage().rss;
    const loadMs = await load(pool, name, vectors, texts, n, { index: 'hnsw', hnsw: HNSW });
    if (n === N) collectionMb = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    // Warm up both paths.
    await measure(pool, name, queries.slice(0, 50), true);
    await measure(pool, name, queries.slice(0, 50), false);
    const exact = await measure(pool, name, queries, true);
    const ann = await measure(pool, name, queries, false);
    const row = {
      vectors: n,
      loadSeconds: round(loadMs / 1000, 1),
      recallAt10: round(recall(exact.ids, ann.ids), 4),
      hnswP50Ms: round(pct(ann.ms, 50)),
      hnswP99Ms: round(pct(ann.ms, 99)),
      exactP50Ms: round(pct(exact.ms, 50)),
      exactP99Ms: round(pct(exact.ms, 99)),
    };
    log(JSON.stringify(row));
    sizes.push(row);
    if (n !== N) await pool.collections().drop(name);
  }
  const big = `hnsw-${N}`;

  // expansion_search is fixed when a usearch index is built: one collection per value.
  const efSweep = [];
  const efN = Math.min(N, 50_000);
  const efTruth = await measure(pool, `hnsw-${N}`, queries, true);
  for (const ef of EF_SWEEP) {
    if (ef === HNSW.expansionSearch && efN === N) continue;
    const name = `ef-${ef}`;
    await load(pool, name, vectors, texts, efN, { index: 'hnsw', hnsw: { ...HNSW, expansionSearch: ef } });
    const truth = efN === N ? efTruth : await measure(pool, name, queries, true);
    await measure(pool, name, queries.slice(0, 50), false);
    const ann = await measure(pool, name, queries, false);
    const row = { vectors: efN, expansionSearch: ef, recallAt10: round(recall(truth.ids, ann.ids), 4), p50Ms: round(pct(ann.ms, 50)), p99Ms: round(pct(ann.ms, 99)) };
    log(JSON.stringify(row));
    efSweep.push(row);
    await pool.collections().drop(name);
  }

  // Vector queries while the embed workers are saturated with long texts.
  const idle = await measure(pool, big, queries.slice(0, 300), false);
  let loadRunning = true;
  const longText = texts.slice(0, 64).join(' ');
  const loaders = Array.from({ length: pool.options.maxThreads * 2 }, async () => {
    while (loadRunning) await pool.embed(Array.from({ length: 64 }, () => longText));
  });
  await new Promise((r) => setTimeout(r, 300));
  const busy = await measure(pool, big, queries.slice(0, 300), false);
  const textMs: number[] = [];
  for (const q of queryTexts.slice(0, Number(process.env.BENCH_TEXT_QUERIES ?? 30))) {
    t0 = performance.now();
    await pool.search(q, { collection: big, k: K });
    textMs.push(performance.now() - t0);
  }
  loadRunning = false;
  await Promise.all(loaders);
  const underLoad = {
    vectorQueryIdleP50Ms: round(pct(idle.ms, 50)),
    vectorQueryIdleP99Ms: round(pct(idle.ms, 99)),
    vectorQueryUnderEmbedLoadP50Ms: round(pct(busy.ms, 50)),
    vectorQueryUnderEmbedLoadP99Ms: round(pct(busy.ms, 99)),
    textQueryUnderEmbedLoadP50Ms: round(pct(textMs, 50)),
  };
  log(JSON.stringify(underLoad));

  const result = {
    machine: `${(await import('node:os')).cpus()[0]?.model ?? 'cpu'} x ${(await import('node:os')).availableParallelism()}`,
    model: pool.model,
    embedWorkers: pool.options.maxThreads,
    vectors: N,
    queries: QUERIES,
    k: K,
    hnsw: HNSW,
    embedSeconds: round(embedMs / 1000, 1),
    sizes,
    efSweep,
    underLoad,
    memory: {
      // Process RSS growth while the one index worker loaded the collection (vectors, graph, texts).
      oneCopyMb: round(collectionMb, 1),
      rawVectorsMb: round((N * 100 * 4) / 2 ** 20, 1),
      // What a copy in every embed worker would take instead.
      copyPerEmbedWorkerMb: round(collectionMb * pool.options.maxThreads, 1),
    },
  };
  await pool.close();
  rmSync(store, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  writeFileSync(new URL(`${BASENAME}.json`, OUT), `${JSON.stringify(result, null, 2)}\n`);
  const md = [
    `| vectors | recall@10 (HNSW vs exact) | HNSW p50 / p99 ms | exact p50 / p99 ms | load s |`,
    `|---|---|---|---|---|`,
    ...[...sizes].sort((a, b) => a.vectors - b.vectors).map((s) => `| ${s.vectors.toLocaleString('en-US')} | ${s.recallAt10} | ${s.hnswP50Ms} / ${s.hnswP99Ms} | ${s.exactP50Ms} / ${s.exactP99Ms} | ${s.loadSeconds} |`),
    '',
    `| expansionSearch (${efN.toLocaleString('en-US')} vectors) | recall@10 | p50 / p99 ms |`,
    `|---|---|---|`,
    ...efSweep.map((s) => `| ${s.expansionSearch} | ${s.recallAt10} | ${s.p50Ms} / ${s.p99Ms} |`),
    '',
    `| vector query (${N.toLocaleString('en-US')}) | p50 ms | p99 ms |`,
    `|---|---|---|`,
    `| idle | ${underLoad.vectorQueryIdleP50Ms} | ${underLoad.vectorQueryIdleP99Ms} |`,
    `| embed workers saturated | ${underLoad.vectorQueryUnderEmbedLoadP50Ms} | ${underLoad.vectorQueryUnderEmbedLoadP99Ms} |`,
    `| text query, embed workers saturated | ${underLoad.textQueryUnderEmbedLoadP50Ms} | |`,
    '',
    `Memory of the ${N.toLocaleString('en-US')}-vector collection: ${result.memory.oneCopyMb} MB in the one index worker ` +
      `(raw vectors ${result.memory.rawVectorsMb} MB); a copy in each of ${result.embedWorkers} embed workers would take ${result.memory.copyPerEmbedWorkerMb} MB.`,
    '',
  ].join('\n');
  writeFileSync(new URL(`${BASENAME}.md`, OUT), md);
  process.stdout.write(md);
}

await main();
