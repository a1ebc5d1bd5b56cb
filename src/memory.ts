/**
 * The process's memory, and an estimate of what one worker of a model costs, so that a pool can
 * be sized: `pool.stats().memory` and the `warmpool_worker_memory_estimate_bytes` gauge.
 *
 * Threads share one address space: no figure of the kernel belongs to one worker. So the pool
 * reads the process's Pss (RSS where there is none) at moments when its workers are settled (none
 * of any model loading): before its first worker starts (the baseline) and each time a worker has
 * become ready. Each sample is kept by how many workers of each model were warm. From those:
 *
 * - `marginal`: when samples exist at two different counts of the model's workers (both at least
 *   one, the other models' counts the same), the step between the fewest and the most, per
 *   worker: what one more worker adds, the shared weights and the library's code counted once.
 *   The better figure; known once the pool has grown (or been scaled) at least once.
 * - `average`: otherwise, (Pss now - baseline) / workers warm now, over every model's workers. It
 *   counts the pool's one-time costs (the mapped weights, the library's code) in every worker's
 *   share, so it overstates the cost of one more worker, the more so the fewer workers there are.
 *
 * Limits: samples taken at ready include no call's memory yet (a worker's arena grows with its
 * first large batches), while `average` reads Pss now; anything else the process allocates
 * between two samples is counted as the workers'. An estimate, to size a pool, not an account.
 */
import { readFileSync } from 'node:fs';

/** What `stats().memory` holds. */
export interface MemorySnapshot {
  /** Resident memory of the process (pages shared between mappings counted once per mapping). */
  rssBytes: number;
  /** Proportional memory of the process (Linux): shared pages counted once. */
  pssBytes: number | undefined;
  /** Pss (RSS where there is no Pss) before the pool's first worker started, or after every worker had left. */
  baselineBytes?: number;
  /** The estimated bytes one more worker of this model costs (see `perWorkerEstimate`); absent until a worker has been ready. */
  perWorkerBytes?: number;
  /**
   * How `perWorkerBytes` was estimated: `marginal` (the step measured between two counts of this
   * model's workers) or `average` ((Pss - baseline) / workers: counts one-time costs too, so it overstates).
   */
  perWorkerEstimate?: 'marginal' | 'average';
}

/** The process's memory now: RSS, and on Linux Pss (from /proc/self/smaps_rollup, about 0.3 ms). */
export function processMemory(): { rssBytes: number; pssBytes: number | undefined } {
  let pssBytes: number | undefined;
  try {
    const match = /^Pss:\s+(\d+) kB/m.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'));
    if (match) pssBytes = Number(match[1]) * 1024;
  } catch {
    // Not Linux, or no smaps_rollup (kernels before 4.14): RSS only.
  }
  return { rssBytes: process.memoryUsage.rss(), pssBytes };
}

/** Each model's workers now: warm ones, and whether any is still loading. */
export type Census = Map<string, { warm: number; loading: boolean }>;

interface Sample {
  counts: Record<string, number>;
  bytes: number;
  seq: number;
}

/** Samples kept: one per distinct set of counts, the oldest dropped past this. */
const MAX_SAMPLES = 64;

const bytesOf = (m: { rssBytes: number; pssBytes: number | undefined }): number => m.pssBytes ?? m.rssBytes;

export class MemoryTracker {
  readonly #census: () => Census;
  readonly #read: () => { rssBytes: number; pssBytes: number | undefined };
  readonly #samples = new Map<string, Sample>();
  #seq = 0;
  /** The last estimate of each model, kept while it has no worker (scaled to zero, unloaded). */
  readonly #last = new Map<string, { bytes: number; how: 'marginal' | 'average' }>();

  constructor(census: () => Census, read = processMemory) {
    this.#census = census;
    this.#read = read;
  }

  /**
   * Called before a model starts its first worker and whenever a worker became ready: samples
   * the process when no worker of any model is loading.
   */
  settled(): void {
    const census = this.#census();
    const counts: Record<string, number> = {};
    for (const [name, c] of census) {
      if (c.loading) return;
      counts[name] = c.warm;
    }
    const key = JSON.stringify(counts);
    this.#samples.delete(key);
    this.#samples.set(key, { counts, bytes: bytesOf(this.#read()), seq: ++this.#seq });
    if (this.#samples.size > MAX_SAMPLES) this.#samples.delete(this.#samples.keys().next().value!);
  }

  /** The baseline: the latest sample with no worker of any model. */
  #baseline(): number | undefined {
    let best: Sample | undefined;
    for (const s of this.#samples.values()) if (Object.values(s.counts).every((n) => n === 0) && (!best || s.seq > best.seq)) best = s;
    return best?.bytes;
  }

  /** `memory` of a stats snapshot for `model`, given the process's memory now (read once per snapshot). */
  snapshot(model: string, now: { rssBytes: number; pssBytes: number | undefined }): MemorySnapshot {
    const out: MemorySnapshot = { ...now };
    const baseline = this.#baseline();
    if (baseline !== undefined) out.baselineBytes = baseline;
    const estimate = this.#marginal(model) ?? this.#average(bytesOf(now), baseline);
    if (estimate) this.#last.set(model, estimate);
    const kept = estimate ?? this.#last.get(model);
    if (kept) {
      out.perWorkerBytes = Math.round(kept.bytes);
      out.perWorkerEstimate = kept.how;
    }
    return out;
  }

  /** The step between the fewest and the most of the model's workers, the other models' counts as in the latest sample. */
  #marginal(model: string): { bytes: number; how: 'marginal' } | undefined {
    let latest: Sample | undefined;
    for (const s of this.#samples.values()) if ((s.counts[model] ?? 0) > 0 && (!latest || s.seq > latest.seq)) latest = s;
    if (!latest) return undefined;
    const others = (s: Sample): string => JSON.stringify(Object.entries(s.counts).filter(([name]) => name !== model));
    const group = others(latest);
    let low: Sample | undefined;
    let high: Sample | undefined;
    for (const s of this.#samples.values()) {
      const n = s.counts[model] ?? 0;
      if (n < 1 || others(s) !== group) continue;
      if (!low || n < low.counts[model]!) low = s;
      if (!high || n > high.counts[model]!) high = s;
    }
    if (!low || !high || low === high) return undefined;
    const step = (high.bytes - low.bytes) / (high.counts[model]! - low.counts[model]!);
    // A step below zero is noise (memory returned between the samples): no estimate from it.
    return step > 0 ? { bytes: step, how: 'marginal' } : undefined;
  }

  /** (now - baseline) / every warm worker of every model. */
  #average(now: number, baseline: number | undefined): { bytes: number; how: 'average' } | undefined {
    if (baseline === undefined) return undefined;
    let workers = 0;
    for (const c of this.#census().values()) workers += c.warm;
    if (workers === 0 || now <= baseline) return undefined;
    return { bytes: (now - baseline) / workers, how: 'average' };
  }
}
