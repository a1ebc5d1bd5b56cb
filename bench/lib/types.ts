import type { ChartSpec } from './svg.js';
import type { MachineInfo } from './machine.js';

/** How long and how hard a benchmark runs. */
export interface BenchContext {
  /** `--quick`: the whole suite in under a minute; numbers are rough. */
  quick: boolean;
  /** `--tiny`: smaller still, only to check that a benchmark runs and writes its JSON. */
  tiny: boolean;
  /** Picks the setting for the current mode. */
  pick<T>(full: T, quick: T, tiny?: T): T;
  cores: number;
}

export interface Table {
  title: string;
  columns: string[];
  rows: (string | number | null)[][];
}

/** One target from the benchmark's brief, checked against this run. */
export interface TargetCheck {
  id: string;
  description: string;
  /** The target, in words, e.g. ">= 100x". */
  target: string;
  value: number;
  unit: string;
  /** null when this run could not measure it. */
  met: boolean | null;
  /** How far off (or how much headroom), in words. */
  margin: string;
  /** Why it was missed and what would close the gap; empty when met. */
  why?: string;
}

/** What a benchmark returns; the runner adds the machine, mode and timing. */
export interface BenchBody {
  /** The model the headline figures use, and its dtype. */
  model: string;
  dtype: string;
  /** Which model each part used, when more than one. */
  models?: Record<string, string>;
  /** False when the build lacks what the benchmark measures (it then runs what it can). */
  available: boolean;
  unavailableReason?: string;
  targets: TargetCheck[];
  tables: Table[];
  charts: ChartSpec[];
  notes: string[];
  /** Raw figures, for anyone who wants to plot them differently. */
  data: Record<string, unknown>;
}

export interface BenchResult extends BenchBody {
  schema: 1;
  name: string;
  title: string;
  description: string;
  mode: 'full' | 'quick' | 'tiny';
  date: string;
  durationMs: number;
  machine: MachineInfo;
  /** WARMPOOL_* variables in effect (quick and tiny runs turn preallocate off); absent in older results. */
  poolEnv?: Record<string, string | undefined>;
}

export interface Benchmark {
  name: string;
  title: string;
  /** What it measures, one paragraph (goes into the report). */
  description: string;
  run(ctx: BenchContext): Promise<BenchBody>;
}

/**
 * Checks a measured value against a threshold and says by how much it was met or missed.
 * `higher`: true when bigger is better (throughput, speed-up), false for latency and cost.
 */
export function checkTarget(
  id: string,
  description: string,
  value: number,
  threshold: number,
  higher: boolean,
  unit: string,
  why: string,
): TargetCheck {
  const show = (v: number): string => `${Number(v.toPrecision(3))}${unit}`;
  const target = `${higher ? '>=' : '<='} ${show(threshold)}`;
  if (!Number.isFinite(value)) return { id, description, target, value, unit, met: null, margin: 'not measured', why };
  const met = higher ? value >= threshold : value <= threshold;
  if (threshold === 0) {
    return met ? { id, description, target, value, unit, met, margin: `met: ${show(value)}` } : { id, description, target, value, unit, met, margin: `missed: ${show(value)}`, why };
  }
  const ratio = higher ? value / threshold : threshold / value;
  const margin = met
    ? `met: ${show(value)}, ${ratio >= 1.005 ? `${((ratio - 1) * 100).toFixed(0)}% headroom` : 'at the line'}`
    : `missed: ${show(value)}, ${((1 - ratio) * 100).toFixed(0)}% short (needs ${(1 / ratio).toFixed(2)}x)`;
  return met ? { id, description, target, value, unit, met, margin } : { id, description, target, value, unit, met, margin, why };
}
