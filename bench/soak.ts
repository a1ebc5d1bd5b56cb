/**
 * Soak: minutes of mixed load (texts of every length, bursts, bad input, aborts, timeouts, and
 * injected worker crashes) against one pool, sampling the process's RSS. Reports the RSS growth
 * after warm-up and the final counts, and checks that every call was answered exactly once.
 *
 *   npm run soak                                   # 10 minutes, default settings
 *   npm run soak -- --minutes 2 --arena off --pattern off --model glove-100d
 *
 * Writes bench/results/soak-<arena>-<pattern>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { createPool } from '../dist/src/index.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    model: { type: 'string', default: 'minilm-shape' },
    arena: { type: 'string', default: 'on' },
    pattern: { type: 'string', default: 'on' },
    crash: { type: 'string', default: '0.002' },
    threads: { type: 'string', default: '2' },
    out: { type: 'string', default: 'bench/results' },
  },
});

const minutes = Number(args.minutes);
const durationMs = minutes * 60_000;
const warmupMs = Math.min(60_000, durationMs / 5);
const words = ['river', 'market', 'guitar', 'doctor', 'storm', 'pasta', 'engine', 'garden', 'court', 'planet', 'violin', 'ocean'];
let seed = 12345;
const random = (): number => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};
const text = (): string => {
  // Lengths from 1 to ~400 words, skewed short, as real traffic is.
  const n = 1 + Math.floor(random() ** 3 * 400);
  return Array.from({ length: n }, () => words[Math.floor(random() * words.length)]).join(' ') + ` ${Math.floor(random() * 1e6)}`;
};

const pool = createPool({
  model: args.model,
  threads: Number(args.threads),
  cpuMemArena: args.arena === 'on',
  memPattern: args.pattern === 'on',
  cacheBytes: 8 * 1024 * 1024,
  maxQueue: 256,
  retries: 2,
  faultInjection: { crash: Number(args.crash) },
});
await pool.ready();

const samples: { t: number; rssMb: number; heapMb: number }[] = [];
const sample = (): void => {
  const m = process.memoryUsage();
  samples.push({ t: Math.round(performance.now() - started), rssMb: +(m.rss / 2 ** 20).toFixed(1), heapMb: +(m.heapUsed / 2 ** 20).toFixed(1) });
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
const result = {
  name: 'soak',
  machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version },
  settings: { minutes, model: args.model, threads: Number(args.threads), cpuMemArena: args.arena === 'on', memPattern: args.pattern === 'on', crash: Number(args.crash) },
  calls: { issued, answered, outcomes: Object.fromEntries(outcomes) },
  rss: { afterWarmupMb: first.rssMb, endMb: last.rssMb, peakMb: peak, growthPct: +(((last.rssMb - first.rssMb) / first.rssMb) * 100).toFixed(2) },
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
const file = `${args.out}/soak-arena-${args.arena}-pattern-${args.pattern}.json`;
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
console.table({ ...result.rss, issued, answered, crashes: stats.workerCrashes, modelLoads: stats.modelLoads });
console.log(`every call answered once: ${issued === answered && stats.requests === stats.completed + stats.errors + stats.rejected}`);
console.log(`wrote ${file}`);
