import { performance } from 'node:perf_hooks';
import { Bench } from 'tinybench';
import { summarize, type Summary } from './stats.js';

export interface LoopResult {
  calls: number;
  seconds: number;
  perSecond: number;
  /** Per-call latency in ms. */
  latency: Summary;
}

/**
 * Closed loop: `inFlight` callers, each issuing its next call as soon as the last one answers,
 * for `durationMs` (after `warmupMs` untimed). The callable gets a running call number.
 */
export async function closedLoop(call: (i: number) => Promise<unknown>, inFlight: number, durationMs: number, warmupMs = 0): Promise<LoopResult> {
  let i = 0;
  if (warmupMs > 0) {
    const stop = performance.now() + warmupMs;
    await Promise.all(Array.from({ length: inFlight }, async () => {
      while (performance.now() < stop) await call(i++);
    }));
  }
  const latencies: number[] = [];
  const began = performance.now();
  const end = began + durationMs;
  let calls = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (performance.now() < end) {
      const t = performance.now();
      await call(i++);
      latencies.push(performance.now() - t);
      calls++;
    }
  }));
  const seconds = (performance.now() - began) / 1000;
  return { calls, seconds, perSecond: calls / seconds, latency: summarize(latencies) };
}

/**
 * Latency of a lone call (one in flight) for each named function, measured by tinybench side by
 * side in one run. Returns ms p50 / p99 / mean and ops/s per name.
 */
export async function loneLatency(
  tasks: Record<string, () => Promise<unknown> | unknown>,
  timeMs: number,
): Promise<Record<string, { p50: number; p99: number; mean: number; samples: number; hz: number }>> {
  const bench = new Bench({ time: timeMs, warmup: true, warmupTime: Math.min(200, timeMs / 4), iterations: 5 });
  for (const [name, fn] of Object.entries(tasks)) bench.add(name, fn);
  await bench.run();
  const out: Record<string, { p50: number; p99: number; mean: number; samples: number; hz: number }> = {};
  for (const task of bench.tasks) {
    const r = task.result;
    if (r.state !== 'completed') throw new Error(`benchmark task ${task.name} ended ${r.state}${'error' in r ? `: ${String(r.error)}` : ''}`);
    out[task.name] = { p50: r.latency.p50, p99: r.latency.p99, mean: r.latency.mean, samples: r.latency.samplesCount, hz: r.throughput.mean };
  }
  return out;
}
