/**
 * Pool statistics in one SharedArrayBuffer, updated with Atomics: lock-free, readable from any
 * thread that holds the buffer (see {@link readStats}), and cheap enough for the hot path
 * (an `Atomics.add` is ~10 ns here).
 *
 * Layout (little-endian, fixed for a given slot count):
 *   Int32 region:    header [magic, version, workerSlots, 0] | gauges | wait histogram | run histogram |
 *                    interactive wait histogram | worker int fields
 *   BigInt64 region: counters | worker 64-bit counters
 */
import type { MemorySnapshot } from './memory.js';

const MAGIC = 0x57504f4c; // "WPOL"
const VERSION = 4;

export const COUNTERS = [
  'requests',
  'completed',
  'errors',
  'rejected',
  'queueTimeouts',
  'aborted',
  'timeouts',
  'invalidInputs',
  'modelLoads',
  'texts',
  'tokens',
  'cacheHits',
  'cacheMisses',
  'tasks',
  'retries',
  'workerCrashes',
  'workersHung',
  'loadFailures',
  'reloads',
  'recycled',
  'docsIndexed',
  'docsDeleted',
  'searches',
  'collectionsExpired',
  'indexRestarts',
  /** Calls made in the batch lane (`priority: 'batch'`); the rest of `requests` were interactive. */
  'batchRequests',
] as const;
export type Counter = (typeof COUNTERS)[number];

/** `queued` counts both lanes; `queuedBatch` the batch lane's share of it. */
export const GAUGES = ['queued', 'inFlight', 'workersReady', 'queuedBatch'] as const;
export type Gauge = (typeof GAUGES)[number];

const WORKER_INTS = ['state', 'threadId', 'busy', 'loadMs', 'heartbeat', 'inNative', 'lastMs', 'heapMb', 'stopNative'] as const;
type WorkerInt = (typeof WORKER_INTS)[number];
const WORKER_BIGS = ['tasks', 'errors', 'texts'] as const;
// Each worker's fields get 64-byte cache lines of their own: workers update them from different
// cores, and sharing a line would make every update bounce it between caches.
const INT_STRIDE = 16;
const BIG_STRIDE = 8;
const alignUp = (n: number, to: number): number => Math.ceil(n / to) * to;

export const WorkerState = { free: 0, loading: 1, ready: 2, failed: 3, exited: 4 } as const;
const STATE_NAMES = ['free', 'loading', 'ready', 'failed', 'exited'] as const;
export type WorkerStateName = (typeof STATE_NAMES)[number];

/**
 * Log-linear histogram of microseconds: values below 16 get a bucket each, then 8 buckets per
 * power of two (at most ~6% error), up to 2^31 us (~36 min); larger values land in the last one.
 */
const LINEAR = 16;
const SUB_BITS = 3;
const SUBS = 1 << SUB_BITS;
export const HISTOGRAM_BUCKETS = LINEAR + (31 - 4) * SUBS;

export function bucketOf(micros: number): number {
  if (!(micros >= 0)) return 0;
  if (micros < LINEAR) return Math.floor(micros);
  if (micros >= 2 ** 31) return HISTOGRAM_BUCKETS - 1;
  const v = micros >>> 0;
  const exp = 31 - Math.clz32(v);
  const sub = (v >>> (exp - SUB_BITS)) & (SUBS - 1);
  return Math.min(LINEAR + (exp - 4) * SUBS + sub, HISTOGRAM_BUCKETS - 1);
}

/** The upper bound (exclusive) of a bucket, in microseconds. */
export function bucketUpper(index: number): number {
  if (index < LINEAR) return index + 1;
  const exp = 4 + Math.floor((index - LINEAR) / SUBS);
  const sub = (index - LINEAR) % SUBS;
  return (SUBS + sub + 1) * 2 ** (exp - SUB_BITS);
}

interface Layout {
  slots: number;
  gauges: number;
  waitHist: number;
  runHist: number;
  interactiveWaitHist: number;
  workerInts: number;
  int32Length: number;
  bigOffsetBytes: number;
  counters: number;
  workerBigs: number;
  bigLength: number;
  byteLength: number;
}

function layout(slots: number): Layout {
  const gauges = 4;
  const waitHist = gauges + GAUGES.length;
  const runHist = waitHist + HISTOGRAM_BUCKETS;
  const interactiveWaitHist = runHist + HISTOGRAM_BUCKETS;
  const workerInts = alignUp(interactiveWaitHist + HISTOGRAM_BUCKETS, INT_STRIDE);
  const int32Length = workerInts + slots * INT_STRIDE;
  const bigOffsetBytes = alignUp(int32Length * 4, 64);
  const counters = 0;
  const workerBigs = alignUp(COUNTERS.length, BIG_STRIDE);
  const bigLength = workerBigs + slots * BIG_STRIDE;
  return {
    slots, gauges, waitHist, runHist, interactiveWaitHist, workerInts, int32Length, bigOffsetBytes, counters, workerBigs, bigLength,
    byteLength: bigOffsetBytes + bigLength * 8,
  };
}

const counterIndex = Object.fromEntries(COUNTERS.map((name, i) => [name, i])) as Record<Counter, number>;
const gaugeIndex = Object.fromEntries(GAUGES.map((name, i) => [name, i])) as Record<Gauge, number>;

/** Percentiles of a histogram, in milliseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface WorkerStats {
  slot: number;
  threadId: number;
  /** The worker's slot in the shared stats: `free`, `loading`, `ready`, `failed`, `exited`. (The supervisor's view of a worker is `health().workers[].phase`.) */
  state: WorkerStateName;
  busy: number;
  /** Tasks the worker ran; one task carries one or more calls coalesced together (the pool's `requests` counts calls). */
  tasks: number;
  errors: number;
  texts: number;
  /** Milliseconds the worker took to load its model. */
  loadMs: number;
  /** Milliseconds its last task took. */
  lastMs: number;
  /** MiB of V8 heap the worker used after its last task. */
  heapMb: number;
}

/** A plain snapshot of the pool's counters; a fresh object on every call. */
export interface StatsSnapshot extends Record<Counter, number>, Record<Gauge, number> {
  /** Time calls waited in the admission queue. */
  waitTime: LatencySummary;
  /** Time interactive calls (the default lane) waited in the admission queue: what users feel while bulk work runs. */
  interactiveWaitTime: LatencySummary;
  /** Time from dispatch to answer, for calls that reached a worker. */
  runTime: LatencySummary;
  /** Workers that hold (or held) a slot, by slot. */
  workers: WorkerStats[];
  /**
   * `pool.stats()` of a pool of several models: each model's snapshot, by name (the top-level
   * figures are the embedding model's). Each model has a stats buffer of its own (`pool.statsBuffers`).
   */
  models?: Record<string, StatsSnapshot>;
  /**
   * `pool.stats()` only: the process's memory now, `rssBytes` and, on Linux, `pssBytes` (pages
   * shared with other processes or mapped twice counted once; with every worker unloaded, what
   * the app pays at rest), with `baselineBytes` (before the first worker) and the estimated cost
   * of one more worker of this model, `perWorkerBytes`, and how it was estimated,
   * `perWorkerEstimate` (`marginal` or `average`: see docs/performance.md, Memory).
   */
  memory?: MemorySnapshot;
}

/** Typed views over a stats buffer; shared by the writer on the main thread, workers and readers. */
export class StatsView {
  readonly buffer: SharedArrayBuffer;
  protected readonly i32: Int32Array;
  protected readonly big: BigInt64Array;
  protected readonly l: Layout;

  constructor(buffer: SharedArrayBuffer) {
    const head = new Int32Array(buffer, 0, 4);
    if (head[0] !== MAGIC || head[1] !== VERSION) {
      throw new TypeError('the buffer is not a warmpool stats buffer (or comes from another version)');
    }
    this.buffer = buffer;
    this.l = layout(head[2]!);
    this.i32 = new Int32Array(buffer, 0, this.l.int32Length);
    this.big = new BigInt64Array(buffer, this.l.bigOffsetBytes, this.l.bigLength);
  }

  static create(workerSlots: number): SharedArrayBuffer {
    const buffer = new SharedArrayBuffer(layout(workerSlots).byteLength);
    const head = new Int32Array(buffer, 0, 4);
    head[0] = MAGIC;
    head[1] = VERSION;
    head[2] = workerSlots;
    return buffer;
  }

  get workerSlots(): number {
    return this.l.slots;
  }

  counter(name: Counter): number {
    return Number(Atomics.load(this.big, this.l.counters + counterIndex[name]));
  }

  gauge(name: Gauge): number {
    return Atomics.load(this.i32, this.l.gauges + gaugeIndex[name]);
  }

  snapshot(): StatsSnapshot {
    const out = {} as StatsSnapshot;
    for (const name of COUNTERS) out[name] = this.counter(name);
    for (const name of GAUGES) out[name] = this.gauge(name);
    out.waitTime = this.#summary(this.l.waitHist);
    out.runTime = this.#summary(this.l.runHist);
    out.interactiveWaitTime = this.#summary(this.l.interactiveWaitHist);
    out.workers = [];
    for (let slot = 0; slot < this.l.slots; slot++) {
      const w = this.#workerInt(slot, 0);
      const state = Atomics.load(this.i32, w);
      if (state === WorkerState.free) continue;
      const b = this.#workerBig(slot, 0);
      out.workers.push({
        slot,
        state: STATE_NAMES[state] ?? 'exited',
        threadId: Atomics.load(this.i32, w + 1),
        busy: Atomics.load(this.i32, w + 2),
        loadMs: Atomics.load(this.i32, w + 3),
        lastMs: Atomics.load(this.i32, w + 6) / 1000,
        heapMb: Atomics.load(this.i32, w + 7),
        tasks: Number(Atomics.load(this.big, b)),
        errors: Number(Atomics.load(this.big, b + 1)),
        texts: Number(Atomics.load(this.big, b + 2)),
      });
    }
    return out;
  }

  #summary(offset: number): LatencySummary {
    const counts = new Array<number>(HISTOGRAM_BUCKETS);
    let total = 0;
    let top = -1;
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
      const c = Atomics.load(this.i32, offset + i) >>> 0;
      counts[i] = c;
      total += c;
      if (c > 0) top = i;
    }
    const at = (q: number): number => {
      if (total === 0) return 0;
      const rank = Math.ceil(q * total);
      let seen = 0;
      for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
        seen += counts[i]!;
        if (seen >= rank) return bucketUpper(i) / 1000;
      }
      return bucketUpper(HISTOGRAM_BUCKETS - 1) / 1000;
    };
    return { count: total, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: top < 0 ? 0 : bucketUpper(top) / 1000 };
  }

  protected addCounter(name: Counter, by: number): void {
    Atomics.add(this.big, this.l.counters + counterIndex[name], BigInt(by));
  }

  protected incCounter(name: Counter): void {
    Atomics.add(this.big, this.l.counters + counterIndex[name], 1n);
  }

  protected addGauge(name: Gauge, by: number): void {
    Atomics.add(this.i32, this.l.gauges + gaugeIndex[name], by);
  }

  protected record(offset: number, ms: number): void {
    Atomics.add(this.i32, offset + bucketOf(ms * 1000), 1);
  }

  #workerInt(slot: number, field: number): number {
    return this.l.workerInts + slot * INT_STRIDE + field;
  }

  #workerBig(slot: number, field: number): number {
    return this.l.workerBigs + slot * BIG_STRIDE + field;
  }

  protected slotState(slot: number): number {
    return Atomics.load(this.i32, this.#workerInt(slot, 0));
  }

  protected setSlotState(slot: number, state: number): void {
    Atomics.store(this.i32, this.#workerInt(slot, 0), state);
  }

  /** Claims a free (or exited) slot for a new worker; -1 when every slot is live. */
  protected claimSlot(threadId: number): number {
    for (const reusable of [WorkerState.free, WorkerState.exited]) {
      for (let slot = 0; slot < this.l.slots; slot++) {
        const w = this.#workerInt(slot, 0);
        if (Atomics.compareExchange(this.i32, w, reusable, WorkerState.loading) === reusable) {
          Atomics.store(this.i32, w + 1, threadId);
          for (let f = 2; f < WORKER_INTS.length; f++) Atomics.store(this.i32, w + f, 0);
          const b = this.#workerBig(slot, 0);
          for (let f = 0; f < WORKER_BIGS.length; f++) Atomics.store(this.big, b + f, 0n);
          return slot;
        }
      }
    }
    return -1;
  }

  protected workerAdd(slot: number, field: WorkerInt, by: number): void {
    if (slot >= 0) Atomics.add(this.i32, this.#workerInt(slot, WORKER_INTS.indexOf(field)), by);
  }

  protected workerSet(slot: number, field: WorkerInt, value: number): void {
    if (slot >= 0) Atomics.store(this.i32, this.#workerInt(slot, WORKER_INTS.indexOf(field)), value);
  }

  protected workerGet(slot: number, field: WorkerInt): number {
    return slot >= 0 ? Atomics.load(this.i32, this.#workerInt(slot, WORKER_INTS.indexOf(field))) : 0;
  }

  protected workerInc(slot: number, field: (typeof WORKER_BIGS)[number], by = 1): void {
    if (slot >= 0) Atomics.add(this.big, this.#workerBig(slot, WORKER_BIGS.indexOf(field)), BigInt(by));
  }

  protected findSlot(threadId: number): number {
    for (let slot = 0; slot < this.l.slots; slot++) {
      const w = this.#workerInt(slot, 0);
      const state = Atomics.load(this.i32, w);
      if (state !== WorkerState.free && state !== WorkerState.exited && Atomics.load(this.i32, w + 1) === threadId) return slot;
    }
    return -1;
  }
}

/** The main thread's writer: request counters, gauges and latency histograms. */
export class PoolStats extends StatsView {
  inc(name: Counter, by = 1): void {
    if (by === 1) this.incCounter(name);
    else this.addCounter(name, by);
  }

  gaugeAdd(name: Gauge, by: number): void {
    this.addGauge(name, by);
  }

  recordWait(ms: number, interactive = true): void {
    this.record(this.l.waitHist, ms);
    if (interactive) this.record(this.l.interactiveWaitHist, ms);
  }

  recordRun(ms: number): void {
    this.record(this.l.runHist, ms);
  }

  /** The stats slot of a live worker, or -1. */
  slotOf(threadId: number): number {
    return this.findSlot(threadId);
  }

  /** A worker's heartbeat count: it grows while the worker's event loop runs. */
  heartbeat(slot: number): number {
    return this.workerGet(slot, 'heartbeat');
  }

  /** MiB of V8 heap a worker used after its last task. */
  heapMb(slot: number): number {
    return this.workerGet(slot, 'heapMb');
  }

  /** Tasks a worker runs right now. */
  busy(slot: number): number {
    return this.workerGet(slot, 'busy');
  }

  /** Whether a worker is inside a model run (native code) right now. */
  inNative(slot: number): boolean {
    return this.workerGet(slot, 'inNative') !== 0;
  }

  /**
   * Tells a worker that the pool is ending it, so it must enter native code (a load, a run, freeing
   * a session) no more, then says whether it is inside now. The worker announces native work first
   * and reads this flag after (see WorkerStatsWriter.enterNative), and both sides use sequentially
   * consistent atomics: so either the pool sees it inside, or it sees the flag and never enters.
   * When this returns false the thread can be terminated safely; when true, the pool asks again
   * (the flag stays up: the thread does not enter again). A thread terminated inside onnxruntime
   * or usearch aborts the whole process.
   */
  stopNative(slot: number): boolean {
    this.workerSet(slot, 'stopNative', 1);
    return this.inNative(slot);
  }

  /** Marks a worker's slot as exited (its counters stay readable until the slot is reused). */
  workerExited(threadId: number): void {
    const slot = this.findSlot(threadId);
    if (slot < 0) return;
    if (this.slotState(slot) === WorkerState.ready) this.addGauge('workersReady', -1);
    this.setSlotState(slot, WorkerState.exited);
  }
}

/** A worker's writer: its own slot, plus the pool-wide model-load counter. */
export class WorkerStatsWriter extends StatsView {
  readonly slot: number;

  constructor(buffer: SharedArrayBuffer, threadId: number) {
    super(buffer);
    this.slot = this.claimSlot(threadId);
  }

  loaded(loadMs: number): void {
    this.incCounter('modelLoads');
    this.workerAdd(this.slot, 'loadMs', Math.round(loadMs));
    if (this.slot >= 0) this.setSlotState(this.slot, WorkerState.ready);
    this.addGauge('workersReady', 1);
  }

  failed(): void {
    if (this.slot >= 0) this.setSlotState(this.slot, WorkerState.failed);
  }

  taskStart(): void {
    this.workerAdd(this.slot, 'busy', 1);
  }

  /** Called on a timer: proves the worker's event loop still turns. */
  beat(): void {
    this.workerAdd(this.slot, 'heartbeat', 1);
  }

  /**
   * Announces native work, then reads the pool's word that it is ending this thread (see
   * PoolStats.stopNative): true, go ahead (call `leaveNative()` after); false, the thread is being
   * ended and must not enter (nothing stays announced).
   */
  enterNative(): boolean {
    this.workerSet(this.slot, 'inNative', 1);
    if (this.nativeStopped()) {
      this.workerSet(this.slot, 'inNative', 0);
      return false;
    }
    return true;
  }

  leaveNative(): void {
    this.workerSet(this.slot, 'inNative', 0);
  }

  /** Whether the pool has told this worker to enter native code no more (see PoolStats.stopNative). */
  nativeStopped(): boolean {
    return this.workerGet(this.slot, 'stopNative') !== 0;
  }

  taskEnd(texts: number, ok: boolean, ms: number, heapMb: number): void {
    this.workerSet(this.slot, 'lastMs', Math.min(2 ** 31 - 1, Math.round(ms * 1000)));
    this.workerSet(this.slot, 'heapMb', Math.round(heapMb));
    this.workerAdd(this.slot, 'busy', -1);
    this.workerInc(this.slot, 'tasks');
    if (ok) this.workerInc(this.slot, 'texts', texts);
    else this.workerInc(this.slot, 'errors');
  }
}

/**
 * Reads a plain snapshot from a stats buffer on any thread (e.g. one passed to a worker of your
 * own through `workerData`). Reading takes no lock and never blocks the pool.
 */
export function readStats(buffer: SharedArrayBuffer): StatsSnapshot {
  return new StatsView(buffer).snapshot();
}
