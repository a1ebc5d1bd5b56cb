/**
 * What shorter model runs cost bulk work: the same bulk embedding (texts of 250 tokens, batch
 * lane, every text distinct, cache off) on pools that differ only in the most padded tokens a run
 * may hold (`maxBatchTokens` 8192, the default, down to 1024), with `batchRunMs: 0` so that only
 * that bound cuts the runs; then the default `batchRunMs` (250 ms), which cuts batch-lane runs by
 * time. The pools are started together and run one at a time, interleaved over the rounds, so all
 * see the same machine load. This is the cost side of `batchRunMs`: the batch lane's short runs
 * are what lets an interactive call wait one short run instead of a whole sub-batch.
 *
 *   npm run bench:run-size -- --threads 2 --rounds 3
 *
 * Writes bench/results/run-size-t<threads>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createPool, DEFAULTS, type WarmPool } from './lib/warmpool.js';
import { textOf } from './lib/texts.js';

const { values: args } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    texts: { type: 'string', default: '256' },
    out: { type: 'string', default: 'bench/results' },
  },
});
const threads = Number(args.threads);
const rounds = Number(args.rounds);
const perWorker = Number(args.texts);
const TOKENS = 250;
const CHUNK = 128;

const subjects: { name: string; maxBatchTokens: number; batchRunMs: number }[] = [
  ...[8192, 4096, 2048, 1024].map((t) => ({ name: `maxBatchTokens ${t}, batchRunMs 0`, maxBatchTokens: t, batchRunMs: 0 })),
  { name: `defaults (maxBatchTokens ${DEFAULTS.maxBatchTokens}, batchRunMs ${DEFAULTS.batchRunMs})`, maxBatchTokens: DEFAULTS.maxBatchTokens, batchRunMs: DEFAULTS.batchRunMs },
];
const pools: WarmPool[] = subjects.map((s) => createPool({ model: 'minilm-shape', threads, cacheBytes: 0, maxBatchTokens: s.maxBatchTokens, batchRunMs: s.batchRunMs }));
await Promise.all(pools.map((p) => p.ready()));

let seed = 7_000_000;
/** Every worker busy: one chain of batch calls per worker, CHUNK texts a call. */
async function bulk(pool: WarmPool): Promise<number> {
  const began = performance.now();
  await Promise.all(
    Array.from({ length: threads }, async () => {
      for (let done = 0; done < perWorker; done += CHUNK) await pool.embed(Array.from({ length: CHUNK }, () => textOf(TOKENS, seed++)), { priority: 'batch' });
    }),
  );
  return (perWorker * threads) / ((performance.now() - began) / 1000);
}

// One call each first, not counted: every pool's worker learns the cost of a token and warms these shapes.
for (const pool of pools) await pool.embed(Array.from({ length: CHUNK }, () => textOf(TOKENS, seed++)), { priority: 'batch' });
const runs: number[][] = subjects.map(() => []);
for (let r = 0; r < rounds; r++) {
  const order = subjects.map((_, i) => i);
  if (r % 2 === 1) order.reverse();
  for (const i of order) runs[i]!.push(+(await bulk(pools[i]!)).toFixed(2));
}
await Promise.all(pools.map((p) => p.close()));

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = median(runs[0]!);
const results = subjects.map((s, i) => ({ ...s, textsPerSecond: median(runs[i]!), runs: runs[i]!, vsDefaultTokens: +(median(runs[i]!) / base).toFixed(3) }));
const result = {
  name: 'run-size',
  date: new Date().toISOString(),
  machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version, loadAverage1m: +loadavg()[0]!.toFixed(2) },
  model: 'minilm-shape',
  threads,
  rounds,
  textsPerWorker: perWorker,
  tokensPerText: TOKENS,
  results,
};
mkdirSync(args.out, { recursive: true });
writeFileSync(`${args.out}/run-size-t${threads}.json`, `${JSON.stringify(result, null, 2)}\n`);
console.table(results.map(({ name, textsPerSecond, vsDefaultTokens, runs: r }) => ({ name, textsPerSecond, 'x 8192 whole': vsDefaultTokens, runs: r.join(' ') })));
console.log(`threads ${threads}, load average ${result.machine.loadAverage1m}`);
