/** `warmpool demo`: embeds a few sentences and shows which one each query lands closest to. */
import type { Command } from 'commander';
import { addPoolFlags, poolOptionsFrom, type PoolFlags } from './pool-flags.js';
import { withPool } from './with-pool.js';

const DEMO_SENTENCES = [
  'A man is playing a guitar.',
  'The stock market fell sharply today.',
  'The chef cooked pasta with fresh tomatoes.',
  'Heavy rain and strong winds are expected tonight.',
  'The team won the championship after extra time.',
  'The doctor prescribed antibiotics for the infection.',
];
const DEMO_QUERIES = [
  'Someone plays an instrument.',
  'Shares dropped on Wall Street.',
  'A storm is coming this evening.',
  'She made dinner in the kitchen.',
  'The patient was given medicine.',
  'The football club celebrated its victory.',
];

const dot = (a: Float32Array, b: Float32Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

export function register(program: Command): void {
  addPoolFlags(program.command('demo').description('embed a few sentences and show which ones the model finds closest')).action(
    async (flags: PoolFlags) => {
      await withPool(poolOptionsFrom(flags), async (pool) => {
        const started = performance.now();
        await pool.ready();
        const readyMs = performance.now() - started;
        const docs = await pool.embed(DEMO_SENTENCES);
        const t0 = performance.now();
        const queries = await pool.embed(DEMO_QUERIES);
        const warmMs = performance.now() - t0;
        const info = pool.model!;
        process.stdout.write(`model ${info.model} (${info.dims}-d), ${pool.options.maxThreads} workers warm in ${readyMs.toFixed(0)} ms\n\n`);
        for (let q = 0; q < DEMO_QUERIES.length; q++) {
          const scores = docs.map((d, i) => ({ i, score: dot(queries[q]!, d) })).sort((a, b) => b.score - a.score);
          const best = scores[0]!;
          process.stdout.write(`${DEMO_QUERIES[q]}\n  -> ${DEMO_SENTENCES[best.i]}  (cosine ${best.score.toFixed(3)})\n`);
        }
        process.stdout.write(`\n${DEMO_QUERIES.length} queries embedded warm in ${warmMs.toFixed(1)} ms\n`);
      });
    },
  );
}
