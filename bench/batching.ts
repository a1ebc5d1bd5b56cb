import { interleaved } from './lib/rounds.js';
import { round } from './lib/stats.js';
import { textSet } from './lib/texts.js';
import type { Benchmark } from './lib/types.js';
import { uncached } from './lib/pool-options.js';
import { createPool, type PoolOptions, type WarmPool } from './lib/warmpool.js';

const MODEL = 'minilm-shape';
const CALLERS = [1, 8, 64];

/**
 * Creates a pool with the `batching` option. A build without it rejects the unknown key with a
 * TypeError; that is reported as "not available", not as a failure.
 */
function tryBatchingPool(batching: boolean): WarmPool | TypeError {
  try {
    return createPool(uncached({ model: MODEL, batching } as PoolOptions));
  } catch (error) {
    if (error instanceof TypeError) return error;
    throw error;
  }
}

const benchmark: Benchmark = {
  name: 'batching',
  title: 'Batching',
  description:
    `Throughput (texts/s) and p99 latency of one-text calls on \`${MODEL}\` (short texts, 10 tokens) with the pool option \`batching: true\` (the text cache off) ` +
    `against \`batching: false\`, at ${CALLERS.join(', ')} concurrent callers (closed loop). Batching gathers calls that wait at the same time into one model run.`,
  async run(ctx) {
    const texts = textSet(10, 512);
    const on = tryBatchingPool(true);
    const available = !(on instanceof TypeError);
    const subjects: Record<string, WarmPool> = {};
    if (available) {
      subjects['batching: true'] = on;
      subjects['batching: false'] = tryBatchingPool(false) as WarmPool;
    } else {
      subjects['default pool'] = createPool(uncached({ model: MODEL }));
    }
    await Promise.all(Object.values(subjects).map((p) => p.ready()));
    const duration = ctx.pick(3000, 250, 150);
    const warm = ctx.pick(300, 100, 50);
    const rounds = ctx.pick(4, 1, 1);
    const cells: Parameters<typeof interleaved>[0] = {};
    for (const callers of CALLERS) {
      for (const [name, pool] of Object.entries(subjects)) {
        cells[`${name}|${callers}`] = { call: (i) => pool.embed(texts[i % texts.length]!), inFlight: callers };
      }
    }
    // Interleaved rounds: machine noise hits every pool and caller count alike.
    // A longer untimed start for each cell's first slice: code not yet optimised (in the main
    // thread and in each pool's own workers) would otherwise slow whichever cell comes first.
    const measured = await interleaved(cells, rounds, duration, warm, ctx.pick(1000, 100, 50));
    const results: Record<string, { callers: number; perSecond: number; p50: number; p99: number }[]> = {};
    for (const name of Object.keys(subjects)) {
      results[name] = CALLERS.map((callers) => {
        const r = measured[`${name}|${callers}`]!;
        return { callers, perSecond: r.perSecond, p50: r.latency.p50, p99: r.latency.p99 };
      });
    }
    await Promise.all(Object.values(subjects).map((p) => p.close()));
    const names = Object.keys(results);
    return {
      model: MODEL,
      dtype: 'fp32',
      available,
      ...(available ? {} : { unavailableReason: `createPool rejected the batching option (${(on as TypeError).message.split(';')[0]}); measured the default pool only.` }),
      targets: [],
      tables: [
        {
          title: `One-text calls, ${duration / 1000} s per cell in ${rounds} interleaved round${rounds > 1 ? 's' : ''} (p50/p99: median round)`,
          columns: ['pool', 'callers', 'texts/s', 'p50 ms', 'p99 ms'],
          rows: names.flatMap((n) => results[n]!.map((r) => [n, r.callers, round(r.perSecond), round(r.p50), round(r.p99)])),
        },
      ],
      charts: [
        {
          id: 'throughput',
          title: 'Throughput by concurrent callers',
          type: 'line',
          xLabel: 'concurrent callers',
          yLabel: 'texts / s',
          x: CALLERS,
          series: names.map((n) => ({ name: n, values: results[n]!.map((r) => r.perSecond) })),
        },
        {
          id: 'p99',
          title: 'p99 latency by concurrent callers (log scale)',
          type: 'line',
          xLabel: 'concurrent callers',
          yLabel: 'p99 ms',
          yScale: 'log',
          x: CALLERS,
          series: names.map((n) => ({ name: n, values: results[n]!.map((r) => r.p99) })),
        },
      ],
      notes: available
        ? []
        : ['This build has no batching option yet: the figures are the default pool (one model run per call), the baseline batching will be compared against. The comparison runs as soon as createPool accepts `batching`.'],
      data: { callers: CALLERS, durationMs: duration, rounds, results },
    };
  },
};

export default benchmark;
