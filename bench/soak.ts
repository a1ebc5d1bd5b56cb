/**
 * Soak: minutes of mixed load (texts of every length, bursts, bad input, aborts, timeouts, and
 * injected worker crashes) against one pool, sampling the process's RSS and Pss. The arena bounded
 * by `maxBatchTokens` grows while it meets longer batches, then holds: the run finds that plateau
 * (its working size and the time to reach it), then goes on for `--after` minutes and reports the
 * RSS and Pss growth over them (the goal: under 5%). It checks that every call was answered once.
 *
 *   npm run soak                                   # plateau (3 flat minutes), then 10 minutes (at most --minutes 20 in all)
 *   npm run soak -- --after 5 --minutes 12 --crash 0 --label no-crash
 *   npm run soak -- --arena off --pattern off --preallocate on --model glove-100d
 *   MALLOC_ARENA_MAX=2 npm run soak -- --label arena-max-2   # a label keeps results apart
 *   LD_PRELOAD=libjemalloc.so.2 npm run soak -- --label jemalloc   # another allocator
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
    minutes: { type: 'string', default: '20' },
    after: { type: 'string', default: '10' },
    flat: { type: 'string', default: '3' },
    model: { type: 'string', default: 'minilm-shape' },
    arena: { type: 'string', default: 'on' },
    pattern: { type: 'string', default: 'off' },
    preallocate: { type: 'string', default: 'off' },
    crash: { type: 'string', default: '0.01' },
    threads: { type: 'string', default: '2' },
    out: { type: 'string', default: 'bench/results' },
    label: { type: 'string', default: '' },
    'chart-only': { type: 'boolean', default: false },
  },
});

if (args['chart-only']) {
  // Redraws soak-rss.svg and soak.md from the results already in --out, without a run.
  writeRssChart(args.out);
  writeSection(args.out);
  process.exit(0);
}

const minutes = Number(args.minutes);
/** The longest the run may take, plateau included. */
const durationMs = minutes * 60_000;
/** How long the run goes on after the plateau: the window the growth is measured over. */
const afterMs = Number(args.after) * 60_000;
/** Growth compares the medians of this long at each end of the window after the plateau. */
const window = 60_000;
/** The plateau: RSS rises under 3% for this long from its start (--flat minutes). */
const flatMs = Number(args.flat) * 60_000;
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

type Sample = { t: number; rssMb: number; pssMb: number | null; heapMb: number; workerHeapMb: number };
const samples: Sample[] = [];
/** Where the plateau starts (an index into samples), once found. */
let plateauAt: number | undefined;
let stop = false;
const sample = (): void => {
  const m = process.memoryUsage();
  const stats = pool.stats();
  // The workers' own V8 heaps (each reports its heap after every task), apart from native memory.
  const workerHeapMb = stats.workers.reduce((sum, w) => sum + (w.state === 'exited' ? 0 : w.heapMb), 0);
  const pss = stats.memory?.pssBytes;
  const t = Math.round(performance.now() - started);
  samples.push({ t, rssMb: +(m.rss / 2 ** 20).toFixed(1), pssMb: pss === undefined ? null : +(pss / 2 ** 20).toFixed(1), heapMb: +(m.heapUsed / 2 ** 20).toFixed(1), workerHeapMb });
  plateauAt ??= findPlateau(samples);
  if (plateauAt !== undefined && t - samples[plateauAt]!.t >= afterMs) stop = true;
  if (t >= durationMs) stop = true;
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
  while (!stop) {
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

// A single sample lands anywhere in a worker's replacement (its model and arena gone, or a new
// one loading): compare the medians of a minute at each end instead.
const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
};
const plateauSample = plateauAt === undefined ? undefined : samples[plateauAt];
const measured = plateauSample ? samples.filter((s) => s.t >= plateauSample.t) : [];
const growthOf = (pick: (s: Sample) => number | null): { startMb: number; endMb: number; pct: number } | null => {
  if (measured.length === 0 || pick(measured[0]!) === null) return null;
  const first = measured[0]!.t;
  const last = measured.at(-1)!.t;
  const startMb = median(measured.filter((s) => s.t < first + window).map((s) => pick(s)!));
  const endMb = median(measured.filter((s) => s.t > last - window).map((s) => pick(s)!));
  return { startMb, endMb, pct: +(((endMb - startMb) / startMb) * 100).toFixed(2) };
};
const windowMinutes = measured.length > 0 ? +((measured.at(-1)!.t - measured[0]!.t) / 60_000).toFixed(2) : 0;
const rssGrowth = growthOf((s) => s.rssMb);
const pssGrowth = growthOf((s) => s.pssMb);
const GOAL_PCT = 5;
const plateau = plateauSample
  ? {
      reached: true,
      /** Seconds from ready to the plateau's start. */
      atS: +(plateauSample.t / 1000).toFixed(0),
      /** The working size: median RSS (and Pss) over the plateau's first minute. */
      workingRssMb: rssGrowth!.startMb,
      workingPssMb: pssGrowth?.startMb ?? null,
    }
  : { reached: false, atS: null, workingRssMb: null, workingPssMb: null };
const growth = {
  /** Minutes measured after the plateau (asked: --after). */
  windowMinutes,
  askedMinutes: afterMs / 60_000,
  fullWindow: windowMinutes >= afterMs / 60_000 - 5 / 60,
  rss: rssGrowth,
  pss: pssGrowth,
  goalPct: GOAL_PCT,
  // A worker ended as hung starts again with an empty arena: the growth then says nothing.
  met: rssGrowth === null || pool.stats().workersHung > 0 ? null : rssGrowth.pct < GOAL_PCT && (pssGrowth === null || pssGrowth.pct < GOAL_PCT),
};
const peak = Math.max(...samples.map((s) => s.rssMb));
const result = {
  name: 'soak',
  machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version },
  settings: {
    maxMinutes: minutes,
    afterMinutes: afterMs / 60_000,
    flatMinutes: flatMs / 60_000,
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
  plateau,
  growth,
  rss: { peakMb: peak, endMb: samples.at(-1)!.rssMb },
  stats: {
    requests: stats.requests,
    completed: stats.completed,
    errors: stats.errors,
    rejected: stats.rejected,
    workerCrashes: stats.workerCrashes,
    workersHung: stats.workersHung,
    loadFailures: stats.loadFailures,
    retries: stats.retries,
    modelLoads: stats.modelLoads,
  },
  samples,
};
mkdirSync(args.out, { recursive: true });
const file = `${args.out}/soak-arena-${args.arena}-pattern-${args.pattern}-preallocate-${args.preallocate}${args.label ? `-${args.label}` : ''}.json`;
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
writeRssChart(args.out);
writeSection(args.out);
console.table({ plateauS: plateau.atS, workingRssMb: plateau.workingRssMb, workingPssMb: plateau.workingPssMb, windowMinutes, rssGrowthPct: rssGrowth?.pct, pssGrowthPct: pssGrowth?.pct, issued, answered, crashes: stats.workerCrashes, hung: stats.workersHung, loadFailures: stats.loadFailures, modelLoads: stats.modelLoads });
console.log(`every call answered once: ${issued === answered && stats.requests === stats.completed + stats.errors + stats.rejected}`);
console.log(`wrote ${file}`);

/**
 * The plateau: the first sample from which RSS rises less than 3% over the next `--flat` minutes
 * (a bounded arena grows in steps as longer batches come, then stops; one minute proved too short
 * a look: rarer long batches still added steps for minutes after). Undefined until that long of
 * samples follows a candidate.
 */
function findPlateau(all: Sample[]): number | undefined {
  const end = all.at(-1)!.t;
  for (let i = 0; i < all.length && all[i]!.t + flatMs <= end; i++) {
    const base = all[i]!.rssMb;
    let flat = true;
    for (let j = i + 1; j < all.length && all[j]!.t <= all[i]!.t + flatMs; j++) {
      if (all[j]!.rssMb > base * 1.03) {
        flat = false;
        break;
      }
    }
    if (flat) return i;
  }
  return undefined;
}

/** soak.md: one table row per soak result in `dir`, for the report. */
function writeSection(dir: string): void {
  const runs = readdirSync(dir)
    .filter((f) => /^soak-arena-.*\.json$/.test(f))
    .map((f) => JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')) as Partial<typeof result> & Pick<typeof result, 'settings' | 'calls'>)
    .filter((r) => r.plateau !== undefined);
  const mb = (v: number | null | undefined): string => (v === null || v === undefined ? 'n/a' : `${Math.round(v)} MB`);
  const pct = (g: { startMb: number; endMb: number; pct: number } | null | undefined): string => (g ? `${mb(g.startMb)} -> ${mb(g.endMb)} (${g.pct >= 0 ? '+' : ''}${g.pct}%)` : 'n/a');
  const md = [
    '## Soak: plateau and growth after it',
    '',
    'Goal: RSS (and Pss) grow under 5% over the minutes after the plateau (medians of the first and last minute of that window). ' +
      'A run in which workers were ended as hung (their heartbeat stalled past healthTimeout, as on a starved machine) is not judged: each replacement starts with an empty arena.',
    '',
    '| run | calls | crashes | ended as hung | plateau at | working size, RSS / Pss | window | RSS after the plateau | Pss after the plateau | goal |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of runs) {
    const name = [`${r.settings.model}, ${r.settings.threads} workers`, `crash ${+(r.settings.crash * 100).toFixed(2)}%`, r.settings.label].filter(Boolean).join(', ');
    const g = r.growth!;
    const p = r.plateau!;
    const hung = (r.stats as { workersHung?: number } | undefined)?.workersHung;
    const goal = hung ? 'not judged' : g.met === null ? 'n/a' : g.met ? 'met' : '**missed**';
    md.push(
      `| ${name} | ${r.calls.answered} | ${r.stats?.workerCrashes ?? 'n/a'} | ${hung ?? 'n/a'} | ${p.reached ? `${p.atS} s` : 'not reached'} | ${mb(p.workingRssMb)} / ${mb(p.workingPssMb)} | ${g.windowMinutes} of ${g.askedMinutes} min${g.fullWindow ? '' : ' (cut short)'} | ${pct(g.rss)} | ${pct(g.pss)} | ${goal} |`,
    );
  }
  writeFileSync(`${dir}/soak.md`, `${md.join('\n')}\n`);
}

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
