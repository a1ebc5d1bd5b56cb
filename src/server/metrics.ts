/**
 * Prometheus metrics on a registry of this server's own (never prom-client's global one, so two
 * servers in one process, or an app's own metrics, never collide). Pool figures are read from
 * `pool.stats()` when scraped, not counted twice.
 *
 * A pool of one model exports each pool metric as one series without a `model` label, as it
 * always did; a pool of several models exports one series per model, labelled `model="<name>"`
 * (its name in the pool), and no unlabelled series: summing over `model` gives the pool's figure.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { WarmPool } from '../pool.js';
import type { Replica, ReplicaHealth } from '../replica/replica.js';
import type { StatsSnapshot } from '../stats.js';

export interface ServerMetrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
  httpInFlight: Gauge;
}

const POOL_COUNTERS: [keyof StatsSnapshot, string, string][] = [
  ['requests', 'warmpool_requests_total', 'Calls made to the pool'],
  ['completed', 'warmpool_completed_total', 'Calls answered with vectors'],
  ['errors', 'warmpool_errors_total', 'Calls that failed after admission or with bad input'],
  ['rejected', 'warmpool_rejected_total', 'Calls refused without running (queue full, pool closed)'],
  ['queueTimeouts', 'warmpool_queue_timeouts_total', 'Calls that waited longer than queueTimeout'],
  ['aborted', 'warmpool_aborted_total', 'Calls whose signal fired'],
  ['timeouts', 'warmpool_timeouts_total', 'Calls that ran longer than their timeout'],
  ['invalidInputs', 'warmpool_invalid_inputs_total', 'Calls refused for bad input'],
  ['texts', 'warmpool_texts_total', 'Texts embedded'],
  ['tokens', 'warmpool_tokens_total', 'Tokens the model saw'],
  ['modelLoads', 'warmpool_model_loads_total', 'Model loads since the pool started'],
  ['batchRequests', 'warmpool_batch_requests_total', "Calls made in the batch lane (priority 'batch'); the rest of warmpool_requests_total were interactive"],
];

const POOL_GAUGES: [keyof StatsSnapshot, string, string][] = [
  ['queued', 'warmpool_queue_depth', 'Calls waiting for a worker now, both lanes'],
  ['queuedBatch', 'warmpool_queue_depth_batch', "Calls of the batch lane waiting for a worker now"],
  ['inFlight', 'warmpool_in_flight', 'Calls running on a worker now'],
  ['workersReady', 'warmpool_workers_ready', 'Warm workers now'],
];

const QUANTILES = [
  ['0.5', 'p50'],
  ['0.9', 'p90'],
  ['0.99', 'p99'],
  ['1', 'max'],
] as const;

export function createMetrics(pool: WarmPool, processMetrics: boolean, replica?: Replica): ServerMetrics {
  const registry = new Registry();
  const registers = [registry];
  // One snapshot per scrape, shared by every collect() of that scrape.
  let snapshot: StatsSnapshot | undefined;
  let takenAt = 0;
  const stats = (): StatsSnapshot => {
    const now = Date.now();
    if (!snapshot || now - takenAt > 50) {
      snapshot = pool.stats();
      takenAt = now;
    }
    return snapshot;
  };

  /** Each model's snapshot with its labels: `{}` alone in a pool of one model, `{ model }` each in a pool of several. */
  const perModel = (): [{ model?: string }, StatsSnapshot][] => {
    const snap = stats();
    return snap.models === undefined ? [[{}, snap]] : Object.entries(snap.models).map(([model, s]) => [{ model }, s]);
  };

  for (const [field, name, help] of POOL_COUNTERS) {
    new Counter({
      name,
      help,
      labelNames: ['model'],
      registers,
      collect() {
        // The pool's counter is the truth; the metric mirrors it at scrape time.
        this.reset();
        for (const [labels, s] of perModel()) this.inc(labels, s[field] as number);
      },
    });
  }
  for (const [field, name, help] of POOL_GAUGES) {
    new Gauge({
      name,
      help,
      labelNames: ['model'],
      registers,
      collect() {
        this.reset();
        for (const [labels, s] of perModel()) this.set(labels, s[field] as number);
      },
    });
  }
  // The process's memory (pool.stats().memory): Pss counts shared pages (mapped model weights) once.
  for (const [field, name, help] of [
    ['rssBytes', 'warmpool_process_rss_bytes', 'Resident memory of the process (pages shared between workers counted once per mapping)'],
    ['pssBytes', 'warmpool_process_pss_bytes', 'Proportional memory of the process (Linux): shared pages counted once; what the process really costs'],
  ] as const) {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        const value = stats().memory?.[field];
        this.reset();
        if (value !== undefined) this.set(value);
      },
    });
  }
  // What one more worker of each model is estimated to cost (stats().memory.perWorkerBytes), to size a pool.
  new Gauge({
    name: 'warmpool_worker_memory_estimate_bytes',
    help: "Estimated memory one more worker of the model costs; label estimate: 'marginal' (measured between two worker counts) or 'average' ((Pss - baseline) / workers, overstates)",
    labelNames: ['model', 'estimate'],
    registers,
    collect() {
      this.reset();
      for (const [labels, s] of perModel()) {
        const m = s.memory;
        if (m?.perWorkerBytes !== undefined && m.perWorkerEstimate !== undefined) this.set({ ...labels, estimate: m.perWorkerEstimate }, m.perWorkerBytes);
      }
    },
  });
  for (const [field, name, help] of [
    ['waitTime', 'warmpool_wait_seconds', 'Time calls waited in the admission queue (quantiles over the pool lifetime)'],
    ['runTime', 'warmpool_run_seconds', 'Time from dispatch to answer (quantiles over the pool lifetime)'],
    ['interactiveWaitTime', 'warmpool_interactive_wait_seconds', 'Time interactive calls waited in the admission queue (quantiles over the pool lifetime)'],
  ] as const) {
    new Gauge({
      name,
      help,
      labelNames: ['model', 'quantile'],
      registers,
      collect() {
        this.reset();
        for (const [labels, s] of perModel()) for (const [quantile, key] of QUANTILES) this.set({ ...labels, quantile }, s[field][key] / 1000);
      },
    });
    new Counter({
      name: `${name}_count`,
      help: `Calls measured by ${name}`,
      labelNames: ['model'],
      registers,
      collect() {
        this.reset();
        for (const [labels, s] of perModel()) this.inc(labels, s[field].count);
      },
    });
  }

  const workerLabels = ['model', 'slot', 'thread_id'] as const;
  /** Every worker of every model, with its labels (`model` only in a pool of several models). */
  const workers = () => perModel().flatMap(([labels, s]) => s.workers.map((w) => [{ ...labels, slot: String(w.slot), thread_id: String(w.threadId) }, w] as const));
  const perWorker = <T extends 'tasks' | 'errors' | 'texts' | 'busy' | 'loadMs'>(field: T, scale = 1) =>
    function collect(this: Gauge<(typeof workerLabels)[number]>) {
      this.reset();
      for (const [labels, w] of workers()) this.set(labels, w[field] * scale);
    };
  new Counter({
    name: 'warmpool_worker_tasks_total',
    help: 'Tasks each worker has run (a task carries one or more coalesced calls)',
    labelNames: workerLabels,
    registers,
    collect() {
      this.reset();
      for (const [labels, w] of workers()) this.inc(labels, w.tasks);
    },
  });
  new Counter({
    name: 'warmpool_worker_errors_total',
    help: 'Calls that failed on each worker',
    labelNames: workerLabels,
    registers,
    collect() {
      this.reset();
      for (const [labels, w] of workers()) this.inc(labels, w.errors);
    },
  });
  new Counter({
    name: 'warmpool_worker_texts_total',
    help: 'Texts each worker has embedded',
    labelNames: workerLabels,
    registers,
    collect() {
      this.reset();
      for (const [labels, w] of workers()) this.inc(labels, w.texts);
    },
  });
  new Gauge({ name: 'warmpool_worker_busy', help: 'Calls each worker runs now', labelNames: workerLabels, registers, collect: perWorker('busy') });
  new Gauge({ name: 'warmpool_worker_load_seconds', help: 'Time each worker took to load its model', labelNames: workerLabels, registers, collect: perWorker('loadMs', 1 / 1000) });
  new Gauge({
    name: 'warmpool_worker_state',
    help: 'Each worker slot state (1 for the current state)',
    labelNames: [...workerLabels, 'state'],
    registers,
    collect() {
      this.reset();
      for (const [labels, w] of workers()) this.set({ ...labels, state: w.state }, 1);
    },
  });

  if (replica) {
    // How stale this replica's copy may be: entries behind the log, and time since Redis answered.
    for (const [name, help, value] of [
      ['warmpool_replica_applied_position', 'Log position of the last entry this replica applied', (h: ReplicaHealth) => h.applied],
      ['warmpool_replica_behind_entries', 'Log entries this replica has not applied yet (as of the last answer from Redis)', (h: ReplicaHealth) => h.behind],
      ['warmpool_replica_seconds_since_heard', 'Seconds since Redis last answered this replica (-1: never)', (h: ReplicaHealth) => h.secondsSinceHeard ?? -1],
      ['warmpool_replica_halted', '1 when the replica stopped at a log entry it cannot apply (see /health)', (h: ReplicaHealth) => (h.state === 'halted' ? 1 : 0)],
    ] as const) {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value(replica.health()));
        },
      });
    }
  }

  const httpRequests = new Counter({
    name: 'warmpool_http_requests_total',
    help: 'HTTP requests answered, by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers,
  });
  const httpDuration = new Histogram({
    name: 'warmpool_http_request_duration_seconds',
    help: 'HTTP request latency, from the request to the last byte of the answer',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const httpInFlight = new Gauge({ name: 'warmpool_http_in_flight', help: 'HTTP requests being answered now', registers });
  if (processMetrics) collectDefaultMetrics({ register: registry });
  return { registry, httpRequests, httpDuration, httpInFlight };
}
