/**
 * One place that turns any failure into an HTTP status and a JSON body, in the error shape of
 * the API the route imitates: OpenAI's `{ error: { message, type, param, code } }` by default,
 * Text Embeddings Inference's `{ error, error_type }` on TEI routes.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCodes, WarmpoolError, type ErrorCode } from '../errors.js';
import type { WarmPool } from '../pool.js';

export type ErrorFormat = 'openai' | 'tei';

/** A request the HTTP layer refuses before it reaches the pool (bad field, missing key, ...). */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly param: string | null;

  constructor(status: number, code: string, message: string, param: string | null = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.param = param;
  }

  override get name(): string {
    return 'HttpError';
  }
}

const STATUS: Record<ErrorCode, number> = {
  [ErrorCodes.INVALID_INPUT]: 400,
  [ErrorCodes.QUEUE_FULL]: 429,
  [ErrorCodes.QUEUE_TIMEOUT]: 504,
  [ErrorCodes.TASK_TIMEOUT]: 504,
  // The client went away: nobody reads the answer; 499 is what proxies log for it.
  [ErrorCodes.ABORTED]: 499,
  [ErrorCodes.POOL_CLOSED]: 503,
  [ErrorCodes.MODEL_LOAD]: 503,
  [ErrorCodes.WORKER_EXITED]: 500,
  [ErrorCodes.INFERENCE]: 500,
  [ErrorCodes.COLLECTION_NOT_FOUND]: 404,
  [ErrorCodes.COLLECTION_EXISTS]: 409,
  [ErrorCodes.COLLECTION_CORRUPT]: 500,
  [ErrorCodes.COLLECTION_LOCKED]: 423,
};

interface Described {
  status: number;
  code: string;
  message: string;
  param: string | null;
}

/** Fastify's own errors carry `statusCode` and a `FST_*` code (body too large, bad JSON, ...). */
function describeError(error: unknown): Described {
  if (error instanceof HttpError) return { status: error.status, code: error.code, message: error.message, param: error.param };
  if (error instanceof WarmpoolError) {
    return { status: STATUS[error.code] ?? 500, code: error.code, message: error.message, param: error.code === ErrorCodes.INVALID_INPUT ? 'input' : null };
  }
  const e = error as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, code: typeof e.code === 'string' ? e.code : 'bad_request', message: String(e.message ?? 'bad request'), param: null };
  }
  // Anything else is a bug or a runtime failure: say so without leaking internals.
  return { status: 500, code: 'internal_error', message: 'internal server error', param: null };
}

function openaiType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** TEI's error types: validation, tokenizer, backend, overloaded, unhealthy, empty. */
function teiType(status: number): string {
  if (status === 429) return 'overloaded';
  if (status === 503) return 'unhealthy';
  if (status >= 500) return 'backend';
  return 'validation';
}

/** Seconds a client should wait after a 429/503: about the time the queue ahead takes to drain. */
export function retryAfterSeconds(pool: WarmPool): number {
  const stats = pool.stats();
  const slots = pool.options.maxThreads * pool.options.concurrentTasksPerWorker;
  const perCallMs = stats.runTime.p50 > 0 ? stats.runTime.p50 : 100;
  return Math.max(1, Math.min(60, Math.ceil(((stats.queued / slots + 1) * perCallMs) / 1000)));
}

export function sendError(request: FastifyRequest, reply: FastifyReply, error: unknown, pool: WarmPool): FastifyReply {
  const d = describeError(error);
  const format = (request.routeOptions.config as { errorFormat?: ErrorFormat } | undefined)?.errorFormat ?? 'openai';
  if (d.status === 429 || d.status === 503) reply.header('retry-after', String(retryAfterSeconds(pool)));
  if (d.status === 401) reply.header('www-authenticate', 'Bearer');
  reply.code(d.status);
  if (format === 'tei') return reply.send({ error: d.message, error_type: teiType(d.status), code: d.code });
  return reply.send({ error: { message: d.message, type: openaiType(d.status), param: d.param, code: d.code } });
}
