import { interleaved } from './lib/rounds.js';
import { loadMainThreadPipeline, loadRawSession } from './lib/raw-session.js';
import { round } from './lib/stats.js';
import { TEXT_LENGTHS, textSet, type TextLength } from './lib/texts.js';
import { checkTarget, type Benchmark, type TargetCheck } from './lib/types.js';
import { FEATURES, featureDefaults, uncached, withBatching } from './lib/pool-options.js';
import { createPool } from './lib/warmpool.js';

const MODEL = 'minilm-shape';
/** Concurrent callers for the pool and the main-thread pipeline: enough to keep every worker busy. */
const CALLERS = 8;

type Row = Record<TextLength, number>;

const benchmark: Benchmark = {
  name: 'throughput',
  title: 'Throughput scaling',
  description:
    `Texts per second on \`${MODEL}\` (all-MiniLM-L6-v2's shape: compute cost is what is measured) for short (10 tokens), medium (60) and long (250) texts, ` +
    `one text per call: warmpool with 1 to N workers (N = cores, intraOpThreads 1, ${CALLERS} concurrent callers, text cache off; call coalescing off for the scaling rows, ` +
    'on in the "batching" row, the default); one raw onnxruntime-node ' +
    'InferenceSession on one thread and one using all cores (transformers.js tokenizer, then session.run, then mean pooling, one caller); ' +
    `and the plain transformers.js pipeline on the main thread (onnxruntime's default threads, ${CALLERS} concurrent callers). ` +
    'Scaling efficiency = throughput / (workers x one single-thread session\'s throughput).',
  async run(ctx) {
    const cores = ctx.cores;
    const lengths: TextLength[] = ctx.quick ? ['short', 'long'] : ['short', 'medium', 'long'];
    const duration = ctx.pick(3000, 200, 200);
    const warm = ctx.pick(200, 50, 50);
    const texts = Object.fromEntries(lengths.map((l) => [l, textSet(TEXT_LENGTHS[l])])) as Record<TextLength, string[]>;
    const rounds = ctx.pick(4, 1, 1);

    // Everything is loaded first and measured in interleaved rounds (idle pools and sessions use
    // no CPU), so a burst of other work on the machine hits every subject alike.
    const raw1 = await loadRawSession(MODEL, 1);
    const rawAll = await loadRawSession(MODEL, cores);
    const pipe = await loadMainThreadPipeline(MODEL);
    // Quick mode measures only the full pool: every further pool is a model load per worker.
    // On a big machine every count from 1 to cores would be a model load per worker per pool:
    // powers of two (and the core count) show the curve as well.
    const steps = cores <= 4 ? Array.from({ length: cores }, (_, i) => i + 1) : [...new Set([1, 2, 4, 8, 16, 32, 64].filter((n) => n < cores).concat(cores))];
    const workerCounts = ctx.quick ? [cores] : steps;
    // Scaling is measured one text per model run (batching off where the build has it), like the
    // raw session it is compared with; the default pool (calls coalesced) is measured beside it.
    const base = { model: MODEL, intraOpThreads: 1 };
    const pools = workerCounts.map((k) => createPool(withBatching({ ...base, threads: k }, false) ?? uncached({ ...base, threads: k })));
    const defaultPool = FEATURES.batching ? createPool(uncached({ ...base, threads: cores })) : undefined;
    await Promise.all([...pools, ...(defaultPool ? [defaultPool] : [])].map((p) => p.ready()));
    const poolName = (k: number): string => `warmpool, ${k} worker${k > 1 ? 's' : ''}${FEATURES.batching ? ', no batching' : ''}`;
    const defaultName = `warmpool, ${cores} workers, batching`;
    const callables: Record<string, { call: (text: string) => Promise<unknown>; inFlight: number }> = {
      'raw session, 1 thread': { call: (t) => raw1.embed([t]), inFlight: 1 },
      [`raw session, ${cores} threads`]: { call: (t) => rawAll.embed([t]), inFlight: 1 },
      'main-thread pipeline': { call: (t) => pipe.embed(t), inFlight: CALLERS },
      ...Object.fromEntries(workerCounts.map((k, i) => [poolName(k), { call: (t: string) => pools[i]!.embed(t), inFlight: CALLERS }])),
      ...(defaultPool ? { [defaultName]: { call: (t: string) => defaultPool.embed(t), inFlight: CALLERS } } : {}),
    };
    const cells: Parameters<typeof interleaved>[0] = {};
    for (const [name, c] of Object.entries(callables)) {
      for (const l of lengths) {
        const set = texts[l];
        cells[`${name}|${l}`] = { call: (i) => c.call(set[i % set.length]!), inFlight: c.inFlight };
      }
    }
    // A longer untimed start for each cell's first slice: code not yet optimised (in the main
    // thread and in each pool's own workers) would otherwise slow whichever cell comes first.
    const measured = await interleaved(cells, rounds, duration, warm, ctx.pick(1000, 100, 50));
    await Promise.all([raw1.release(), rawAll.release(), pipe.dispose(), ...pools.map((p) => p.close()), defaultPool?.close()]);
    const results: Record<string, Row> = {};
    for (const name of Object.keys(callables)) {
      results[name] = Object.fromEntries(lengths.map((l) => [l, measured[`${name}|${l}`]!.perSecond])) as Row;
    }

    const single = results['raw session, 1 thread']!;
    const poolRow = (k: number): Row => results[poolName(k)]!;
    const bestShort = Math.max(poolRow(cores).short, results[defaultName]?.short ?? 0);
    const efficiency = (k: number, l: TextLength): number => poolRow(k)[l] / (k * single[l]);
    const targets: TargetCheck[] = lengths.map((l) =>
      checkTarget(`efficiency-${l}`, `scaling efficiency, ${cores} workers, ${l} texts`, efficiency(cores, l), 0.9, true, '',
        l === 'short'
          ? 'A 10-token text takes a few ms of model time, so per-call costs (a message each way, tokenising in the worker, the facade\'s bookkeeping) ' +
              'are a visible share, and the main thread that dispatches calls shares the cores with the workers. Coalescing calls into shared model runs (the batching row) amortises them.'
          : 'The workers and the main thread share the cores; any other process running at the same time takes a share directly off the N-worker figure ' +
              '(a one-thread baseline is hit less). Rerun on a quiet machine before reading much into it.'),
    );
    const mainShort = results['main-thread pipeline']!.short;
    targets.push(checkTarget('vs-pipeline', `warmpool (${cores} workers, best of batching on/off) / main-thread pipeline, short texts, ${CALLERS} callers`, bestShort / mainShort, 1.5, true, 'x',
      'The pipeline on the main thread uses onnxruntime\'s own thread pool over all cores, so it already uses the machine; ' +
        'warmpool wins by running calls side by side rather than by making one faster. On 2 cores the headroom for that is small.'));

    const names = Object.keys(results);
    return {
      model: MODEL,
      dtype: 'fp32',
      available: true,
      targets,
      tables: [
        {
          title: `Texts per second, one text per call (${duration / 1000} s per cell, in ${rounds} interleaved round${rounds > 1 ? 's' : ''})`,
          columns: ['subject', ...lengths.map((l) => `${l} (${TEXT_LENGTHS[l]} tok)`)],
          rows: names.map((n) => [n, ...lengths.map((l) => round(results[n]![l]))]),
        },
        {
          title: 'Scaling efficiency of warmpool: throughput / (workers x one single-thread session)',
          columns: ['workers', ...lengths],
          rows: workerCounts.map((k) => [k, ...lengths.map((l) => round(efficiency(k, l)))]),
        },
      ],
      charts: [
        {
          id: 'efficiency',
          title: 'Scaling efficiency by worker count',
          type: 'line',
          xLabel: 'warmpool workers',
          yLabel: 'efficiency',
          x: workerCounts,
          series: lengths.map((l) => ({ name: `${l} texts`, values: workerCounts.map((k) => efficiency(k, l)) })),
          guides: [{ label: 'target 0.9', value: 0.9 }, { label: 'ideal 1.0', value: 1 }],
        },
        {
          id: 'speedup',
          title: 'Throughput relative to one single-thread session',
          type: 'bar',
          xLabel: 'text length',
          yLabel: 'x raw session, 1 thread',
          x: lengths,
          series: names.map((n) => ({ name: n.replace('raw session', 'raw').replace('main-thread pipeline', 'main pipeline'), values: lengths.map((l) => results[n]![l] / single[l]) })),
        },
      ],
      notes: [
        `Uses ${MODEL}: all-MiniLM-L6-v2's exact transformer shape with random weights, so the compute per text is a real sentence model's.`,
        'All subjects are loaded before timing and measured in interleaved rounds in one process; each runs alone while it is measured.',
        'Scaling efficiency is computed from the rows without batching: one text per model run, like the raw session it is divided by. ' +
          'With batching (the default) concurrent calls share model runs, so its throughput is not bounded by workers x one session and is shown as its own row.',
        `Machine load average when this started: see the header; the efficiency of ${cores} workers is the figure most hurt by other work on the cores.`,
      ],
      data: { features: featureDefaults(), callers: CALLERS, durationMs: duration, rounds, lengths, textTokens: TEXT_LENGTHS, textsPerSecond: results },
    };
  },
};

export default benchmark;
