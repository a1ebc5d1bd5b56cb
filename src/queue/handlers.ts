/**
 * The job processor is a map from job name to handler: a new operation is one more entry.
 *
 * Every handler must be safe to run twice for the same job, because delivery is at-least-once (a
 * job whose consumer died runs again elsewhere). `embed` is pure. `index` upserts documents by
 * id into a collection of the consumer's store, so running it twice changes nothing; a collection
 * should have exactly one authoritative consumer, so two machines never hold diverging copies:
 * route a collection's index jobs to a queue of its own (`index-<collection>`) served by one
 * consumer with concurrency 1, while embed jobs fan out to every machine.
 */
import type { Job } from 'bullmq';
import { InvalidInputError } from '../errors.js';
import type { WarmPool } from '../pool.js';
import type { IndexResult } from '../collections/types.js';
import { encodeResult, type EmbedJobData, type EmbedJobResult, type IndexJobData } from './codec.js';

/** What a handler gets beside the job's data. */
export interface JobContext {
  /** The consumer's warm pool. */
  pool: WarmPool;
  /** The BullMQ job (id, attempts, `updateProgress`, ...). */
  job: Job;
}

/** Runs one job; its return value is stored as the job's result (it must be JSON). */
export type JobHandler = (data: unknown, context: JobContext) => Promise<unknown>;

export type JobHandlers = Readonly<Record<string, JobHandler>>;

const EMBED_OPTION_KEYS = new Set(['normalize', 'pooling', 'truncate', 'prompt', 'priority']);

async function embed(data: unknown, { pool }: JobContext): Promise<EmbedJobResult> {
  const d = data as Partial<EmbedJobData> | null;
  if (typeof d !== 'object' || d === null || !Array.isArray(d.texts)) {
    throw new InvalidInputError(`an embed job's data must be { texts: string[], options? }, received ${JSON.stringify(data)?.slice(0, 80)}`);
  }
  const options = d.options ?? {};
  // Per-call signals and timeouts belong to the caller's machine, not to the job.
  for (const key of Object.keys(options)) {
    if (!EMBED_OPTION_KEYS.has(key)) throw new InvalidInputError(`an embed job's options may hold normalize, pooling, truncate, prompt and priority, received ${JSON.stringify(key)}`);
  }
  // Queue jobs are bulk work: the consumer's batch lane, so its own interactive callers go first.
  const packed = await pool.embedPacked(d.texts, { priority: 'batch', ...options });
  return encodeResult(packed.data, packed.dims, packed.tokens);
}

async function index(data: unknown, { pool }: JobContext): Promise<IndexResult> {
  const d = data as Partial<IndexJobData> | null;
  if (typeof d !== 'object' || d === null || !Array.isArray(d.docs) || typeof d.collection !== 'string') {
    throw new InvalidInputError(`an index job's data must be { docs, collection }, received ${JSON.stringify(data)?.slice(0, 80)}`);
  }
  return pool.index(d.docs, { collection: d.collection });
}

/** Job options a rerank or classify job may carry (per-call signals and timeouts stay on the caller's machine). */
const RERANK_OPTION_KEYS = new Set(['model', 'topN', 'rawScores', 'returnDocuments', 'truncate', 'priority']);
const CLASSIFY_OPTION_KEYS = new Set(['model', 'topK', 'rawScores', 'truncate', 'priority']);

function jobOptions(data: { options?: unknown }, keys: Set<string>, what: string): Record<string, unknown> {
  const options = (data.options ?? {}) as Record<string, unknown>;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new InvalidInputError(`a ${what} job's options must be an object`);
  for (const key of Object.keys(options)) {
    if (!keys.has(key)) throw new InvalidInputError(`a ${what} job's options may hold ${[...keys].join(', ')}, received ${JSON.stringify(key)}`);
  }
  return options;
}

/** Rerank is pure: running a job twice gives the same answer. */
async function rerank(data: unknown, { pool }: JobContext): Promise<unknown> {
  const d = data as { query?: unknown; documents?: unknown; options?: unknown } | null;
  if (typeof d !== 'object' || d === null || typeof d.query !== 'string' || !Array.isArray(d.documents)) {
    throw new InvalidInputError(`a rerank job's data must be { query: string, documents: string[], options? }, received ${JSON.stringify(data)?.slice(0, 80)}`);
  }
  return pool.rerank(d.query, d.documents as string[], { priority: 'batch', ...jobOptions(d, RERANK_OPTION_KEYS, 'rerank') });
}

/** Classify is pure. Always answers one list of labels per text. */
async function classify(data: unknown, { pool }: JobContext): Promise<unknown> {
  const d = data as { texts?: unknown; options?: unknown } | null;
  if (typeof d !== 'object' || d === null || !Array.isArray(d.texts)) {
    throw new InvalidInputError(`a classify job's data must be { texts: string[], options? }, received ${JSON.stringify(data)?.slice(0, 80)}`);
  }
  return pool.classify(d.texts as string[], { priority: 'batch', ...jobOptions(d, CLASSIFY_OPTION_KEYS, 'classify') });
}

/** The operations every consumer serves. */
export const BUILTIN_HANDLERS: JobHandlers = Object.freeze({ embed, index, rerank, classify });
