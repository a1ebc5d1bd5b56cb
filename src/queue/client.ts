/**
 * The caller's side of scale-out: `embed()` and `embedPacked()` with the local pool's signatures
 * and errors, answered by consumers on any machine through a BullMQ queue.
 */
import { randomUUID } from 'node:crypto';
import type { Queue, QueueEvents } from 'bullmq';
import type { Doc, IndexResult } from '../collections/types.js';
import { AbortError, InferenceError, InvalidInputError, JobLostError, PoolClosedError, QueueFullError, TaskTimeoutError, describe } from '../errors.js';
import { shortenPacked } from '../dimensions.js';
import { checkEmbedOptions, normalizeTexts, type EmbedOptions } from '../inputs.js';
import { checkClassify, checkRerank, type ClassifyOptions, type LabelScore, type RerankOptions, type RerankResult } from '../task-inputs.js';
import type { PackedVectors, Pooling } from '../types.js';
import { decodeIndexResult, decodeResult, reasonToError, type EmbedJobData, type IndexJobData } from './codec.js';
import { loadBullmq, RedisConnections } from './connection.js';
import { embedMany, type EmbedManyOptions } from './embed-many.js';
import { resolveClientOptions, type QueueClientOptions, type ResolvedClientOptions } from './queue-options.js';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  /** Turns the job's stored result into what the caller gets (throws on a malformed one). */
  decode: (returnvalue: unknown) => unknown;
  since: number;
  /** Set once Redis has confirmed the job: from then on, a job Redis does not know was lost. */
  added: boolean;
  cleanup: () => void;
}

/** What a client has seen since it started. */
/**
 * The defaults the client checks options with: no pooling, so that a call that names none leaves
 * it to the consumer's model (its own pooling), which this machine does not know.
 */
const NO_MODEL_DEFAULTS = Object.freeze({ ...checkEmbedOptions(undefined), pooling: undefined as unknown as Pooling });

export interface QueueClientStats {
  /** Jobs added to the queue by this client. */
  submitted: number;
  completed: number;
  failed: number;
  /** Calls refused at once (`QueueFullError`, `PoolClosedError`) or bad input caught before submission. */
  rejected: number;
  /** Jobs of this client not answered yet. */
  pending: number;
  /** Jobs waiting or running in the queue, from every client, as last counted plus this client's since. */
  queued: number;
  /** Results found by reconciliation because their completion event was missed. */
  reconciled: number;
  /** Calls failed with `JobLostError`: Redis no longer knew their job (e.g. it restarted empty). */
  lost: number;
}

/** Options of `QueueClient.index()`. */
export interface QueueIndexOptions {
  collection: string;
  /** Milliseconds to wait for the result; defaults to the client's `timeout`. */
  timeout?: number;
  signal?: AbortSignal;
}

export class QueueClient {
  readonly #o: ResolvedClientOptions;
  readonly #redis: RedisConnections;
  readonly #queue: Queue;
  readonly #events: QueueEvents;
  readonly #pending = new Map<string, Pending>();
  readonly #prefix = `wp-${randomUUID().slice(0, 8)}`;
  readonly #ready: Promise<void>;
  readonly #timer: NodeJS.Timeout;
  #sequence = 0;
  /** Jobs in the queue that are not this client's, at the last reconciliation. */
  #others = 0;
  #reconciling = false;
  #closing: Promise<void> | undefined;
  readonly #stats = { submitted: 0, completed: 0, failed: 0, rejected: 0, reconciled: 0, lost: 0 };

  constructor(options: QueueClientOptions) {
    this.#o = resolveClientOptions(options);
    const { Queue, QueueEvents } = loadBullmq();
    // The queue uses this connection as it is; the events reader, which blocks, a copy of it.
    this.#redis = new RedisConnections(this.#o.connection);
    const base = { connection: this.#redis.connection, ...(this.#o.prefix !== undefined && { prefix: this.#o.prefix }) };
    const keep = { age: this.#o.keepFinishedFor };
    this.#queue = new Queue(this.#o.queue, {
      ...base,
      defaultJobOptions: { attempts: this.#o.attempts, backoff: { type: 'fixed', delay: 100 }, removeOnComplete: keep, removeOnFail: keep },
    });
    // From the start of the events stream, so no completion can slip past between add() and the
    // first read; events of other clients' jobs are ignored.
    this.#events = new QueueEvents(this.#o.queue, { ...base, lastEventId: '0' });
    this.#queue.on('error', () => {});
    this.#events.on('error', () => {});
    this.#events.on('completed', ({ jobId, returnvalue }) => this.#completed(jobId, returnvalue));
    this.#events.on('failed', ({ jobId, failedReason }) => this.#failed(jobId, failedReason));
    this.#ready = Promise.all([this.#queue.waitUntilReady(), this.#events.waitUntilReady()]).then(() => undefined);
    this.#ready.catch(() => {});
    this.#timer = setInterval(() => void this.#reconcile(), this.#o.reconcileInterval).unref();
  }

  /** The queue's name. */
  get queue(): string {
    return this.#o.queue;
  }

  /** Resolves once both Redis connections are up. Calls do not need to wait for it. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Same as the local pool's `embed()`: one text gives one vector, an array gives an array in order. */
  embed(input: string, options?: EmbedOptions): Promise<Float32Array>;
  embed(input: readonly string[], options?: EmbedOptions): Promise<Float32Array[]>;
  async embed(input: string | readonly string[], options?: EmbedOptions): Promise<Float32Array | Float32Array[]> {
    const packed = await this.embedPacked(input, options);
    const [n, d] = packed.dims;
    const rows = Array.from({ length: n }, (_, i) => packed.data.subarray(i * d, (i + 1) * d));
    return typeof input === 'string' ? rows[0]! : rows;
  }

  /** Like {@link QueueClient.embed}, but all vectors in one row-major `Float32Array`. */
  async embedPacked(input: string | readonly string[], options?: EmbedOptions): Promise<PackedVectors> {
    let texts: string[];
    let opts: ReturnType<typeof checkEmbedOptions>;
    try {
      texts = normalizeTexts(input);
      opts = checkEmbedOptions(options, NO_MODEL_DEFAULTS);
    } catch (error) {
      this.#stats.rejected++;
      throw error;
    }
    if (texts.length === 0) return { data: new Float32Array(0), dims: [0, 0], tokens: 0 };
    const data: EmbedJobData = {
      texts,
      options: {
        normalize: opts.normalize,
        truncate: opts.truncate,
        ...(opts.pooling !== undefined && { pooling: opts.pooling }),
        ...(opts.prompt !== undefined && { prompt: opts.prompt }),
      },
    };
    const packed = await this.#submit('embed', data, decodeResult, opts.signal, opts.timeout ?? this.#o.timeout);
    // Consumers answer full vectors; `dimensions` shortens them here.
    return opts.dimensions === undefined ? packed : shortenPacked(packed, opts.dimensions, opts.normalize);
  }

  /**
   * Indexes documents into a collection on the consumer's store, as `pool.index()` does locally
   * (upsert by id, so a job that runs twice changes nothing). Send a collection's index jobs to a
   * queue of its own, served by one consumer, so that one store is authoritative for it.
   */
  async index(docs: readonly (Doc | string)[] | Doc | string, options: QueueIndexOptions): Promise<IndexResult> {
    const o = (options ?? {}) as Partial<QueueIndexOptions>;
    if (typeof o.collection !== 'string' || o.collection === '') {
      this.#stats.rejected++;
      throw new InvalidInputError(`index options need a collection name, received ${JSON.stringify(o.collection)}`);
    }
    const list = Array.isArray(docs) ? docs : [docs];
    const data: IndexJobData = { docs: list as (Doc | string)[], collection: o.collection };
    return this.#submit('index', data, decodeIndexResult, o.signal, o.timeout ?? this.#o.timeout);
  }

  /**
   * Scores documents against a query on a consumer's rerank model, as `pool.rerank()` does
   * locally; `model` names one of the consumer pool's rerank models.
   */
  async rerank(query: string, documents: readonly string[], options?: RerankOptions): Promise<RerankResult[]> {
    let c: ReturnType<typeof checkRerank>;
    try {
      c = checkRerank(query, documents, options);
    } catch (error) {
      this.#stats.rejected++;
      throw error;
    }
    if (c.documents.length === 0) return [];
    const data = {
      query: c.query,
      documents: c.documents,
      options: { truncate: c.opts.truncate, rawScores: c.rawScores, returnDocuments: c.returnDocuments, ...(c.topN !== undefined && { topN: c.topN }), ...(c.model !== undefined && { model: c.model }) },
    };
    return this.#submit('rerank', data, (value) => value as RerankResult[], c.opts.signal, c.opts.timeout ?? this.#o.timeout);
  }

  /** Labels of a text (or of each text) from a consumer's classify model, as `pool.classify()` does locally. */
  classify(input: string, options?: ClassifyOptions): Promise<LabelScore[]>;
  classify(input: readonly string[], options?: ClassifyOptions): Promise<LabelScore[][]>;
  async classify(input: string | readonly string[], options?: ClassifyOptions): Promise<LabelScore[] | LabelScore[][]> {
    let c: ReturnType<typeof checkClassify>;
    try {
      c = checkClassify(input, options);
    } catch (error) {
      this.#stats.rejected++;
      throw error;
    }
    if (c.texts.length === 0) return [];
    const data = {
      texts: c.texts,
      options: { truncate: c.opts.truncate, rawScores: c.rawScores, ...(c.topK !== undefined && { topK: c.topK }), ...(c.model !== undefined && { model: c.model }) },
    };
    const all = await this.#submit('classify', data, (value) => value as LabelScore[][], c.opts.signal, c.opts.timeout ?? this.#o.timeout);
    return typeof input === 'string' ? all[0]! : all;
  }

  /**
   * Embeds a large corpus: texts are sent in jobs of `batchSize`, at most `window` jobs in flight,
   * and `onProgress` reports jobs done and texts per second. A full queue makes it wait, not fail.
   * Resolves to one vector per text, in input order.
   */
  embedMany(input: Iterable<string> | AsyncIterable<string>, options?: EmbedManyOptions): Promise<Float32Array[]> {
    return embedMany(this, input, options);
  }

  /** A fresh snapshot of what this client has seen. */
  stats(): QueueClientStats {
    return { ...this.#stats, pending: this.#pending.size, queued: this.#others + this.#pending.size };
  }

  /**
   * Answers pending calls with `PoolClosedError` at once, then disconnects: gracefully (QUIT) while
   * Redis answers, by force after `closeTimeout` ms, or at once if Redis is unreachable. So it
   * returns within `closeTimeout` (plus a fraction of a second) whatever Redis does, and leaves no
   * handle open. Jobs already queued still run. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#timer);
      for (const [id, p] of this.#pending) this.#settle(id, p, undefined, new PoolClosedError('the queue client is closed'));
      await this.#redis.close(() => Promise.allSettled([this.#events.close(), this.#queue.close()]), this.#o.closeTimeout);
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The reconciliation period, which embedMany also uses to wait for room in a full queue. */
  get reconcileInterval(): number {
    return this.#o.reconcileInterval;
  }

  async #submit<T>(name: string, data: unknown, decode: (returnvalue: unknown) => T, signal: AbortSignal | undefined, timeout: number): Promise<T> {
    if (this.#closing) {
      this.#stats.rejected++;
      throw new PoolClosedError('the queue client is closed');
    }
    if (signal?.aborted) throw new AbortError('the call was aborted before it was queued', { cause: signal.reason });
    const queued = this.#others + this.#pending.size;
    if (queued >= this.#o.maxWaiting) {
      this.#stats.rejected++;
      throw new QueueFullError(`queue ${JSON.stringify(this.#o.queue)} already holds about ${queued} jobs (maxWaiting ${this.#o.maxWaiting})`);
    }
    const jobId = `${this.#prefix}-${++this.#sequence}`;
    // Registered before add(): the completion event may be read before add() returns.
    const result = new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        const p = this.#pending.get(jobId);
        if (p) this.#settle(jobId, p, undefined, new AbortError('the call was aborted', { cause: signal!.reason }));
        // Best effort: a job no consumer has locked yet is removed; a running one finishes unheard.
        this.#queue.remove(jobId).catch(() => {});
      };
      if (Number.isFinite(timeout)) {
        timer = setTimeout(() => {
          const p = this.#pending.get(jobId);
          if (p) this.#settle(jobId, p, undefined, new TaskTimeoutError(`no result within ${timeout} ms from queue ${JSON.stringify(this.#o.queue)}`));
        }, timeout);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      const cleanup = (): void => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      this.#pending.set(jobId, { resolve: resolve as (value: unknown) => void, reject, decode, since: performance.now(), added: false, cleanup });
    });
    // Not awaited: the caller must hold `result` before a timeout or an abort can reject it.
    this.#queue.add(name, data, { jobId }).then(
      () => {
        this.#stats.submitted++;
        const p = this.#pending.get(jobId);
        if (p) p.added = true;
      },
      (error: unknown) => {
        const p = this.#pending.get(jobId);
        const closed = this.#closing !== undefined;
        if (p) this.#settle(jobId, p, undefined, closed ? new PoolClosedError('the queue client is closed') : new InferenceError(`could not add the job to Redis: ${describe(error)}`, { cause: error }));
      },
    );
    return result;
  }

  #completed(jobId: string, returnvalue: unknown): void {
    const p = this.#pending.get(jobId);
    if (!p) return;
    try {
      this.#settle(jobId, p, p.decode(returnvalue));
    } catch (error) {
      this.#settle(jobId, p, undefined, error);
    }
  }

  #failed(jobId: string, reason: string | undefined): void {
    const p = this.#pending.get(jobId);
    if (p) this.#settle(jobId, p, undefined, reasonToError(reason));
  }

  #settle(jobId: string, p: Pending, value: unknown, error?: unknown): void {
    this.#pending.delete(jobId);
    p.cleanup();
    if (error === undefined) {
      this.#stats.completed++;
      p.resolve(value);
    } else {
      this.#stats.failed++;
      p.reject(error);
    }
  }

  /**
   * Counts the queue (so `maxWaiting` holds across clients) and looks up the jobs of calls pending
   * for more than 5 intervals: a result whose event was missed (e.g. trimmed from the events stream
   * while this client was busy) is delivered; a job Redis no longer knows (it restarted empty, or
   * the job was deleted) fails its call with `JobLostError`, since no answer can come any more.
   */
  async #reconcile(): Promise<void> {
    if (this.#reconciling || this.#closing) return;
    this.#reconciling = true;
    try {
      const counts = await this.#queue.getJobCounts('waiting', 'active', 'prioritized', 'delayed');
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      this.#others = Math.max(0, total - this.#pending.size);
      const stale = performance.now() - 5 * this.#o.reconcileInterval;
      const old = [...this.#pending].filter(([, p]) => p.added && p.since < stale).slice(0, 100);
      const states = await Promise.all(old.map(([id]) => this.#queue.getJobState(id)));
      for (const [i, [id, p]] of old.entries()) {
        if (!this.#pending.has(id)) continue;
        const state = states[i];
        if (state === 'unknown') {
          this.#stats.lost++;
          this.#settle(id, p, undefined, new JobLostError(`queue ${JSON.stringify(this.#o.queue)} no longer holds job ${id} (Redis lost it, e.g. it restarted without its data); no result will come`));
        } else if (state === 'completed' || state === 'failed') {
          const job = await this.#queue.getJob(id);
          if (!job || !this.#pending.has(id)) continue;
          this.#stats.reconciled++;
          if (state === 'completed') this.#completed(id, job.returnvalue);
          else this.#failed(id, job.failedReason);
        } else {
          // Still waiting or running: to the back, so that the next round looks at other calls first.
          this.#pending.delete(id);
          this.#pending.set(id, p);
        }
      }
    } catch {
      // Redis unreachable: counts stay as they were; ioredis reconnects by itself.
    } finally {
      this.#reconciling = false;
    }
  }
}

/**
 * Connects to a queue that consumers (`createQueueWorker`, `warmpool worker`) serve.
 *
 * @example
 * const client = createQueueClient({ connection: 'redis://127.0.0.1:6379', queue: 'embed' });
 * const v = await client.embed('hello world');
 * await client.close();
 */
export function createQueueClient(options: QueueClientOptions): QueueClient {
  return new QueueClient(options);
}
