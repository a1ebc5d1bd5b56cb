/**
 * Peak memory under a burst of long texts against `maxBatchTokens`: the `idle` benchmark's burst
 * (64 texts of 500 tokens from 8 concurrent callers, one text per call, on `minilm-shape` with 2
 * workers) run by warmpool at several `maxBatchTokens` (through WARMPOOL_MAX_BATCH_TOKENS) and by
 * the hand-rolled Piscina pool, each in a fresh process (bench/workers/idle-subject.mjs),
 * interleaved. The burst's time is its throughput: the texts are long, so the bound applies.
 *
 *   npm run bench:burst-peak -- --rounds 2 --tokens 8192,4096,2048
 *
 * Writes bench/results/burst-peak.json.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import { BENCH_WORKERS } from './lib/paths.js';

const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '2' }, tokens: { type: 'string', default: '8192,4096,2048' }, out: { type: 'string', default: 'bench/results' } },
});
const run = promisify(execFile);
const BURST = { callers: 8, perCaller: 8, tokens: 500 };
const settings = (subject: string): string => JSON.stringify({ subject, model: 'minilm-shape', firstCalls: 8, firstTokens: 60, burst: BURST, idleTimeout: 3000, settleMs: 500 });

interface Sample { burstMs: number; burstPeak: { rssMiB: number; pssMiB: number }; rest?: { rssMiB: number; pssMiB: number } }
async function child(subject: string, maxBatchTokens?: number): Promise<Sample> {
  const env = { ...process.env };
  if (maxBatchTokens !== undefined) env.WARMPOOL_MAX_BATCH_TOKENS = String(maxBatchTokens);
  const { stdout } = await run(process.execPath, [`${BENCH_WORKERS}idle-subject.mjs`, settings(subject)], { env, maxBuffer: 1 << 20, timeout: 600_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Sample;
}

const tokens = args.tokens.split(',').map(Number);
const subjects = [...tokens.map((t) => `warmpool-${t}`), 'piscina'];
const samples: Record<string, Sample[]> = Object.fromEntries(subjects.map((s) => [s, []]));
const once = (s: string): Promise<Sample> => (s === 'piscina' ? child('piscina') : child('warmpool', Number(s.slice('warmpool-'.length))));
// An untimed round first: the page cache then holds the model and node's code.
await once(subjects[0]!);
for (let r = 0; r < Number(args.rounds); r++) {
  for (const s of r % 2 === 0 ? subjects : [...subjects].reverse()) {
    samples[s]!.push(await once(s));
    console.log(s, JSON.stringify(samples[s]!.at(-1)!.burstPeak), Math.round(samples[s]!.at(-1)!.burstMs));
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const piscinaPss = median(samples.piscina!.map((m) => m.burstPeak.pssMiB));
const piscinaMs = median(samples.piscina!.map((m) => m.burstMs));
const defaultMs = median(samples[`warmpool-${tokens[0]}`]!.map((m) => m.burstMs));
const summary = subjects.map((s) => {
  const pss = median(samples[s]!.map((m) => m.burstPeak.pssMiB));
  const ms = median(samples[s]!.map((m) => m.burstMs));
  return {
    subject: s,
    peakPssMiB: Math.round(pss),
    peakRssMiB: Math.round(median(samples[s]!.map((m) => m.burstPeak.rssMiB))),
    peakVsPiscina: +(pss / piscinaPss).toFixed(3),
    burstS: +(ms / 1000).toFixed(2),
    textsPerS: +((BURST.callers * BURST.perCaller) / (ms / 1000)).toFixed(2),
    /** Burst throughput against the first setting's (the current default): below 1 is slower. */
    throughputVsFirst: +(defaultMs / ms).toFixed(3),
    throughputVsPiscina: +(piscinaMs / ms).toFixed(3),
  };
});
const result = { name: 'burst-peak', date: new Date().toISOString(), machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version, loadAverage1m: +loadavg()[0]!.toFixed(2) }, burst: BURST, rounds: Number(args.rounds), summary, samples };
mkdirSync(args.out, { recursive: true });
writeFileSync(`${args.out}/burst-peak.json`, `${JSON.stringify(result, null, 2)}\n`);
console.table(summary);
