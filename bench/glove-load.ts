/**
 * The default model's start-up, with and without its prebuilt vocabulary (tokenizer.warmpool.json,
 * see workers/prebuilt-tokenizer.ts): pools of one glove-100d worker, started one after another,
 * alternating, from two copies of the model folder (one without the file). Reports each worker's
 * own load time (`loadMs`: import, tokenizer, session, warm-up) and the pool's time to ready; then
 * the tokenizer step alone, both ways, alternating in this process.
 *
 *   npm run bench:glove-load -- --rounds 8
 *
 * Writes bench/results/glove-load.json.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createPool } from '../dist/src/index.js';
import { PREBUILT_TOKENIZER, loadPrebuiltTokenizer } from '../dist/workers/prebuilt-tokenizer.js';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '8' }, out: { type: 'string', default: 'bench/results' } } });
const rounds = Number(args.rounds);
const source = new URL('../models/glove-100d', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'warmpool-glove-load-'));
const folders = { prebuilt: join(tmp, 'prebuilt', 'glove-100d'), parsed: join(tmp, 'parsed', 'glove-100d') };
cpSync(source, folders.prebuilt, { recursive: true });
cpSync(source, folders.parsed, { recursive: true });
rmSync(join(folders.parsed, PREBUILT_TOKENIZER));

const runs: Record<keyof typeof folders, { loadMs: number; readyMs: number }[]> = { prebuilt: [], parsed: [] };
async function once(kind: keyof typeof folders): Promise<void> {
  const began = performance.now();
  const pool = createPool({ model: folders[kind], threads: 1, weightsCache: false, cacheBytes: 0 });
  await pool.ready();
  const readyMs = performance.now() - began;
  const loadMs = pool.stats().workers.find((w) => w.loadMs > 0)?.loadMs ?? NaN;
  await pool.close();
  runs[kind].push({ loadMs, readyMs: Math.round(readyMs) });
}
// One of each first, not counted: file caches and the first import of every module warm.
await once('prebuilt');
await once('parsed');
runs.prebuilt.length = 0;
runs.parsed.length = 0;
for (let i = 0; i < rounds; i++) {
  // Alternating, and each kind first in half the rounds: both see the same machine load.
  for (const kind of i % 2 === 0 ? (['prebuilt', 'parsed'] as const) : (['parsed', 'prebuilt'] as const)) await once(kind);
}

// The tokenizer step alone, in this process, alternating: what the prebuilt vocabulary saves.
const transformers = await import('@huggingface/transformers');
transformers.env.allowRemoteModels = false;
const tokenizerMs: Record<keyof typeof folders, number[]> = { prebuilt: [], parsed: [] };
for (let i = 0; i < rounds * 2 + 1; i++) {
  for (const kind of i % 2 === 0 ? (['prebuilt', 'parsed'] as const) : (['parsed', 'prebuilt'] as const)) {
    transformers.env.localModelPath = join(tmp, kind, '/');
    const began = performance.now();
    if (kind === 'prebuilt') await loadPrebuiltTokenizer(transformers as unknown as Record<string, unknown>, folders.prebuilt);
    else await transformers.AutoTokenizer.from_pretrained('glove-100d');
    // The first round warms the code paths: not counted.
    if (i > 0) tokenizerMs[kind].push(+(performance.now() - began).toFixed(1));
  }
}
rmSync(tmp, { recursive: true, force: true });

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const summary = Object.fromEntries(
  (Object.keys(runs) as (keyof typeof folders)[]).map((k) => [k, { loadMsMedian: median(runs[k].map((r) => r.loadMs)), readyMsMedian: median(runs[k].map((r) => r.readyMs)) }]),
) as Record<keyof typeof folders, { loadMsMedian: number; readyMsMedian: number }>;
const result = {
  name: 'glove-load',
  date: new Date().toISOString(),
  machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version, loadAverage1m: +loadavg()[0]!.toFixed(2) },
  rounds,
  summary,
  /** The prebuilt vocabulary's load time as a share of parsing tokenizer.json's (median of each). */
  loadRatio: +(summary.prebuilt.loadMsMedian / summary.parsed.loadMsMedian).toFixed(3),
  readyRatio: +(summary.prebuilt.readyMsMedian / summary.parsed.readyMsMedian).toFixed(3),
  /** The tokenizer step alone (ms, in one process): prebuilt vocabulary against tokenizer.json parsed. */
  tokenizer: { prebuiltMsMedian: median(tokenizerMs.prebuilt), parsedMsMedian: median(tokenizerMs.parsed), ratio: +(median(tokenizerMs.prebuilt) / median(tokenizerMs.parsed)).toFixed(3), runs: tokenizerMs },
  runs,
};
mkdirSync(args.out, { recursive: true });
writeFileSync(`${args.out}/glove-load.json`, `${JSON.stringify(result, null, 2)}\n`);
console.table(summary);
console.log(`load: prebuilt / parsed = ${result.loadRatio}; ready: ${result.readyRatio}; tokenizer alone: ${result.tokenizer.prebuiltMsMedian} / ${result.tokenizer.parsedMsMedian} ms = ${result.tokenizer.ratio} (load average ${result.machine.loadAverage1m})`);
