import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { EchoWorker } from './lib/echo-worker.js';
import { closedLoop, loneLatency } from './lib/load.js';
import { interleaved } from './lib/rounds.js';
import { BENCH_WORKERS } from './lib/paths.js';
import { round } from './lib/stats.js';
import { checkTarget, type Benchmark } from './lib/types.js';
import { createPool } from './lib/warmpool.js';

const IN_FLIGHT = 64;
const PISCINA_CONCURRENCY = 16;

/**
 * Piscina starts with minThreads and adds threads under load; a thread that starts inside the
 * timed window stalls the calls queued on it. Load it until every thread it will use is running.
 */
async function scaleUp(piscina: Piscina): Promise<void> {
  const deadline = performance.now() + 5000;
  while (piscina.threads.length < piscina.options.maxThreads && performance.now() < deadline) {
    await closedLoop((i) => piscina.run(i), IN_FLIGHT, 50);
  }
  await closedLoop((i) => piscina.run(i), IN_FLIGHT, 100);
}

const benchmark: Benchmark = {
  name: 'overhead',
  title: 'Pool overhead',
  description:
    `The cost of a call itself: a 1-word text on \`glove-100d\` (a single Gather, so almost no model work) through warmpool's facade, ` +
    `against raw Piscina running a no-op worker (default settings, and concurrentTasksPerWorker ${PISCINA_CONCURRENCY}) and a bare ` +
    `worker_threads Worker answering postMessage round trips. Calls per second with ${IN_FLIGHT} in flight (closed loop), and the ` +
    'p50 / p99 latency of a lone call (one in flight, tinybench).',
  async run(ctx) {
    const threads = ctx.cores;
    const pool = createPool({ model: 'glove-100d', threads, maxQueue: 4096 });
    // Quick mode skips this variant: a second pool's start-up is most of its cost.
    const poolConc = ctx.quick ? undefined : createPool({ model: 'glove-100d', threads, maxQueue: 4096, concurrentTasksPerWorker: PISCINA_CONCURRENCY });
    const piscina = new Piscina({ filename: `${BENCH_WORKERS}noop.mjs` });
    const piscinaConc = new Piscina({ filename: `${BENCH_WORKERS}noop.mjs`, concurrentTasksPerWorker: PISCINA_CONCURRENCY });
    const echo = new EchoWorker();
    await Promise.all([pool.ready(), poolConc?.ready(), echo.call(0), scaleUp(piscina), scaleUp(piscinaConc)]);

    const subjects: Record<string, (i: number) => Promise<unknown>> = {
      [`warmpool (${threads} workers)`]: () => pool.embed('river'),
      ...(poolConc ? { [`warmpool, concurrentTasksPerWorker ${PISCINA_CONCURRENCY}`]: () => poolConc.embed('river') } : {}),
      'Piscina no-op, defaults': (i) => piscina.run(i),
      [`Piscina no-op, concurrentTasksPerWorker ${PISCINA_CONCURRENCY}`]: (i) => piscinaConc.run(i),
      'bare Worker postMessage echo': (i) => echo.call(i),
    };
    const duration = ctx.pick(3000, 400, 200);
    const warm = ctx.pick(200, 100, 50);
    const rounds = ctx.pick(3, 1, 1);
    const loops = await interleaved(
      Object.fromEntries(Object.entries(subjects).map(([name, call]) => [name, { call, inFlight: IN_FLIGHT }])),
      rounds,
      duration,
      warm,
    );
    const lone = await loneLatency(
      Object.fromEntries(Object.entries(subjects).map(([name, call]) => [name, () => call(1)])),
      ctx.pick(1500, 150, 60),
    );

    const poolStats = pool.stats();
    await Promise.all([pool.close(), poolConc?.close(), piscina.destroy(), piscinaConc.destroy(), echo.terminate()]);

    const names = Object.keys(subjects);
    const bareRate = loops['bare Worker postMessage echo']!.perSecond;
    const bestWarmpool = Math.max(...names.filter((n) => n.startsWith('warmpool')).map((n) => loops[n]!.perSecond));
    const short = (n: string): string => n.replace(/ \(.*\)$/, '').replace(`, concurrentTasksPerWorker ${PISCINA_CONCURRENCY}`, ` c${PISCINA_CONCURRENCY}`).replace(' no-op, defaults', '').replace(' postMessage echo', '').replace(' no-op', '');
    return {
      model: 'glove-100d',
      dtype: 'fp32',
      available: true,
      targets: [
        checkTarget('tiny-calls', `tiny calls/s through warmpool, ${IN_FLIGHT} in flight (best configuration)`, bestWarmpool, 100_000, true, '/s',
          'warmpool sends every call as its own Piscina task: one structured-clone message each way, a promise chain in the facade ' +
            '(with the default concurrentTasksPerWorker 1 only one call per worker is out at a time; the other calls wait in the admission queue and pay a hand-off each), ' +
            '(admission, stats, timeout race), and in the worker a tokenizer call and a session run per call. Piscina alone tops out near the no-op figures above. ' +
            'Closing the gap needs call coalescing: gather the calls that arrive in one tick into one message per worker (and one model run), ' +
            'so per-call cost becomes per-batch cost; that is not in the core yet.'),
      ],
      tables: [
        {
          title: `Calls per second, ${IN_FLIGHT} in flight, and lone-call latency (ms)`,
          columns: ['subject', 'calls/s', 'x bare worker', 'lone p50 ms', 'lone p99 ms'],
          rows: names.map((n) => [n, Math.round(loops[n]!.perSecond), round(loops[n]!.perSecond / bareRate), round(lone[n]!.p50), round(lone[n]!.p99)]),
        },
      ],
      charts: [
        {
          id: 'calls',
          title: `Calls per second, ${IN_FLIGHT} in flight`,
          type: 'bar',
          xLabel: 'subject',
          yLabel: 'calls / s',
          x: names.map(short),
          series: [{ name: 'calls/s', values: names.map((n) => loops[n]!.perSecond) }],
          guides: [{ label: 'target 100k/s', value: 100_000 }],
        },
        {
          id: 'lone',
          title: 'Latency of a lone call',
          type: 'bar',
          xLabel: 'subject',
          yLabel: 'ms',
          x: names.map(short),
          series: [
            { name: 'p50', values: names.map((n) => lone[n]!.p50) },
            { name: 'p99', values: names.map((n) => lone[n]!.p99) },
          ],
        },
      ],
      notes: [
        `Piscina pools are loaded until all their threads run (${'`'}maxThreads${'`'} for the defaults) before timing, so thread start-up is not counted.`,
        'Reference figures measured on this machine before: bare worker ~170,000 calls/s with 64 in flight, default Piscina ~16,000/s, ~41,000/s with concurrentTasksPerWorker.',
        `warmpool's calls each tokenise and run the (tiny) model in a worker; the Piscina and bare-worker subjects do no work at all, so they are floors, not like-for-like alternatives.`,
        `The pool's own run-time histogram for the first pool: p50 ${poolStats.runTime.p50} ms, p99 ${poolStats.runTime.p99} ms over ${poolStats.runTime.count} calls.`,
      ],
      data: { inFlight: IN_FLIGHT, durationMs: duration, rounds, threads, loops, lone },
    };
  },
};

export default benchmark;
