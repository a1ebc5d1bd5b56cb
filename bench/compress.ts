/**
 * Compressed vectors and the other figures of a 100,000-document collection, on real text of
 * this machine that warmpool did not write (manual pages, package documentation, Python
 * docstrings: see lib/machine-corpus.ts), embedded with the default model (glove-100d).
 *
 *   npm run bench:compress                 # 100,000 documents, 500 queries
 *   BENCH_N=20000 npx tsx bench/compress.ts
 *   BENCH_PARTS=compress npx tsx bench/compress.ts   # one part only (compress | figures)
 *
 * Part `compress`, per quantization (f32, f16, i8, binary), each built in a fresh child process
 * so that its memory is its own: the bytes of the stored vectors, of the HNSW graph (usearch's
 * file of it, which mirrors what it holds in memory), the process's RSS growth, the graph's build
 * time, and recall@10 against exact f32 search with its p50 latency; for i8 and binary, a sweep
 * of how many candidates are rescored. f32 is built again at connectivity 16, whose graph
 * links take half the bytes of the default 32's, and i8 at 16, 12 and 8.
 *
 * Part `figures`, through the pool and its index worker, side by side with and without the
 * keyword index (the `noKeywordIndex` hook; two stores written batch by batch in turn): indexing rate (vectors given, so it measures the
 * store, not the model), store size on disk, time to open the collection again (snapshot read,
 * keyword index rebuilt, graph rebuilt), and search p50 by mode with text queries.
 *
 * Writes bench/results/compress-100k.json and compress-100k.md.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPool, type WarmPool } from '../dist/src/index.js';
import { KeywordIndex } from '../dist/src/collections/keyword-index.js';
import type { CollectionSettings, Quantization } from '../dist/src/collections/types.js';
import { OVERSAMPLE, VectorIndex } from '../dist/src/collections/vector-index.js';
import { machineCorpus } from './lib/machine-corpus.js';

const N = Number(process.env.BENCH_N ?? 100_000);
const Q = Number(process.env.BENCH_QUERIES ?? 500);
const PARTS = (process.env.BENCH_PARTS ?? 'compress,figures').split(',');
const DIMS = 100;
const K = 10;
const KINDS: Quantization[] = ['f32', 'f16', 'i8', 'binary'];
/** Graph connectivity of each row: 32 (the default) for every kind; 16 (links of half the bytes) for f32, and 16, 12 and 8 for i8. */
const VARIANTS: { kind: Quantization; connectivity: number }[] = [...KINDS.map((kind) => ({ kind, connectivity: 32 })), { kind: 'f32', connectivity: 16 }, ...[16, 12, 8].map((connectivity) => ({ kind: 'i8' as const, connectivity }))];
const SWEEP: Partial<Record<Quantization, number[]>> = { i8: [1, 2, 4], binary: [4, 10, 25] };
const OUT = new URL('./results/', import.meta.url);
const BASENAME = N === 100_000 ? 'compress-100k' : `compress-${N}`;

const log = (s: string): void => void process.stderr.write(`${s}\n`);
const round = (x: number, d = 3): number => Number(x.toFixed(d));
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const mb = (bytes: number): number => round(bytes / 2 ** 20, 1);
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

function settings(quantization: Quantization, index: CollectionSettings['index'], connectivity = 32): CollectionSettings {
  return {
    name: 'bench',
    dims: DIMS,
    metric: 'cosine',
    index,
    quantization,
    autoThreshold: 20_000,
    hnsw: { connectivity, expansionAdd: 128, expansionSearch: 128 },
    ttl: undefined,
    createdAt: '',
  };
}

/** The child: builds one quantization's index from the vectors file and prints its figures as JSON. */
function child(kind: Quantization, dataFile: string, truthFile: string, connectivity: number): void {
  const all = new Float32Array(readFileSync(dataFile).buffer.slice(0));
  const truth = JSON.parse(readFileSync(truthFile, 'utf8')) as number[][];
  const row = (i: number) => all.subarray(i * DIMS, (i + 1) * DIMS);
  gc();
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  const vi = new VectorIndex(settings(kind, 'hnsw', connectivity));
  for (let i = 0; i < N; i++) vi.put(row(Q + i));
  vi.finishLoad();
  const buildMs = performance.now() - t0;
  gc();
  const rssGrowth = process.memoryUsage().rss - rss0;
  const graphFile = join(tmpdir(), `warmpool-compress-${process.pid}.usearch`);
  vi.saveGraph(graphFile);
  const graphBytes = statSync(graphFile).size;
  rmSync(graphFile);
  // The stored vectors of the live documents (the matrix itself grows by doubling: see vectorBytes for its capacity).
  const bytesPerVector = { f32: 4, f16: 2, i8: 1, binary: 4 }[kind] * DIMS + (kind === 'i8' ? 4 : 0);
  const run = (queries: number, exact: boolean) => {
    let found = 0;
    const ms: number[] = [];
    for (let q = 0; q < queries; q++) {
      const want = new Set(truth[q]!);
      const t = performance.now();
      const hits = vi.search(row(q), K, undefined, exact);
      ms.push(performance.now() - t);
      found += hits.filter((h) => want.has(h.slot)).length;
    }
    return { recallAt10: round(found / (queries * K), 4), p50Ms: round(pct(ms, 50)), p99Ms: round(pct(ms, 99)) };
  };
  run(Math.min(50, Q), false); // warm-up
  const graph = run(Q, false);
  const sweep = (connectivity === 32 ? (SWEEP[kind] ?? []) : []).map((over) => {
    const was = OVERSAMPLE[kind];
    OVERSAMPLE[kind] = over;
    const r = { candidatesPerHit: over, ...run(Q, false) };
    OVERSAMPLE[kind] = was;
    return r;
  });
  // Exact search over the stored (compressed) vectors: f32 and binary keep floats, so only f16 and i8 differ.
  const exact = (kind === 'f16' || kind === 'i8') && connectivity === 32 ? run(Math.min(100, Q), true) : undefined;
  const out = {
    quantization: kind,
    connectivity,
    vectors: N,
    candidatesPerHit: OVERSAMPLE[kind],
    vectorBytes: bytesPerVector * N,
    graphBytes,
    totalBytes: bytesPerVector * N + graphBytes,
    rssGrowthBytes: rssGrowth,
    buildSeconds: round(buildMs / 1000, 1),
    graph,
    exact,
    sweep,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

async function embedAll(pool: WarmPool, texts: string[]): Promise<Float32Array> {
  const out = new Float32Array(texts.length * DIMS);
  const chunk = 2_000;
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < texts.length; i += chunk) {
    jobs.push(pool.embedPacked(texts.slice(i, i + chunk)).then(({ data }) => out.set(data, i * DIMS)));
  }
  await Promise.all(jobs);
  return out;
}

/** A query as a person types one: the first ten words of a paragraph held out of the collection. */
const queryOf = (paragraph: string): string => paragraph.split(' ').slice(0, 10).join(' ');

function compressPart(all: Float32Array, dir: string): unknown[] {
  const dataFile = join(dir, 'vectors.f32');
  writeFileSync(dataFile, all);
  // Exact f32 truth, computed once: slots of the child's index are the documents' order.
  const truthIndex = new VectorIndex(settings('f32', 'exact'));
  for (let i = 0; i < N; i++) truthIndex.put(all.subarray((Q + i) * DIMS, (Q + i + 1) * DIMS));
  truthIndex.finishLoad();
  const t0 = performance.now();
  const truth = Array.from({ length: Q }, (_, q) => truthIndex.search(all.subarray(q * DIMS, (q + 1) * DIMS), K).map((h) => h.slot));
  log(`exact f32 truth for ${Q} queries in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const truthFile = join(dir, 'truth.json');
  writeFileSync(truthFile, JSON.stringify(truth));
  const rows: unknown[] = [];
  const script = fileURLToPath(import.meta.url);
  for (const { kind, connectivity } of VARIANTS) {
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', script, '--child', kind, dataFile, truthFile, String(connectivity)], {
      env: process.env,
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    if (r.status !== 0) throw new Error(`the ${kind} child failed: ${r.stderr}`);
    const row = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as unknown;
    log(JSON.stringify(row));
    rows.push(row);
  }
  return rows;
}

const dirBytes = (dir: string): number => readdirSync(dir, { recursive: true, withFileTypes: true }).reduce((sum, d) => (d.isFile() ? sum + statSync(join(d.parentPath, d.name)).size : sum), 0);

async function figuresPart(all: Float32Array, docs: string[], queries: string[]): Promise<unknown> {
  const out: Record<string, unknown> = {};
  // The keyword index alone, rebuilt from the texts as an open does.
  gc();
  let t0 = performance.now();
  const kw = new KeywordIndex();
  for (let i = 0; i < docs.length; i++) kw.put(i, docs[i]!);
  out.keywordRebuildSeconds = round((performance.now() - t0) / 1000, 2);
  const kwMs: number[] = [];
  for (const q of queries) {
    t0 = performance.now();
    kw.search(q, K);
    kwMs.push(performance.now() - t0);
  }
  out.keywordIndexOnlyP50Ms = round(pct(kwMs, 50));
  log(`keyword index of ${docs.length} texts built in ${out.keywordRebuildSeconds} s; BM25 alone p50 ${out.keywordIndexOnlyP50Ms} ms`);

  // Two stores side by side, with and without the keyword index, written batch by batch in turn
  // (which one goes first alternates), so that the load of a shared machine falls on both alike.
  const hooked = <T>(keywords: boolean, make: () => T): T => {
    if (keywords) delete process.env.WARMPOOL_TEST_HOOKS;
    else process.env.WARMPOOL_TEST_HOOKS = JSON.stringify({ noKeywordIndex: true });
    try {
      return make();
    } finally {
      delete process.env.WARMPOOL_TEST_HOOKS;
    }
  };
  const sides = [true, false].map((keywords) => ({ keywords, store: mkdtempSync(join(tmpdir(), 'warmpool-compress-store-')), pool: undefined as WarmPool | undefined, seconds: 0 }));
  const runs: Record<string, unknown>[] = [];
  try {
    for (const side of sides) {
      // No embedding cache: every text query is embedded, whichever mode asks first.
      side.pool = hooked(side.keywords, () => createPool({ storePath: side.store, env: false, cacheBytes: 0 }));
      await side.pool.ready();
      // The index worker starts on the first collection call, and reads the hook then.
      await hooked(side.keywords, () => side.pool!.collections().create('docs'));
    }
    const batch = 5_000;
    for (let i = 0, turn = 0; i < docs.length; i += batch, turn++) {
      const part = [];
      for (let j = i; j < Math.min(docs.length, i + batch); j++) part.push({ id: `d${j}`, text: docs[j]!, vector: all.subarray((Q + j) * DIMS, (Q + j + 1) * DIMS) });
      for (const side of turn % 2 ? [...sides].reverse() : sides) {
        t0 = performance.now();
        await side.pool!.index(part, { collection: 'docs' });
        side.seconds += (performance.now() - t0) / 1000;
      }
    }
    for (const side of sides) {
      const row: Record<string, unknown> = { keywordIndex: side.keywords, docs: docs.length, indexSeconds: round(side.seconds, 1), docsPerSecond: Math.round(docs.length / side.seconds) };
      if (side.keywords) {
        // Text queries, as a user sends them: each is embedded, then searched.
        const pool = side.pool!;
        const modes = ['dense', 'hybrid', 'keyword'] as const;
        const ms: Record<string, number[]> = { dense: [], hybrid: [], keyword: [] };
        for (const q of queries.slice(0, 30)) for (const mode of modes) await pool.search(q, { collection: 'docs', k: K, mode });
        for (const [i, q] of queries.entries()) {
          // The order of the modes turns with each query, so none always goes first.
          for (let m = 0; m < modes.length; m++) {
            const mode = modes[(i + m) % modes.length]!;
            const t = performance.now();
            await pool.search(q, { collection: 'docs', k: K, mode });
            ms[mode]!.push(performance.now() - t);
          }
        }
        for (const mode of modes) row[`${mode}P50Ms`] = round(pct(ms[mode]!, 50));
        for (const mode of modes) row[`${mode}P99Ms`] = round(pct(ms[mode]!, 99));
        row.hybridOverDense = round((row.hybridP50Ms as number) / (row.denseP50Ms as number), 2);
      }
      await side.pool!.close();
      side.pool = undefined;
      row.storeBytes = dirBytes(side.store);
      runs.push(row);
    }
    // Opening again: the snapshot is read, the keyword index and the graph rebuilt.
    for (const [i, side] of sides.entries()) {
      const pool = hooked(side.keywords, () => createPool({ storePath: side.store, env: false, cacheBytes: 0 }));
      await pool.ready();
      t0 = performance.now();
      await hooked(side.keywords, () => pool.collections().info('docs'));
      runs[i]!.openSeconds = round((performance.now() - t0) / 1000, 1);
      await pool.close();
      log(JSON.stringify(runs[i]));
    }
  } finally {
    for (const side of sides) {
      await side.pool?.close();
      rmSync(side.store, { recursive: true, force: true });
    }
  }
  out.runs = runs;
  const [withKw, without] = runs as { docsPerSecond: number; openSeconds: number }[];
  out.indexRateRatio = round(withKw!.docsPerSecond / without!.docsPerSecond, 2);
  out.openSecondsAdded = round(withKw!.openSeconds - without!.openSeconds, 1);
  return out;
}

function report(result: { corpus: Record<string, number>; compress?: Record<string, unknown>[]; figures?: Record<string, unknown> }): string {
  const lines: string[] = [];
  if (result.compress) {
    const f32 = result.compress.find((r) => r.quantization === 'f32' && (r.connectivity ?? 32) === 32) as { totalBytes: number; vectorBytes: number } | undefined;
    lines.push(`| quantization | connectivity | vectors MB | graph MB | total MB (of f32, connectivity 32) | RSS growth MB | recall@10 vs exact f32 | p50 / p99 ms | build s |`, '|---|---|---|---|---|---|---|---|---|');
    for (const r of result.compress as { quantization: string; connectivity?: number; vectorBytes: number; graphBytes: number; totalBytes: number; rssGrowthBytes: number; graph: { recallAt10: number; p50Ms: number; p99Ms: number }; buildSeconds: number }[]) {
      const share = f32 ? ` (${Math.round((100 * r.totalBytes) / f32.totalBytes)}%)` : '';
      lines.push(`| ${r.quantization} | ${r.connectivity ?? 32} | ${mb(r.vectorBytes)} | ${mb(r.graphBytes)} | ${mb(r.totalBytes)}${share} | ${mb(r.rssGrowthBytes)} | ${r.graph.recallAt10} | ${r.graph.p50Ms} / ${r.graph.p99Ms} | ${r.buildSeconds} |`);
    }
    lines.push('', '| quantization | candidates rescored per hit | recall@10 | p50 ms |', '|---|---|---|---|');
    for (const r of result.compress as { quantization: string; sweep: { candidatesPerHit: number; recallAt10: number; p50Ms: number }[] }[]) {
      for (const s of r.sweep) lines.push(`| ${r.quantization} | ${s.candidatesPerHit} | ${s.recallAt10} | ${s.p50Ms} |`);
    }
    const ex = (result.compress as { quantization: string; exact?: { recallAt10: number } }[]).filter((r) => r.exact);
    if (ex.length) lines.push('', `Exact search over the stored vectors, recall@10 vs exact f32: ${ex.map((r) => `${r.quantization} ${r.exact!.recallAt10}`).join(', ')}.`);
  }
  if (result.figures) {
    const f = result.figures as { keywordRebuildSeconds: number; keywordIndexOnlyP50Ms: number; indexRateRatio: number; openSecondsAdded: number; runs: Record<string, number | boolean>[] };
    lines.push('', '| keyword index | docs/s indexed | store on disk MB | open s | dense p50 ms | hybrid p50 ms | keyword p50 ms |', '|---|---|---|---|---|---|---|');
    for (const r of f.runs) {
      lines.push(`| ${r.keywordIndex ? 'on' : 'off'} | ${r.docsPerSecond} | ${mb(r.storeBytes as number)} | ${r.openSeconds} | ${r.denseP50Ms ?? ''} | ${r.hybridP50Ms ?? ''} | ${r.keywordP50Ms ?? ''} |`);
    }
    lines.push('', `Indexing rate with the keyword index: ${f.indexRateRatio}x of without. Opening took ${f.openSecondsAdded} s more with it; the keyword index alone rebuilds in ${f.keywordRebuildSeconds} s (BM25 search alone: p50 ${f.keywordIndexOnlyP50Ms} ms).`);
  }
  lines.push('', `Corpus: ${Object.entries(result.corpus).map(([k, v]) => `${v} paragraphs of ${k}`).join(', ')}.`);
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const corpus = machineCorpus(N + Q);
  if (corpus.paragraphs.length < N + Q) throw new Error(`only ${corpus.paragraphs.length} paragraphs of text on this machine; set BENCH_N lower`);
  const queries = corpus.paragraphs.slice(0, Q).map(queryOf);
  const docs = corpus.paragraphs.slice(Q);
  log(`corpus of ${corpus.paragraphs.length} paragraphs in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${JSON.stringify(corpus.sources)}`);
  const pool = createPool({ env: false });
  let t = performance.now();
  const all = await embedAll(pool, [...queries, ...docs]);
  const embedSeconds = (performance.now() - t) / 1000;
  await pool.close();
  log(`embedded ${N + Q} texts in ${embedSeconds.toFixed(1)} s`);
  const dir = mkdtempSync(join(tmpdir(), 'warmpool-compress-'));
  const result: { date: string; vectors: number; queries: number; corpus: Record<string, number>; embedSeconds: number; compress?: Record<string, unknown>[]; figures?: Record<string, unknown> } = {
    date: new Date().toISOString(),
    vectors: N,
    queries: Q,
    corpus: corpus.sources,
    embedSeconds: round(embedSeconds, 1),
  };
  try {
    if (PARTS.includes('compress')) result.compress = compressPart(all, dir) as Record<string, unknown>[];
    if (PARTS.includes('figures')) result.figures = (await figuresPart(all, docs, queries)) as Record<string, unknown>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // A run of one part keeps the other part's figures from the last full run.
  const file = new URL(`${BASENAME}.json`, OUT);
  if (existsSync(file)) {
    const before = JSON.parse(readFileSync(file, 'utf8')) as typeof result;
    result.compress ??= before.compress;
    result.figures ??= before.figures;
  }
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  const md = report(result);
  writeFileSync(new URL(`${BASENAME}.md`, OUT), md);
  process.stdout.write(md);
}

if (process.argv[2] === '--child') child(process.argv[3] as Quantization, process.argv[4]!, process.argv[5]!, Number(process.argv[6] ?? 32));
else await main();
