/**
 * Soak: minutes of mixed load (texts of every length, bursts, bad input, aborts, timeouts, and
 * injected worker crashes) against one pool, sampling the process's RSS. Reports the RSS growth
 * after warm-up and the final counts, and checks that every call was answered exactly once.
 *
 *   npm run soak                                   # 10 minutes, default settings
 *   npm run soak -- --minutes 2 --arena off --pattern off --preallocate off --model glove-100d
 *   MALLOC_ARENA_MAX=2 npm run soak -- --label arena-max-2   # a label keeps results apart
 *   LD_PRELOAD=libjemalloc.so.2 npm run soak -- --label jemalloc   # another allocator
 *   npm run soak -- --minutes 14 --warmup 4                    # growth over the 10 minutes after 4 of warm-up
 *   npm run soak -- --chart-only --out bench/results/soak-long  # redraw the chart only
 *
 * Writes bench/results/soak-arena-<on|off>-pattern-<on|off>-preallocate-<on|off>.json, and soak-rss.svg: RSS over time
 * of every soak result in that folder, one line per setting (run two settings at the same time to
 * compare them under the same machine load).
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { createPool } from '../dist/src/index.js';
import { renderChart } from './lib/svg.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '' },
    model: { type: 'string', default: 'minilm-shape' },
    arena: { type: 'string', default: 'on' },
    pattern: { type: 'string', default: 'off' },
    preallocate: { type: 'string', default: 'on' },
    crash: { type: 'string', default: '0.01' },
    threads: { type: 'string', default: '2' },
    out: { type: 'string', default: 'bench/results' },
    label: { type: 'string', default: '' },
    'chart-only': { type: 'boolean', default: false },
  },
});

if (args['chart-only']) {
  // Redraws soak-rss.svg from the results already in --out, without a run.
  writeRssChart(args.out);
  process.exit(0);
}

const minutes = Number(args.minutes);
const durationMs = minutes * 60_000;
// Minutes not counted in the growth: by default one, or a fifth of a short run.
const warmupMs = args.warmup ? Number(args.warmup) * 60_000 : Math.min(60_000, durationMs / 5);
const words = ['river', 'market', 'guitar', 'doctor', 'storm', 'pasta', 'engine', 'garden', 'court', 'planet', 'violin', 'ocean'];
// A 32-bit generator in integer arithmetic (a product of doubles past 2^53 would lose bits and
// fall into a short cycle of repeated texts, which the cache would then answer).
let seed = 12345;
const random = (): number => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const text = (): string => {
  // Lengths from 1 to ~400 words, skewed short, as real traffic is.
  const n = 1 + Math.floor(random() ** 3 * 400);
  return Array.from({ length: n }, () => words[Math.floor(random() * words.length)]).join(' ') + ` ${Math.floor(random() * 1e6)}`;
};

// Workers crash on purpose (a test hook: see CONTRIBUTING.md), so replacements are part of the soak.
if (Number(args.crash) > 0) process.env.WARMPOOL_TEST_HOOKS = JSON.stringify({ crash: Number(args.crash) });
const pool = createPool({
  model: args.model,
  threads: Number(args.threads),
  cpuMemArena: args.arena === 'on',
  memPattern: args.pattern === 'on',
  preallocate: args.preallocate === 'on',
  cacheBytes: 8 * 1024 * 1024,
  maxQueue: 256,
  retries: 2,
});
await pool.ready();

const samples: { t: number; rssMb: number; heapMb: number; workerHeapMb: number }[] = [];
const sample = (): void => {
  const m = process.memoryUsage();
  // The workers' own V8 heaps (each reports its heap after every task), apart from native memory.
  const workerHeapMb = pool.stats().workers.reduce((sum, w) => sum + (w.state === 'exited' ? 0 : w.heapMb), 0);
  samples.push({ t: Math.round(performance.now() - started), rssMb: +(m.rss / 2 ** 20).toFixed(1), heapMb: +(m.heapUsed / 2 ** 20).toFixed(1), workerHeapMb });
};
const started = performance.now();
sample();
const sampler = setInterval(sample, 5_000);

let issued = 0;
let answered = 0;
const outcomes = new Map<string, number>();
const count = (key: string): void => {
  outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
};

async function caller(): Promise<void> {
  while (performance.now() - started < durationMs) {
    issued++;
    const roll = random();
    const batch = Array.from({ length: 1 + Math.floor(random() * 8) }, text);
    let call: Promise<unknown>;
    if (roll < 0.02) call = pool.embed(null as never);
    else if (roll < 0.04) call = pool.embed(batch, { signal: AbortSignal.timeout(5) });
    else if (roll < 0.06) call = pool.embed(batch, { timeout: 10 });
    else call = pool.embed(batch);
    try {
      await call;
      count('ok');
    } catch (error) {
      count((error as { code?: string }).code ?? 'other');
    }
    answered++;
    if (random() < 0.05) await new Promise((r) => setTimeout(r, random() * 200));
  }
}

await Promise.all(Array.from({ length: 16 }, caller));
clearInterval(sampler);
sample();
const stats = pool.stats();
await pool.close();

const after = samples.filter((s) => s.t >= warmupMs);
const first = after[0]!;
const last = after.at(-1)!;
const peak = Math.max(...after.map((s) => s.rssMb));
// A single sample lands anywhere in a worker's replacement (its model and arena gone, or a new
// one loading): compare the medians of the first and last minute after warm-up instead.
const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
};
const window = 60_000;
const early = median(after.filter((s) => s.t < first.t + window).map((s) => s.rssMb));
const late = median(after.filter((s) => s.t > last.t - window).map((s) => s.rssMb));
const result = {
  name: 'soak',
  machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version },
  settings: {
    minutes,
    warmupMinutes: warmupMs / 60_000,
    model: args.model,
    threads: Number(args.threads),
    cpuMemArena: args.arena === 'on',
    memPattern: args.pattern === 'on',
    preallocate: args.preallocate === 'on',
    crash: Number(args.crash),
    label: args.label,
    // The allocator's tuning (MALLOC_* for glibc, MALLOC_CONF for jemalloc) and a preloaded
    // allocator, when the run was started with them (neither can be set from inside).
    malloc: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('MALLOC_'))),
    preload: process.env.LD_PRELOAD ?? '',
  },
  calls: { issued, answered, outcomes: Object.fromEntries(outcomes) },
  rss: {
    afterWarmupMb: first.rssMb,
    endMb: last.rssMb,
    peakMb: peak,
    firstMinuteMedianMb: early,
    lastMinuteMedianMb: late,
    /** Growth of the median RSS from the first to the last minute after warm-up. */
    growthPct: +(((late - early) / early) * 100).toFixed(2),
  },
  stats: {
    requests: stats.requests,
    completed: stats.completed,
    errors: stats.errors,
    rejected: stats.rejected,
    workerCrashes: stats.workerCrashes,
    retries: stats.retries,
    modelLoads: stats.modelLoads,
  },
  samples,
};
mkdirSync(args.out, { recursive: true });
const file = `${args.out}/soak-arena-${args.arena}-pattern-${args.pattern}-preallocate-${args.preallocate}${args.label ? `-${args.label}` : ''}.json`;
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
writeRssChart(args.out);
console.table({ ...result.rss, issued, answered, crashes: stats.workerCrashes, modelLoads: stats.modelLoads });
console.log(`every call answered once: ${issued === answered && stats.requests === stats.completed + stats.errors + stats.rejected}`);
console.log(`wrote ${file}`);

/** soak-rss.svg: RSS over time of every soak result in `dir`, one line per setting. */
function writeRssChart(dir: string): void {
  const runs = readdirSync(dir)
    .filter((f) => /^soak-arena-.*\.json$/.test(f))
    .map((f) => JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')) as typeof result);
  if (runs.length === 0) return;
  // One point per 30 s (every 6th sample): a readable axis.
  const every = 6;
  const points = Math.ceil(Math.max(...runs.map((r) => r.samples.length)) / every);
  const x = Array.from({ length: points }, (_, i) => +((i * every * 5_000) / 60_000).toFixed(1));
  const svg = renderChart({
    id: 'rss',
    title: 'Soak: process RSS under mixed load with worker crashes',
    type: 'line',
    xLabel: 'minutes',
    yLabel: 'RSS, MiB',
    x,
    series: runs.map((r) => ({
      // Only what differs from the defaults, to keep the legend short (runs from before the
      // preallocate option have none: the arena then grew while serving).
      name: [
        !r.settings.cpuMemArena && 'arena off',
        r.settings.memPattern && 'pattern on',
        !r.settings.preallocate && 'no preallocate',
        `crash ${+(r.settings.crash * 100).toFixed(2)}%`,
        r.settings.label,
      ].filter(Boolean).join(', ') + ` (${r.calls.answered} calls)`,
      values: x.map((_, i) => r.samples[i * every]?.rssMb ?? null),
    })),
  });
  writeFileSync(`${dir}/soak-rss.svg`, svg);
}
