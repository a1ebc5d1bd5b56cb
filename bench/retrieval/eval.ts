/**
 * Search quality on real text: dense (the pool's embedder), a reference Okapi BM25 (with and
 * without stemming and stop words), fusions of the two over a dense weight sweep, and a rerank
 * of the best fusion's top N with glove-rerank. Every query has one relevant document and
 * searches all documents of its set. Configurations are chosen on half A of the queries (a hash
 * of their id) and confirmed on half B.
 *
 *   npx tsc -p tsconfig.json                          # the pool runs from dist/
 *   npm install --no-save stemmer@2.0.1               # for the stemmed variants (optional)
 *   npx tsx bench/retrieval/build-sets.ts             # only to rebuild the sets
 *   npx tsx bench/retrieval/eval.ts [--sets docstrings,debian] [--skip-rerank] [--library] [--model NAME|FOLDER] [--out FILE]
 *
 * --library also indexes each set into a temporary store and measures `pool.search` with
 * `mode: 'dense' | 'keyword' | 'hybrid'` (the library's own implementation), side by side.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type RankMetrics, rankMetrics, rankOf, topK } from '../lib/retrieval-metrics.js';
import { markdownTable, textTable } from '../lib/table.js';
import type { Table } from '../lib/types.js';
import { createPool } from '../lib/warmpool.js';
import { FUSIONS, type Fusion, fuse, fusedRank } from './fusion.js';
import { embedUnits, half, loadSet, SETS_DIR } from './sets.js';
import { analyzer, Bm25, loadStemmer } from './text.js';

const { values: args } = parseArgs({
  options: {
    sets: { type: 'string', default: 'docstrings,debian' },
    candidates: { type: 'string', default: '100' },
    'skip-rerank': { type: 'boolean', default: false },
    library: { type: 'boolean', default: false },
    model: { type: 'string' },
    out: { type: 'string', default: `${SETS_DIR}results.json` },
  },
});
const CANDIDATES = Number(args.candidates);
const WEIGHTS = Array.from({ length: 11 }, (_, i) => i / 10);
const RERANK_N = [20, 50];

interface Row {
  name: string;
  group: string;
  params?: Record<string, unknown>;
  all: RankMetrics;
  A: RankMetrics;
  B: RankMetrics;
}

const stemmer = await loadStemmer();
const VARIANTS = [
  { stem: false, stop: false },
  { stem: false, stop: true },
  { stem: true, stop: false },
  { stem: true, stop: true },
].filter((v) => stemmer || !v.stem);
const variantName = (v: { stem: boolean; stop: boolean }) => `bm25${v.stem ? '+stem' : ''}${v.stop ? '+stop' : ''}`;

const pool = createPool({ threads: 1, ...(args.model ? { model: args.model } : {}), models: { rerank: { task: 'rerank', model: 'glove-rerank' } } });
await pool.ready();

const tables: Table[] = [];
const show = (t: Table) => {
  tables.push(t);
  console.log(`\n${textTable(t)}`);
};
const f3 = (x: number) => Number(x.toFixed(3));
const better = (a: RankMetrics, b: RankMetrics) => a.mrr10 > b.mrr10 || (a.mrr10 === b.mrr10 && a.r1 > b.r1);

/** Per set: everything the global choice and the rerank need. */
interface SetRun {
  name: string;
  source: string;
  halves: ('A' | 'B')[];
  queries: string[];
  docs: string[];
  rows: Row[];
  /** Fused candidate lists of every fusion config, by config key, per query (top 50 kept). */
  fused: Map<string, { doc: number; score: number }[][]>;
}

/** Every row's per-query ranks, by set and row name (for the paired comparisons; not in the JSON). */
const RANKS = new Map<string, number[]>();
let currentSet = '';

function row(name: string, group: string, ranks: number[], halves: ('A' | 'B')[], params?: Record<string, unknown>): Row {
  RANKS.set(`${currentSet}|${name}`, ranks);
  return {
    name,
    group,
    ...(params ? { params } : {}),
    all: rankMetrics(ranks),
    A: rankMetrics(ranks.filter((_, q) => halves[q] === 'A')),
    B: rankMetrics(ranks.filter((_, q) => halves[q] === 'B')),
  };
}

const embedAll = (texts: string[]): Promise<Float32Array[]> => embedUnits(pool, texts);

async function runSet(name: string): Promise<SetRun> {
  const set = loadSet(name);
  currentSet = name;
  const queries = set.items.map((i) => i.query);
  const docs = set.items.map((i) => i.doc);
  const halves = set.items.map((i) => half(i.id));
  const nq = queries.length;
  console.log(`\n## ${name}: ${nq} queries x ${docs.length} documents (half A ${halves.filter((h) => h === 'A').length}, half B ${halves.filter((h) => h === 'B').length}); ${set.source}`);

  const t0 = performance.now();
  const dv = await embedAll(docs);
  const qv = await embedAll(queries);
  const dense = qv.map((q) => Float64Array.from(dv, (d) => d.reduce((s, x, k) => s + x * (q[k] ?? 0), 0)));
  console.log(`dense: embedded and scored in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const rows: Row[] = [row('dense (glove-100d cosine)', 'single', dense.map((s, q) => rankOf(s, q)), halves)];
  const denseTop = dense.map((s) => topK(s, CANDIDATES));

  const fused = new Map<string, { doc: number; score: number }[][]>();
  for (const v of VARIANTS) {
    const analyze = analyzer(v, stemmer);
    const bm = new Bm25(docs.map(analyze));
    const kw = queries.map((q) => bm.scores(analyze(q)));
    const vn = variantName(v);
    rows.push(row(vn, 'single', kw.map((s, q) => rankOf(s, q)), halves, v));
    const kwTop = kw.map((s) => topK(s, CANDIDATES, (x) => x > 0));
    for (const method of FUSIONS) {
      for (const w of WEIGHTS) {
        const lists = queries.map((_, q) => fuse(method, w, { top: denseTop[q] ?? [], all: dense[q] ?? [] }, { top: kwTop[q] ?? [], all: kw[q] ?? [] }));
        const key = `${method} w=${w.toFixed(1)} ${vn}`;
        rows.push(row(key, 'fusion', lists.map((l, q) => fusedRank(l, q)), halves, { method, w, keyword: vn, candidates: CANDIDATES }));
        fused.set(key, lists.map((l) => l.slice(0, Math.max(...RERANK_N))));
      }
    }
  }
  return { name, source: set.source, halves, queries, docs, rows, fused };
}

const runs: SetRun[] = [];
for (const name of args.sets.split(',')) runs.push(await runSet(name));

// Per set: the single methods, then each fusion's best weight on half A with its half-B figure.
const out: Record<string, unknown> = {};
for (const run of runs) {
  const singles = run.rows.filter((r) => r.group === 'single');
  show({
    title: `${run.name}: single methods`,
    columns: ['method', 'R@1', 'R@10', 'MRR@10', 'MRR@10 A', 'MRR@10 B'],
    rows: singles.map((r) => [r.name, f3(r.all.r1), f3(r.all.r10), f3(r.all.mrr10), f3(r.A.mrr10), f3(r.B.mrr10)]),
  });
  const fusionRows: (string | number)[][] = [];
  for (const v of VARIANTS) {
    for (const method of FUSIONS) {
      const cands = run.rows.filter((r) => r.params?.method === method && r.params?.keyword === variantName(v));
      const best = cands.reduce((a, b) => (better(b.A, a.A) ? b : a));
      fusionRows.push([`${method} + ${variantName(v)}`, `${best.params?.w}`, f3(best.all.r1), f3(best.all.r10), f3(best.all.mrr10), f3(best.A.mrr10), f3(best.B.mrr10)]);
    }
  }
  const naive = run.rows.find((r) => r.name === 'rrf w=0.5 bm25');
  if (naive) fusionRows.push(['naive RRF (w 0.5) + bm25', '0.5', f3(naive.all.r1), f3(naive.all.r10), f3(naive.all.mrr10), f3(naive.A.mrr10), f3(naive.B.mrr10)]);
  show({ title: `${run.name}: fusions, dense weight w chosen on half A (MRR@10), candidates ${CANDIDATES} per side`, columns: ['fusion', 'w', 'R@1', 'R@10', 'MRR@10', 'MRR@10 A', 'MRR@10 B'], rows: fusionRows });
  out[run.name] = { source: run.source, queries: run.queries.length, halfA: run.halves.filter((h) => h === 'A').length, rows: run.rows };
}

// One configuration for both sets: the best mean MRR@10 over the two A halves, confirmed on B.
const meanOf = (key: string, h: 'A' | 'B' | 'all') => runs.reduce((s, r) => s + (r.rows.find((x) => x.name === key)?.[h].mrr10 ?? 0), 0) / runs.length;
const keys = runs[0]!.rows.map((r) => r.name).filter((k) => runs.every((r) => r.rows.some((x) => x.name === k)));
const ranked = keys.map((k) => ({ k, A: meanOf(k, 'A'), B: meanOf(k, 'B'), all: meanOf(k, 'all') })).sort((a, b) => b.A - a.A);
show({
  title: `both sets: the 12 best configurations by mean MRR@10 on half A (of ${ranked.length}), with half B`,
  columns: ['configuration', 'mean MRR@10 A', 'mean MRR@10 B', ...runs.map((r) => `${r.name} B`)],
  rows: ranked.slice(0, 12).map((x) => [x.k, f3(x.A), f3(x.B), ...runs.map((r) => f3(r.rows.find((y) => y.name === x.k)!.B.mrr10))]),
});
const chosen = ranked.find((x) => keys.includes(x.k) && runs[0]!.fused.has(x.k))!;
const rankOfB = [...ranked].sort((a, b) => b.B - a.B).findIndex((x) => x.k === chosen.k) + 1;
console.log(`\nchosen on half A: ${chosen.k} (mean MRR@10 A ${chosen.A.toFixed(3)}, B ${chosen.B.toFixed(3)}; rank ${rankOfB} of ${ranked.length} on half B)`);

// Sweep of the chosen keyword variant, all queries, for the docs.
const chosenKw = String(runs[0]!.rows.find((r) => r.name === chosen.k)?.params?.keyword ?? 'bm25');
for (const run of runs) {
  show({
    title: `${run.name}: MRR@10 (all queries) by fusion and dense weight w, keyword side ${chosenKw}`,
    columns: ['fusion', ...WEIGHTS.map((w) => w.toFixed(1))],
    rows: FUSIONS.map((m) => [m, ...WEIGHTS.map((w) => f3(run.rows.find((r) => r.name === `${m} w=${w.toFixed(1)} ${chosenKw}`)!.all.mrr10))]),
  });
}

// Rerank the chosen fusion's top N with glove-rerank, alone and combined with the fusion score.
const rerankOut: Record<string, unknown> = {};
if (!args['skip-rerank']) {
  for (const run of runs) {
    const lists = run.fused.get(chosen.k)!;
    const t0 = performance.now();
    const scores: Float64Array[] = new Array(lists.length);
    let next = 0;
    const worker = async () => {
      for (let q = next++; q < lists.length; q = next++) {
        const list = lists[q]!;
        const res = await pool.rerank(run.queries[q]!, list.map((x) => run.docs[x.doc]!), { rawScores: true });
        const s = new Float64Array(list.length);
        for (const r of res) s[r.index] = r.score;
        scores[q] = s;
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    const secs = (performance.now() - t0) / 1000;
    const pairs = lists.reduce((a, l) => a + l.length, 0);
    console.log(`\n${run.name}: reranked ${pairs} pairs in ${secs.toFixed(1)} s (${(pairs / secs).toFixed(0)} pairs/s)`);
    currentSet = run.name;
    const rr: Row[] = [];
    for (const n of RERANK_N) {
      for (const v of WEIGHTS) {
        const ranks = lists.map((full, q) => {
          const list = full.slice(0, n);
          const rs = scores[q]!.subarray(0, list.length);
          const mm = (xs: ArrayLike<number>) => {
            const a = Array.from(xs);
            const min = Math.min(...a);
            const span = Math.max(...a) - min;
            return a.map((x) => (span > 0 ? (x - min) / span : 0));
          };
          const rn = mm(rs);
          const fn = mm(list.map((x) => x.score));
          const combined = list.map((x, i) => ({ doc: x.doc, score: v * (rn[i] ?? 0) + (1 - v) * (fn[i] ?? 0) }));
          return fusedRank(combined, q);
        });
        rr.push(row(`top ${n}: ${v.toFixed(1)} rerank + ${(1 - v).toFixed(1)} fusion`, 'rerank', ranks, run.halves, { n, rerankWeight: v, first: chosen.k }));
      }
    }
    run.rows.push(...rr);
    rerankOut[run.name] = { pairs, seconds: f3(secs), rows: rr };
  }
  const rkeys = runs[0]!.rows.filter((r) => r.group === 'rerank').map((r) => r.name);
  const rranked = rkeys.map((k) => ({ k, A: meanOf(k, 'A'), B: meanOf(k, 'B') }));
  const rbest = [...rranked].sort((a, b) => b.A - a.A)[0]!;
  show({
    title: `rerank (glove-rerank) of the chosen fusion's top N: min-max(rerank logit) weight v + min-max(fusion score) (1 - v) over the N; MRR@10`,
    columns: ['N, v', ...runs.flatMap((r) => [`${r.name} all`, `${r.name} A`, `${r.name} B`]), 'mean A', 'mean B'],
    rows: rranked
      .filter((x) => /: (0\.0|0\.3|0\.5|0\.7|1\.0) rerank/.test(x.k) || x.k === rbest.k)
      .map((x) => [x.k, ...runs.flatMap((r) => {
        const m = r.rows.find((y) => y.name === x.k)!;
        return [f3(m.all.mrr10), f3(m.A.mrr10), f3(m.B.mrr10)];
      }), f3(x.A), f3(x.B)]),
  });
  console.log(`\nbest rerank combination on half A: ${rbest.k} (mean MRR@10 A ${rbest.A.toFixed(3)}, B ${rbest.B.toFixed(3)}; the fusion alone: A ${chosen.A.toFixed(3)}, B ${chosen.B.toFixed(3)})`);
  rerankOut.chosen = rbest;
}

// The library's own modes through pool.index / pool.search on a temporary store.
const libraryOut: Record<string, unknown> = {};
if (args.library) {
  const store = mkdtempSync(join(tmpdir(), 'warmpool-retrieval-'));
  const lib = createPool({ threads: 1, storePath: store, ...(args.model ? { model: args.model } : {}), models: { rerank: { task: 'rerank', model: 'glove-rerank' } } });
  try {
    for (const run of runs) {
      const collection = `eval-${run.name}`;
      await lib.index(run.docs.map((text, i) => ({ id: String(i), text })), { collection });
      currentSet = run.name;
      const libRows: Row[] = [];
      const modes = [
        { name: "library search mode 'dense'", opts: { mode: 'dense' } },
        { name: "library search mode 'keyword'", opts: { mode: 'keyword' } },
        { name: "library search mode 'hybrid'", opts: { mode: 'hybrid' } },
        { name: "library search mode 'hybrid', rerank: true", opts: { mode: 'hybrid', rerank: true } },
      ];
      for (const { name, opts } of modes) {
        const ranks: number[] = [];
        for (let q = 0; q < run.queries.length; q++) {
          const hits = await lib.search(run.queries[q]!, { collection, k: 10, ...opts } as Parameters<typeof lib.search>[1]);
          const at = hits.findIndex((h) => h.id === String(q));
          ranks.push(at < 0 ? Infinity : at + 1);
        }
        libRows.push(row(name, 'library', ranks, run.halves, opts));
      }
      run.rows.push(...libRows);
      libraryOut[run.name] = libRows;
      const ref = ['dense (glove-100d cosine)', chosenKw, chosen.k].map((k) => run.rows.find((r) => r.name === k)!);
      show({
        title: `${run.name}: the library's search modes next to the reference`,
        columns: ['method', 'R@1', 'R@10', 'MRR@10', 'MRR@10 A', 'MRR@10 B'],
        rows: [...libRows, ...ref].map((r) => [r.name, f3(r.all.r1), f3(r.all.r10), f3(r.all.mrr10), f3(r.A.mrr10), f3(r.B.mrr10)]),
      });
    }
  } finally {
    await lib.close();
    rmSync(store, { recursive: true, force: true });
  }
}
// Paired comparisons: per query reciprocal rank (0 beyond 10), how many queries gain or lose,
// and the mean difference with a 95% paired bootstrap interval (2000 resamples, fixed seed).
const pairedRows: (string | number)[][] = [];
const compare = (run: SetRun, a: string, b: string, onlyB: boolean) => {
  const ra = RANKS.get(`${run.name}|${a}`);
  const rb = RANKS.get(`${run.name}|${b}`);
  if (!ra || !rb) return;
  const rr = (r: number) => (r <= 10 ? 1 / r : 0);
  const qs = run.queries.map((_, q) => q).filter((q) => !onlyB || run.halves[q] === 'B');
  const d = qs.map((q) => rr(ra[q]!) - rr(rb[q]!));
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
  let seed = 42;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
  const boots = Array.from({ length: 2000 }, () => mean(d.map(() => d[Math.floor(rand() * d.length)]!))).sort((x, y) => x - y);
  pairedRows.push([run.name, `${a} vs ${b}`, onlyB ? 'B' : 'all', d.filter((x) => x > 0).length, d.filter((x) => x < 0).length, f3(mean(d)), `${f3(boots[50]!)} to ${f3(boots[1949]!)}`]);
};
const rerankBest = (rerankOut.chosen as { k: string } | undefined)?.k;
for (const run of runs) {
  if (stemmer) {
    compare(run, 'bm25+stem', 'bm25', false);
    compare(run, 'bm25+stem+stop', 'bm25+stop', false);
  }
  compare(run, 'bm25+stop', 'bm25', false);
  compare(run, chosen.k, chosenKw, true);
  compare(run, chosen.k, 'rrf w=0.5 bm25', true);
  if (rerankBest) compare(run, rerankBest, chosen.k, true);
  if (rerankBest) compare(run, 'top 50: 1.0 rerank + 0.0 fusion', chosen.k, true);
  if (args.library) {
    compare(run, "library search mode 'hybrid'", "library search mode 'keyword'", false);
    compare(run, "library search mode 'keyword'", chosenKw, false);
    compare(run, "library search mode 'hybrid'", chosen.k, false);
  }
}
show({ title: 'paired comparisons: queries whose reciprocal rank (@10) rises / falls, mean MRR@10 difference and its 95% bootstrap interval', columns: ['set', 'a vs b', 'queries', 'a better', 'a worse', 'delta MRR@10', '95% interval'], rows: pairedRows });

await pool.close();

/** The chosen configuration in words, for the JSON. */
function choiceOf(key: string): Record<string, unknown> {
  const p = runs[0]!.rows.find((r) => r.name === key)?.params ?? {};
  const normalization = { rrf: 'none (reciprocal ranks, k 60)', minmax: 'min-max over the union of both candidate lists', zscore: 'z-score over the union of both candidate lists', 'minmax-own': "min-max over each side's own candidates, 0 where missing" }[String(p.method) as Fusion];
  return {
    method: p.method === 'rrf' ? 'weighted reciprocal-rank fusion' : 'weighted sum of normalized scores',
    normalization,
    denseWeight: p.w,
    candidatesPerSide: p.candidates,
    keyword: p.keyword,
    reasoning:
      `best mean MRR@10 over the A halves of ${runs.map((r) => r.name).join(' and ')}, then measured on the B halves; see the paired comparisons for what the dense side adds`,
  };
}

const commit = (() => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();
writeFileSync(
  args.out,
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      commit,
      node: process.version,
      stemmer: stemmer ? 'stemmer 2.0.1 (installed with --no-save)' : 'not installed',
      candidates: CANDIDATES,
      weights: WEIGHTS,
      split: 'half A: sha256("half:" + id)[0] < 128; choices on A, confirmation on B',
      chosen,
      chosenRankOnB: rankOfB,
      choice: choiceOf(chosen.k),
      configurations: ranked.length,
      sets: out,
      rerank: rerankOut,
      library: args.library ? libraryOut : 'not run (--library)',
      tables: tables.map((t) => ({ ...t, markdown: markdownTable(t) })),
    },
    null,
    1,
  )}\n`,
);
console.log(`\nwrote ${args.out}`);
