import { closedLoop, type LoopResult } from './load.js';
import { summarize } from './stats.js';

/**
 * Measures several closed-loop subjects side by side: `rounds` rounds, each running every subject
 * for `durationMs / rounds` in turn, in the opposite order every other round. Use an even number
 * of rounds: where a subject falls in a round matters (two identical pools measured 5-20% apart
 * in 3 rounds, the one that came first in two of them slower), and only an even number gives every
 * subject each place equally often. A burst of other work on the machine then lands on all of
 * them alike instead of on whichever subject happened to be running. Each slice starts with
 * `warmupMs` untimed; the first round's with `firstWarmupMs` (code that has never run yet, in the
 * main thread and in a pool's workers, runs unoptimised at first: the subject that happens to come
 * first would pay for it). Returns, per subject, the calls over the summed time and the latency
 * summary of the round medians' calls.
 */
export async function interleaved(
  subjects: Record<string, { call: (i: number) => Promise<unknown>; inFlight: number }>,
  rounds: number,
  durationMs: number,
  warmupMs: number,
  firstWarmupMs = warmupMs,
): Promise<Record<string, LoopResult>> {
  const parts: Record<string, LoopResult[]> = Object.fromEntries(Object.keys(subjects).map((k) => [k, []]));
  const slice = durationMs / rounds;
  for (let r = 0; r < rounds; r++) {
    // Alternate the order each round, so no subject always follows the same one.
    const names = Object.keys(subjects);
    if (r % 2 === 1) names.reverse();
    for (const name of names) {
      const s = subjects[name]!;
      parts[name]!.push(await closedLoop(s.call, s.inFlight, slice, r === 0 ? firstWarmupMs : warmupMs));
    }
  }
  const out: Record<string, LoopResult> = {};
  for (const [name, list] of Object.entries(parts)) {
    const calls = list.reduce((a, p) => a + p.calls, 0);
    const seconds = list.reduce((a, p) => a + p.seconds, 0);
    // Percentiles of the whole run are not recoverable from per-round summaries; the median
    // round's figures are reported, the worst round's p99 kept as max.
    const p50s = summarize(list.map((p) => p.latency.p50));
    const p99s = summarize(list.map((p) => p.latency.p99));
    out[name] = {
      calls,
      seconds,
      perSecond: calls / seconds,
      latency: { n: calls, mean: list.reduce((a, p) => a + p.latency.mean * p.calls, 0) / Math.max(calls, 1), p50: p50s.p50, p99: p99s.p50, min: Math.min(...list.map((p) => p.latency.min)), max: p99s.max },
    };
  }
  return out;
}
