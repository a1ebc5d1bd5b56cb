/**
 * How hybrid search's best dense weight depends on the collection's size: random subsets of N
 * documents of each set (every query whose document is in the subset searches the subset only,
 * BM25 statistics taken from the subset, as a collection of N documents would), MRR@10 of the
 * library's fusion (min-max over each side's own candidates) over a dense weight sweep.
 *
 *   npx tsc -p tsconfig.json && npx tsx bench/retrieval/size-sweep.ts [--sets docstrings,debian] [--trials 40]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { rankMetrics, topK } from '../lib/retrieval-metrics.js';
import { createPool } from '../lib/warmpool.js';
import { fuse, fusedRank } from './fusion.js';
import { rng } from '../synthetic-text.js';
import { embedUnits, loadSet, SETS_DIR } from './sets.js';
import { analyzer, Bm25, loadStemmer } from './text.js';

const { values: args } = parseArgs({
  options: {
    sets: { type: 'string', default: 'docstrings,debian' },
    trials: { type: 'string', default: '40' },
    sizes: { type: 'string', default: '10,20,50,100,200,400' },
    out: { type: 'string', default: `${SETS_DIR}size-sweep.json` },
  },
});
const WEIGHTS = Array.from({ length: 11 }, (_, i) => i / 10);
const stemmer = await loadStemmer();
const analyze = analyzer({ stem: stemmer !== undefined, stop: true }, stemmer);
const pool = createPool({ threads: 1 });
await pool.ready();
const embedAll = (texts: string[]): Promise<Float32Array[]> => embedUnits(pool, texts);

const result: Record<string, Record<string, Record<string, number>>> = {};
for (const name of args.sets.split(',')) {
  const set = loadSet(name);
  const docs = set.items.map((i) => i.doc);
  const queries = set.items.map((i) => i.query);
  const dv = await embedAll(docs);
  const qv = await embedAll(queries);
  const toks = docs.map(analyze);
  const qtoks = queries.map(analyze);
  result[name] = {};
  const sizes = [...args.sizes.split(',').map(Number).filter((n) => n < docs.length), docs.length];
  for (const n of sizes) {
    const trials = n === docs.length ? 1 : Number(args.trials);
    const ranks: number[][] = WEIGHTS.map(() => []);
    const rand = rng(n * 7919 + name.length);
    for (let t = 0; t < trials; t++) {
      const idx = Array.from(docs.keys());
      for (let i = idx.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [idx[i], idx[j]] = [idx[j]!, idx[i]!];
      }
      const sub = idx.slice(0, n);
      const bm = new Bm25(sub.map((d) => toks[d]!));
      for (let local = 0; local < sub.length; local++) {
        const q = sub[local]!;
        const kw = bm.scores(qtoks[q]!);
        const dense = Float64Array.from(sub, (d) => dv[d]!.reduce((s, x, k) => s + x * (qv[q]![k] ?? 0), 0));
        const cands = Math.min(100, n);
        const dTop = topK(dense, cands);
        const kTop = topK(kw, cands, (x) => x > 0);
        WEIGHTS.forEach((w, wi) => ranks[wi]!.push(fusedRank(fuse('minmax-own', w, { top: dTop, all: dense }, { top: kTop, all: kw }), local)));
      }
    }
    const row: Record<string, number> = {};
    WEIGHTS.forEach((w, wi) => (row[w.toFixed(1)] = Number(rankMetrics(ranks[wi]!).mrr10.toFixed(3))));
    result[name][String(n)] = row;
    console.log(`${name} N=${n} (${trials} trials): ${WEIGHTS.map((w) => `${w.toFixed(1)}:${row[w.toFixed(1)]}`).join(' ')}`);
  }
}
writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
await pool.close();
