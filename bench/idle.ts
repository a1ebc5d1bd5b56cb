/**
 * What a pool costs while it waits, and how it answers a user while bulk work runs: (1) start-up of
 * warmpool against a plain transformers.js pipeline on the main thread and a hand-rolled Piscina
 * pool; (2) memory at rest, at the peak of a burst of long texts, and after scaling to zero; (3)
 * priority lanes: interactive latency while bulk work runs in the batch lane, against the same bulk
 * work in the interactive lane (first come, first served, as before lanes).
 */
import { execFile } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { BENCH_WORKERS } from './lib/paths.js';
import { median, round, summarize, type Summary } from './lib/stats.js';
import { textOf } from './lib/texts.js';
import { checkTarget, type Benchmark, type Table, type TargetCheck } from './lib/types.js';
import { createPool, DEFAULTS, type WarmPool } from './lib/warmpool.js';

const MODEL = 'minilm-shape';
/** The first calls after ready: concurrent single-text calls of this many tokens. */
const FIRST = { calls: 8, tokens: 60 };
/** The burst: callers at once, each sending this many long texts one per call. */
const BURST = { callers: 8, perCaller: 8, tokens: 500 };
/** Lanes: an interactive query's length, the bulk texts' length, the bulk's chunk (as indexStream's batches). */
const QUERY_TOKENS = 16;
const BULK_TOKENS = 250;
const CHUNK = 256;
const INTERACTIVE_EVERY_MS = 100;

const run = promisify(execFile);

interface Mem { rssMiB: number; pssMiB: number }
interface SubjectSample {
  subject: string;
  importMs?: number;
  readyMs?: number;
  firstVectorMs?: number;
  ready: Mem;
  rest?: Mem;
  restWorkers?: number;
  statsMemory?: Mem | null;
  burstMs?: number;
  burstPeak?: Mem;
  burstSamples?: number;
  afterBurst?: Mem;
  unloadMs?: number;
  afterUnload?: Mem;
  zeroAfterMs?: number;
  zeroWorkers?: number;
  afterIdle?: Mem;
  warmThreads?: number[];
}

/** "min-max" of a list of figures, rounded. */
const range = (values: number[]): string => (values.length ? `${round(Math.min(...values))}-${round(Math.max(...values))}` : '');
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

interface LaneRun { seconds: number; textsPerSecond: number; interactive?: Summary; interactiveCalls?: number }

const benchmark: Benchmark = {
  name: 'idle',
  title: 'Start-up, memory at rest, priority lanes',
  description:
    `Three comparisons on \`${MODEL}\` (MiniLM-L6's shape, random weights) with 2 workers, side by side in one run. ` +
    '(1) Start-up, each subject in a fresh process, interleaved: time to ready and to the first vector of a warmpool pool with default options ' +
    '(`createPool({ model, threads: 2 })`), of the plain transformers.js `pipeline(\'feature-extraction\')` on the main thread (onnxruntime\'s default threads, ' +
    'and intraOpNumThreads 1), and of a hand-rolled Piscina pool of 2 workers each loading that pipeline (`bench/workers/piscina-pipeline.mjs`, ready when one call ' +
    'to each has answered); times count from just before the library is imported. ' +
    `(2) Memory, RSS and Pss from /proc/self/smaps_rollup in the same fresh processes: at rest after the first calls (${FIRST.calls} concurrent ${FIRST.tokens}-token texts), ` +
    `the peak (sampled every 100 ms) under a burst of ${BURST.callers * BURST.perCaller} texts of ${BURST.tokens} tokens from ${BURST.callers} concurrent callers (one text per call), ` +
    'and what scaling to zero gives back: a pool with `threads: { min: 0, max: 2 }` after its workers left on idleTimeout, and the default pool after `pool.unload()`. ' +
    `(3) Priority lanes, in one process: interactive single-text calls (${QUERY_TOKENS} tokens) on an idle pool; bulk work alone (\`embed\` with \`priority: 'batch'\` in chunks of ${CHUNK} ` +
    `texts of ${BULK_TOKENS} tokens, as indexing sends them); the same bulk work with an interactive call every ${INTERACTIVE_EVERY_MS} ms; and that again with the bulk in the ` +
    "interactive lane (first come, first served: the pool before lanes). Cache off (`cacheBytes: 0`), every text distinct.",
  async run(ctx) {
    const model = ctx.tiny ? 'glove-100d' : MODEL;
    const targets: TargetCheck[] = [];
    const tables: Table[] = [];
    const notes: string[] = [];
    const data: Record<string, unknown> = {};

    // ---- 1 and 2: start-up and memory, each subject in a fresh process ----
    const runs = ctx.pick(3, 2, 1);
    const idleTimeout = ctx.pick(3000, 2000, 1000);
    const settleMs = ctx.pick(1000, 500, 200);
    const burst = ctx.tiny ? { ...BURST, perCaller: 2 } : BURST;
    const settings = (subject: string): string =>
      JSON.stringify({ subject, model, firstCalls: FIRST.calls, firstTokens: FIRST.tokens, burst, idleTimeout, settleMs });
    const child = async (subject: string): Promise<SubjectSample> => {
      const { stdout } = await run(process.execPath, [`${BENCH_WORKERS}idle-subject.mjs`, settings(subject)], { maxBuffer: 1 << 20, timeout: 300_000 });
      return JSON.parse(stdout.trim().split('\n').at(-1)!) as SubjectSample;
    };
    const subjects = ['warmpool', 'pipeline-default', 'pipeline-1', 'piscina', 'warmpool-zero'];
    const label: Record<string, string> = {
      baseline: 'no pool (node + warmpool imported)',
      warmpool: 'warmpool, createPool({ model, threads: 2 })',
      'pipeline-default': 'transformers.js pipeline, main thread, default threads',
      'pipeline-1': 'transformers.js pipeline, main thread, intraOpNumThreads 1',
      piscina: 'hand-rolled Piscina, 2 workers x pipeline',
      'warmpool-zero': `warmpool, threads { min: 0, max: 2 }, idleTimeout ${idleTimeout / 1000} s`,
    };
    const samples: Record<string, SubjectSample[]> = Object.fromEntries(['baseline', ...subjects].map((s) => [s, []]));
    samples.baseline!.push(await child('baseline'));
    // An untimed round first: the page cache holds the model files and node's code after it.
    if (!ctx.tiny) for (const s of ['warmpool', 'piscina']) await child(s);
    for (let r = 0; r < runs; r++) {
      const order = r % 2 === 1 ? [...subjects].reverse() : subjects;
      for (const s of order) samples[s]!.push(await child(s));
    }
    const med = (s: string, f: (m: SubjectSample) => number | undefined): number => median(samples[s]!.map(f).filter((v): v is number => v !== undefined));
    const all = (s: string, f: (m: SubjectSample) => number | undefined): number[] => samples[s]!.map(f).filter((v): v is number => v !== undefined);
    const startSubjects = ['warmpool', 'pipeline-default', 'pipeline-1', 'piscina'];
    tables.push({
      title: `Start-up, each subject in a fresh process (median of ${runs} interleaved runs; ms from just before the library's import)`,
      columns: ['subject', 'import ms', 'ready ms', 'ready range', 'first vector ms', 'first vector range', 'ready x pipeline (default threads)'],
      rows: startSubjects.map((s) => [
        label[s]!,
        round(med(s, (m) => m.importMs)),
        round(med(s, (m) => m.readyMs)),
        range(all(s, (m) => m.readyMs)),
        round(med(s, (m) => m.firstVectorMs)),
        range(all(s, (m) => m.firstVectorMs)),
        round(med(s, (m) => m.readyMs) / med('pipeline-default', (m) => m.readyMs)),
      ]),
    });
    // Per-round ratios (the same round's pipeline run), for the spread.
    const roundRatios = (a: string, b: string, f: (m: SubjectSample) => number | undefined): number[] =>
      samples[a]!.map((m, i) => f(m)! / f(samples[b]![i]!)!).filter(Number.isFinite);
    const readyRatio = med('warmpool', (m) => m.readyMs) / med('pipeline-default', (m) => m.readyMs);
    const readyRatio1 = med('warmpool', (m) => m.readyMs) / med('pipeline-1', (m) => m.readyMs);
    targets.push(checkTarget('ready-vs-pipeline', 'warmpool (threads 2, defaults) time to ready / main-thread pipeline load (default threads), medians', readyRatio, 1.3, false, 'x',
      'Two workers each import transformers.js, read the tokenizer and create a session at the same time, on 2 cores, while the pipeline on the main thread loads one; ' +
        'see the Piscina pool, which loads the same two pipelines in two workers.'));
    notes.push(
      `Ready ratios per round (warmpool / pipeline in the same round): default threads ${range(roundRatios('warmpool', 'pipeline-default', (m) => m.readyMs))}, ` +
        `intraOpNumThreads 1 ${range(roundRatios('warmpool', 'pipeline-1', (m) => m.readyMs))} (medians ${round(readyRatio)} and ${round(readyRatio1)}); ` +
        `warmpool / hand-rolled Piscina ${range(roundRatios('warmpool', 'piscina', (m) => m.readyMs))} (median ${round(med('warmpool', (m) => m.readyMs) / med('piscina', (m) => m.readyMs))}).`,
    );

    const memSubjects = ['baseline', 'warmpool', 'piscina', 'pipeline-default', 'pipeline-1', 'warmpool-zero'];
    const m2 = (s: string, f: (m: SubjectSample) => Mem | undefined, k: keyof Mem): number | null => {
      const v = all(s, (m) => f(m)?.[k]);
      return v.length ? round(median(v)) : null;
    };
    tables.push({
      title: `Memory, each subject in a fresh process (MiB, median of ${runs}; the burst: ${burst.callers * burst.perCaller} texts of ${burst.tokens} tokens from ${burst.callers} callers)`,
      columns: ['subject', 'RSS ready', 'Pss ready', 'RSS at rest', 'Pss at rest', 'Pss at rest range', 'RSS burst peak', 'Pss burst peak', 'Pss peak range', 'burst s', 'Pss after burst', 'Pss after unload / idle'],
      rows: memSubjects.map((s) => [
        label[s]!,
        m2(s, (m) => m.ready, 'rssMiB'),
        m2(s, (m) => m.ready, 'pssMiB'),
        m2(s, (m) => m.rest, 'rssMiB'),
        m2(s, (m) => m.rest, 'pssMiB'),
        range(all(s, (m) => m.rest?.pssMiB)),
        m2(s, (m) => m.burstPeak, 'rssMiB'),
        m2(s, (m) => m.burstPeak, 'pssMiB'),
        range(all(s, (m) => m.burstPeak?.pssMiB)),
        all(s, (m) => m.burstMs).length ? round(med(s, (m) => m.burstMs) / 1000) : null,
        m2(s, (m) => m.afterBurst, 'pssMiB'),
        m2(s, (m) => m.afterUnload ?? m.afterIdle, 'pssMiB'),
      ]),
    });
    const restRatio = med('warmpool', (m) => m.rest?.pssMiB) / med('piscina', (m) => m.rest?.pssMiB);
    targets.push(checkTarget('rest-vs-piscina', 'Pss at rest after the first calls: warmpool (defaults) / hand-rolled Piscina pool, medians', restRatio, 1.2, false, 'x',
      'See the per-worker figures in the notes: what warmpool holds beyond two pipelines.'));
    const peakRatio = med('warmpool', (m) => m.burstPeak?.pssMiB) / med('piscina', (m) => m.burstPeak?.pssMiB);
    targets.push(checkTarget('peak-vs-piscina', `Pss peak under the burst: warmpool / hand-rolled Piscina pool, medians`, peakRatio, 1, false, 'x',
      `warmpool coalesces the callers' waiting texts into one task per worker and runs them as one batch (up to batchSize ${DEFAULTS.batchSize} texts and maxBatchTokens ` +
        `${(DEFAULTS as unknown as Record<string, unknown>).maxBatchTokens ?? '?'} padded tokens), so a model run holds several ${burst.tokens}-token texts at once; ` +
        'the Piscina pool runs one text per task. onnxruntime\'s arena keeps the largest run\'s buffers. maxBatchTokens bounds it (lower it to trade throughput for peak memory).'));
    const basePss = med('baseline', (m) => m.ready.pssMiB);
    const zeroRest = med('warmpool-zero', (m) => m.rest?.pssMiB);
    const zeroIdle = med('warmpool-zero', (m) => m.afterIdle?.pssMiB);
    const wpBurst = med('warmpool', (m) => m.afterBurst?.pssMiB);
    const wpUnload = med('warmpool', (m) => m.afterUnload?.pssMiB);
    notes.push(
      `Scale to zero: threads { min: 0, max: 2 } is ready with no worker (${round(med('warmpool-zero', (m) => m.readyMs))} ms, Pss ${round(med('warmpool-zero', (m) => m.ready.pssMiB))} MiB); ` +
        `after its first calls it held ${round(zeroRest)} MiB Pss with ${median(all('warmpool-zero', (m) => m.restWorkers))} worker(s) warm, and ${round(zeroIdle)} MiB once every worker had left ` +
        `(${range(all('warmpool-zero', (m) => m.zeroAfterMs).map((x) => (x + settleMs) / 1000))} s after the last call, idleTimeout ${idleTimeout / 1000} s): ${round(zeroRest - zeroIdle)} MiB given back, ` +
        `${round(zeroIdle - basePss)} MiB above the process without a pool (${round(basePss)} MiB). ` +
        `The default pool after the burst: ${round(wpBurst)} MiB; after pool.unload() (${range(all('warmpool', (m) => m.unloadMs))} ms until no worker was left): ${round(wpUnload)} MiB, ` +
        `${round(wpBurst - wpUnload)} MiB given back, ${round(wpUnload - basePss)} MiB above the process without a pool.`,
    );
    const sm = all('warmpool', (m) => m.statsMemory?.pssMiB ?? undefined);
    if (sm.length) notes.push(`pool.stats().memory agrees with smaps_rollup: Pss at rest ${round(median(sm))} MiB from the pool's stats, ${round(med('warmpool', (m) => m.rest?.pssMiB))} MiB read by the subject.`);
    const warmThreads = samples.piscina!.map((m) => (m.warmThreads ?? []).join('+'));
    notes.push(`The Piscina pool's warm-up calls ran on threads ${warmThreads.join(', ')} (two distinct threads: both workers loaded before ready).`);
    data.processes = { runs, idleTimeout, settleMs, first: FIRST, burst, samples, ratios: { readyRatio, readyRatio1, restRatio, peakRatio } };

    // ---- 3: priority lanes ----
    const configs = ctx.pick([{ threads: 2, inFlight: 2, rounds: 3 }, { threads: 1, inFlight: 1, rounds: 2 }], [{ threads: 2, inFlight: 2, rounds: 1 }], [{ threads: 2, inFlight: 2, rounds: 1 }]);
    const lanes: Record<string, unknown> = {};
    let seed = 1_000_000;
    const chunk = ctx.pick(CHUNK, CHUNK, 32);
    const targetSeconds = ctx.pick(17, 5, 3);
    for (const cfg of configs) {
      const pool: WarmPool = createPool({ model, threads: cfg.threads, cacheBytes: 0 });
      await pool.ready();
      const batchSize = pool.models[0]?.options.batchSize ?? DEFAULTS.batchSize;
      const batchRunMs = pool.models[0]?.options.batchRunMs ?? DEFAULTS.batchRunMs;
      const query = async (): Promise<number> => {
        const began = performance.now();
        await pool.embed(textOf(QUERY_TOKENS, seed++));
        return performance.now() - began;
      };
      const idle = async (n: number): Promise<Summary> => {
        const lat: number[] = [];
        for (let i = 0; i < n; i++) lat.push(await query());
        return summarize(lat);
      };
      /** n texts in chunks, `inFlight` chunks at a time (indexStream keeps one). */
      const bulk = async (n: number, priority: 'batch' | 'interactive'): Promise<LaneRun> => {
        let next = 0;
        const began = performance.now();
        await Promise.all(Array.from({ length: cfg.inFlight }, async () => {
          while (next < n) {
            const size = Math.min(chunk, n - next);
            next += size;
            await pool.embed(Array.from({ length: size }, () => textOf(BULK_TOKENS, seed++)), { priority });
          }
        }));
        const seconds = (performance.now() - began) / 1000;
        return { seconds, textsPerSecond: n / seconds };
      };
      const both = async (n: number, priority: 'batch' | 'interactive'): Promise<LaneRun> => {
        const lat: number[] = [];
        const pending: Promise<void>[] = [];
        const timer = setInterval(() => pending.push(query().then((ms) => void lat.push(ms))), INTERACTIVE_EVERY_MS);
        const r = await bulk(n, priority);
        clearInterval(timer);
        await Promise.all(pending);
        return { ...r, interactive: summarize(lat), interactiveCalls: lat.length };
      };
      // Warm-up and calibration: idle calls, then one chunk per place.
      await idle(ctx.pick(20, 10, 5));
      const cal = await bulk(chunk * cfg.inFlight, 'batch');
      const n = Math.max(chunk * cfg.inFlight, Math.round((cal.textsPerSecond * targetSeconds) / chunk) * chunk);
      // One sub-batch alone: batchSize texts of the bulk's length in one call (one model run on one worker).
      const sub: number[] = [];
      for (let i = 0; i < ctx.pick(5, 3, 2); i++) {
        const began = performance.now();
        await pool.embed(Array.from({ length: batchSize }, () => textOf(BULK_TOKENS, seed++)));
        sub.push(performance.now() - began);
      }
      const subMs = median(sub);
      const res: { idle: Summary[]; b: LaneRun[]; c: LaneRun[]; d: LaneRun[] } = { idle: [], b: [], c: [], d: [] };
      for (let r = 0; r < cfg.rounds; r++) {
        res.idle.push(await idle(50));
        const steps: [keyof typeof res, () => Promise<LaneRun>][] = [
          ['b', () => bulk(n, 'batch')],
          ['c', () => both(n, 'batch')],
          ['d', () => both(n, 'interactive')],
        ];
        if (r % 2 === 1) steps.reverse();
        for (const [k, f] of steps) (res[k] as LaneRun[]).push(await f());
      }
      await pool.close();
      const tag = `threads ${cfg.threads}`;
      const idleP50 = median(res.idle.map((x) => x.p50));
      const idleP99 = median(res.idle.map((x) => x.p99));
      const ip = (k: 'c' | 'd', q: 'p50' | 'p99' | 'max'): number => median(res[k].map((x) => x.interactive![q]));
      const ipr = (k: 'c' | 'd', q: 'p50' | 'p99' | 'max'): string => range(res[k].map((x) => x.interactive![q]));
      const tps = (k: 'b' | 'c' | 'd'): number => median(res[k].map((x) => x.textsPerSecond));
      const tpr = (k: 'b' | 'c' | 'd'): string => range(res[k].map((x) => x.textsPerSecond));
      tables.push({
        title: `Priority lanes, ${tag} (${cfg.inFlight} bulk chunk${cfg.inFlight > 1 ? 's' : ''} of ${chunk} in flight, ${n} texts of ${BULK_TOKENS} tokens per bulk run; medians of ${cfg.rounds} interleaved rounds, range over rounds; ms)`,
        columns: ['case', 'interactive p50', 'p50 range', 'interactive p99', 'p99 range', 'interactive max', 'max range', 'bulk texts/s', 'bulk range', 'bulk x alone'],
        rows: [
          ['(a) idle: 50 sequential interactive calls', round(idleP50), range(res.idle.map((x) => x.p50)), round(idleP99), range(res.idle.map((x) => x.p99)), round(median(res.idle.map((x) => x.max))), range(res.idle.map((x) => x.max)), null, '', null],
          ["(b) bulk alone (priority 'batch')", null, '', null, '', null, '', round(tps('b')), tpr('b'), 1],
          [`(c) bulk (batch lane) + an interactive call every ${INTERACTIVE_EVERY_MS} ms`, round(ip('c', 'p50')), ipr('c', 'p50'), round(ip('c', 'p99')), ipr('c', 'p99'), round(ip('c', 'max')), ipr('c', 'max'), round(tps('c')), tpr('c'), round(tps('c') / tps('b'))],
          ["(d) the same, bulk in the interactive lane (FIFO, before lanes)", round(ip('d', 'p50')), ipr('d', 'p50'), round(ip('d', 'p99')), ipr('d', 'p99'), round(ip('d', 'max')), ipr('d', 'max'), round(tps('d')), tpr('d'), round(tps('d') / tps('b'))],
        ],
      });
      const bound = 3 * idleP99 + subMs;
      targets.push(checkTarget(`lanes-p99-t${cfg.threads}`, `${tag}: interactive p99 during bulk (c) <= 3 x idle p99 (${round(idleP99)} ms) + one sub-batch alone (${batchSize} x ${BULK_TOKENS} tokens: ${round(subMs)} ms)`,
        ip('c', 'p99'), bound, false, ' ms',
        'An interactive call waits for the model run under way on the worker it goes to (one sub-batch), then runs; on 2 shared cores the bulk\'s threads and the interactive call also compete for the cores.'));
      targets.push(checkTarget(`lanes-bulk-t${cfg.threads}`, `${tag}: bulk texts/s with interactive calls (c) / bulk alone (b)`, tps('c') / tps('b'), 0.9, true, 'x',
        'Each interactive call takes a worker between two of the bulk\'s model runs; the bulk also loses the sub-batch split it would have run.'));
      notes.push(
        `${tag}: one sub-batch alone (${batchSize} texts of ${BULK_TOKENS} tokens, one call) ${round(subMs)} ms (runs ${range(sub)}); interactive calls during the bulk: ` +
          `${res.c.map((x) => x.interactiveCalls).join(', ')} per round in (c), ${res.d.map((x) => x.interactiveCalls).join(', ')} in (d); interactive p99 (c) / idle p99: ${round(ip('c', 'p99') / idleP99)}x; ` +
          `(d) / (c) p99: ${round(ip('d', 'p99') / ip('c', 'p99'))}x. ` +
          `The batch lane's model runs aim at batchRunMs ${batchRunMs} ms (pool default; 0 runs whole sub-batches): against 3 x idle p99 + ${batchRunMs} ms ` +
          `(${round(3 * idleP99 + batchRunMs)} ms), the p99 in (c) is ${round(ip('c', 'p99') / (3 * idleP99 + batchRunMs))}x.`,
      );
      lanes[tag] = { ...cfg, chunk, bulkTexts: n, bulkTokens: BULK_TOKENS, queryTokens: QUERY_TOKENS, batchSize, batchRunMs, calibration: cal, subBatchMs: sub, results: res };
    }
    data.lanes = lanes;
    notes.push(
      `indexStream() keeps one batch call in flight (it embeds the next ${CHUNK} documents when the previous batch is written), and a call of ${CHUNK} texts runs whole as one task on one worker, ` +
        'so on a pool of 2 workers indexStream alone keeps one worker busy; the threads-2 case above keeps two chunks in flight so that both workers run bulk work (the hard case for lanes), ' +
        'and the threads-1 case is what indexStream does on a pool of one.',
    );

    const wp = (s: string, f: (m: SubjectSample) => number | undefined): number => med(s, f);
    return {
      model,
      dtype: 'fp32',
      available: true,
      targets,
      tables,
      charts: [
        {
          id: 'ready',
          title: 'Time to ready and to the first vector, fresh processes (ms, medians)',
          type: 'bar',
          xLabel: 'subject',
          yLabel: 'ms',
          x: ['ready', 'first vector'],
          series: startSubjects.map((s) => ({ name: label[s]!, values: [wp(s, (m) => m.readyMs), wp(s, (m) => m.firstVectorMs)] })),
        },
        {
          id: 'memory',
          title: 'Pss at rest, at the burst peak, and after unload / idle (MiB, medians)',
          type: 'bar',
          xLabel: 'when',
          yLabel: 'MiB',
          x: ['at rest', 'burst peak', 'after unload / idle'],
          series: ['warmpool', 'piscina', 'warmpool-zero'].map((s) => ({
            name: label[s]!,
            values: [wp(s, (m) => m.rest?.pssMiB), wp(s, (m) => m.burstPeak?.pssMiB), wp(s, (m) => m.afterUnload?.pssMiB ?? m.afterIdle?.pssMiB)],
          })),
        },
      ],
      notes: [
        `Model: ${model}${ctx.tiny ? ' (--tiny)' : ''}, fp32. warmpool's defaults here: threads 2, intraOpThreads ${Math.max(1, Math.floor(ctx.cores / 2))}, batchSize ${DEFAULTS.batchSize}, ` +
          `preallocate ${String((DEFAULTS as unknown as Record<string, unknown>).preallocate)} (WARMPOOL_PREALLOCATE=${process.env.WARMPOOL_PREALLOCATE ?? 'unset'}). ` +
          "The hand-rolled pool and the pipelines use transformers.js' defaults (onnxruntime picks its own thread count).",
        ...notes,
        `Percentiles are nearest-rank: the p99 of 50 idle calls is their slowest; during the bulk there are about ${Math.round(1000 / INTERACTIVE_EVERY_MS)} interactive calls per second of bulk.`,
      ].filter(Boolean),
      data,
    };
  },
};

export default benchmark;
