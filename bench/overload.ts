import { performance } from 'node:perf_hooks';
import { closedLoop } from './lib/load.js';
import { round, summarize, type Summary } from './lib/stats.js';
import { textSet } from './lib/texts.js';
import { checkTarget, type Benchmark } from './lib/types.js';
import { featureDefaults, uncached } from './lib/pool-options.js';
import { createPool, QueueFullError, type WarmPool } from './lib/warmpool.js';

const MODEL = 'minilm-shape';
const MAX_QUEUE = 128;

interface LevelResult {
  factor: number;
  offeredRate: number;
  offered: number;
  completed: number;
  rejected: number;
  otherErrors: number;
  /** Calls whose promise settled other than exactly once (must be 0). */
  settledWrong: number;
  admittedLatency: Summary;
  rejectionLatency: Summary;
  memory: { rssStartMiB: number; rssMaxMiB: number; rssEndMiB: number; heapStartMiB: number; heapMaxMiB: number; heapEndMiB: number };
  drainMs: number;
}

const MiB = (b: number): number => Math.round((b / 2 ** 20) * 10) / 10;

/**
 * Open loop: calls arrive on a clock at `rate` per second for `durationMs`, whether or not earlier
 * ones have been answered (as users of a server do). A 1 ms timer issues whatever is due.
 */
async function openLoop(pool: WarmPool, rate: number, durationMs: number, texts: string[], factor: number): Promise<LevelResult> {
  const settled: number[] = [];
  const admitted: number[] = [];
  const rejections: number[] = [];
  let completed = 0;
  let rejected = 0;
  let otherErrors = 0;
  let issued = 0;
  const pending: Promise<void>[] = [];
  const mem0 = process.memoryUsage();
  let rssMax = mem0.rss;
  let heapMax = mem0.heapUsed;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    rssMax = Math.max(rssMax, m.rss);
    heapMax = Math.max(heapMax, m.heapUsed);
  }, 50);
  const began = performance.now();
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = performance.now() - began;
      const due = Math.min(Math.floor((rate * Math.min(elapsed, durationMs)) / 1000), Math.floor((rate * durationMs) / 1000));
      while (issued < due) {
        const id = issued++;
        settled[id] = 0;
        const t = performance.now();
        pending.push(
          pool.embed(texts[id % texts.length]!).then(
            () => {
              settled[id]!++;
              completed++;
              admitted.push(performance.now() - t);
            },
            (error: unknown) => {
              settled[id]!++;
              if (error instanceof QueueFullError) {
                rejected++;
                rejections.push(performance.now() - t);
              } else otherErrors++;
            },
          ),
        );
      }
      if (elapsed >= durationMs) {
        clearInterval(tick);
        resolve();
      }
    }, 1);
  });
  const drainFrom = performance.now();
  await Promise.all(pending);
  const drainMs = performance.now() - drainFrom;
  clearInterval(sampler);
  const mem1 = process.memoryUsage();
  return {
    factor,
    offeredRate: rate,
    offered: issued,
    completed,
    rejected,
    otherErrors,
    settledWrong: settled.filter((n) => n !== 1).length,
    admittedLatency: summarize(admitted),
    rejectionLatency: summarize(rejections),
    memory: {
      rssStartMiB: MiB(mem0.rss), rssMaxMiB: MiB(rssMax), rssEndMiB: MiB(mem1.rss),
      heapStartMiB: MiB(mem0.heapUsed), heapMaxMiB: MiB(heapMax), heapEndMiB: MiB(mem1.heapUsed),
    },
    drainMs,
  };
}

const benchmark: Benchmark = {
  name: 'overload',
  title: 'Overload',
  description:
    `A pool of ${'`'}cores${'`'} workers on \`${MODEL}\` with short texts, \`maxQueue: ${MAX_QUEUE}\` and the text cache off (other options default). Its capacity is measured first (closed loop, maxQueue / 2 = 64 callers); ` +
    'then calls arrive open-loop on a 1 ms timer at 2x and 10x that rate for a fixed time, regardless of answers. Reported: p50/p99 latency of admitted calls, ' +
    'how fast a refused call gets its QueueFullError, that every call is answered exactly once (completed + rejected = offered), and memory (RSS, heap) during the run.',
  async run(ctx) {
    const texts = textSet(10, 512);
    const pool = createPool(uncached({ model: MODEL, maxQueue: MAX_QUEUE }));
    await pool.ready();
    // Capacity with the queue half full: a pool that coalesces calls runs bigger batches (and more
    // texts per second) the more calls wait, so a shallow closed loop would understate it.
    const capacity = (await closedLoop((i) => pool.embed(texts[i % texts.length]!), MAX_QUEUE / 2, ctx.pick(2000, 300, 250), ctx.pick(300, 50, 50))).perSecond;
    const duration = ctx.pick(6000, 600, 400);
    const levels: LevelResult[] = [];
    for (const factor of [2, 10]) levels.push(await openLoop(pool, capacity * factor, duration, texts, factor));
    const stats = pool.stats();
    await pool.close();

    const lost = levels.reduce((s, l) => s + (l.offered - l.completed - l.rejected - l.otherErrors) + l.settledWrong, 0);
    const ten = levels[1]!;
    const two = levels[0]!;
    const heapGrowth = ten.memory.heapMaxMiB - two.memory.heapStartMiB;
    const statsBalanced = stats.requests === stats.completed + stats.errors + stats.rejected + stats.inFlight + stats.queued;
    return {
      model: MODEL,
      dtype: 'fp32',
      available: true,
      targets: [
        checkTarget('lost', 'calls lost or answered twice (every call answered exactly once)', lost, 0, false, '',
          'A call that is not answered exactly once is a bug in admission or close, not a tuning matter.'),
        checkTarget('rejection-p99', 'p99 time to a QueueFullError at 10x load (threshold set here: well under one model run)', ten.rejectionLatency.p99, 5, false, ' ms',
          'The facade refuses synchronously, so the time measured is the main thread being busy: the issuing timer fires late and issues a burst, and each refusal is seen only after the burst. ' +
            'A slow refusal means the main thread is saturated (answers arriving, other processes on the cores), not that the queue check is slow.'),
        checkTarget('heap', 'heap growth over both runs (bounded queue, bounded memory)', heapGrowth, 64, false, ' MiB',
          'Heap growing with offered load means something is kept per call that should not be.'),
      ],
      tables: [
        {
          title: `Open-loop overload, ${duration / 1000} s per level (capacity ${Math.round(capacity)} calls/s, maxQueue ${MAX_QUEUE})`,
          columns: ['load', 'offered/s', 'offered', 'completed', 'rejected', 'other errors', 'answered != once', 'admitted p50 ms', 'admitted p99 ms', 'rejection p50 ms', 'rejection p99 ms'],
          rows: levels.map((l) => [`${l.factor}x`, Math.round(l.offeredRate), l.offered, l.completed, l.rejected, l.otherErrors, l.settledWrong,
            round(l.admittedLatency.p50), round(l.admittedLatency.p99), round(l.rejectionLatency.p50), round(l.rejectionLatency.p99)]),
        },
        {
          title: 'Memory during each level, MiB',
          columns: ['load', 'RSS start', 'RSS max', 'RSS end', 'heap start', 'heap max', 'heap end', 'drain ms'],
          rows: levels.map((l) => [`${l.factor}x`, l.memory.rssStartMiB, l.memory.rssMaxMiB, l.memory.rssEndMiB, l.memory.heapStartMiB, l.memory.heapMaxMiB, l.memory.heapEndMiB, round(l.drainMs)]),
        },
      ],
      charts: [
        {
          id: 'outcomes',
          title: 'What happens to offered calls',
          type: 'bar',
          xLabel: 'offered load (x capacity)',
          yLabel: 'calls',
          x: levels.map((l) => `${l.factor}x`),
          series: [
            { name: 'offered', values: levels.map((l) => l.offered) },
            { name: 'completed', values: levels.map((l) => l.completed) },
            { name: 'rejected', values: levels.map((l) => l.rejected) },
          ],
        },
        {
          id: 'latency',
          title: 'Latency under overload (log scale)',
          type: 'bar',
          xLabel: 'offered load (x capacity)',
          yLabel: 'ms',
          yScale: 'log',
          x: levels.map((l) => `${l.factor}x`),
          series: [
            { name: 'admitted p50', values: levels.map((l) => l.admittedLatency.p50) },
            { name: 'admitted p99', values: levels.map((l) => l.admittedLatency.p99) },
            { name: 'rejection p50', values: levels.map((l) => l.rejectionLatency.p50) },
            { name: 'rejection p99', values: levels.map((l) => l.rejectionLatency.p99) },
          ],
        },
      ],
      notes: [
        `Admitted latency is bounded by the queue: about maxQueue / capacity = ${round((MAX_QUEUE / capacity) * 1000)} ms of waiting plus one call's run time.`,
        `After the runs the pool's own counters ${statsBalanced ? 'balance' : 'DO NOT balance'}: requests ${stats.requests} = completed ${stats.completed} + errors ${stats.errors} + rejected ${stats.rejected} + in flight ${stats.inFlight} + queued ${stats.queued}.`,
        'The timer that offers load runs on the same main thread that receives answers, so at 10x the offered rate is met only as far as the main thread keeps up; "offered" counts what was actually issued.',
      ],
      data: { features: featureDefaults(), capacity, maxQueue: MAX_QUEUE, durationMs: duration, levels, poolStats: { requests: stats.requests, completed: stats.completed, rejected: stats.rejected, errors: stats.errors } },
    };
  },
};

export default benchmark;
