/**
 * One place that turns any failure into an HTTP status and a JSON body, in the error shape of
 * the API the route imitates: OpenAI's `{ error: { message, type, param, code } }` by default,
 * Text Embeddings Inference's `{ error, error_type }` on TEI routes.
 *
 * A body tells the client what went wrong with its request, never how the server is laid out:
 * errors that describe the server (damaged files, a lock held by another process, a model that
 * failed to load, a crashed worker) carry their stable `code` and a fixed message per code; their
 * full message, which may name files on the server's disk and process ids, goes to the server's
 * log (Fastify's logger, off unless `logLevel` is set), never to the client.
 */
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCodes, WarmpoolError, type ErrorCode } from '../errors.js';
import type { WarmPool } from '../pool.js';
import { readStats } from '../stats.js';

export type ErrorFormat = 'openai' | 'tei';

/**
 * A request the HTTP layer refuses before it reaches the pool (bad field, missing key, ...). Its
 * message is sent to the client as it is: write it for the client, from the request's own data.
 */
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
  [ErrorCodes.LOAD_TIMEOUT]: 503,
  [ErrorCodes.WORKER_EXITED]: 500,
  [ErrorCodes.INFERENCE]: 500,
  [ErrorCodes.COLLECTION_NOT_FOUND]: 404,
  [ErrorCodes.COLLECTION_EXISTS]: 409,
  [ErrorCodes.COLLECTION_CORRUPT]: 500,
  [ErrorCodes.COLLECTION_LOCKED]: 423,
  [ErrorCodes.UNKNOWN_MODEL]: 404,
  // Redis unreachable: nothing was written, the client may send it again.
  [ErrorCodes.REPLICA_UNAVAILABLE]: 503,
  [ErrorCodes.REPLICA_TIMEOUT]: 504,
  [ErrorCodes.REPLICA_LOG]: 500,
  [ErrorCodes.MODEL_MISMATCH]: 409,
  [ErrorCodes.MIGRATION_RUNNING]: 409,
};

/**
 * What the client is told for the errors whose library message describes the server rather than
 * the request: the message of a damaged collection names its files, that of a locked store the
 * store's folder, the lock file and the pid holding it, that of a failed model load the model's
 * path. The errors not listed here (bad input, a full queue, an existing collection) describe the
 * request and are passed on as they are.
 */
export const PUBLIC_MESSAGES: Readonly<Partial<Record<ErrorCode, string>>> = Object.freeze({
  [ErrorCodes.QUEUE_TIMEOUT]: 'the request waited too long for a worker and did not run; try again later',
  [ErrorCodes.TASK_TIMEOUT]: 'the request ran longer than this server allows',
  [ErrorCodes.POOL_CLOSED]: 'the server is not serving requests: it is shutting down',
  [ErrorCodes.MODEL_LOAD]: "the server's model could not be loaded",
  [ErrorCodes.LOAD_TIMEOUT]: "the server's model did not load in time",
  [ErrorCodes.WORKER_EXITED]: 'the worker running the request stopped before answering; try again',
  [ErrorCodes.INFERENCE]: 'the model failed while running the request',
  [ErrorCodes.COLLECTION_NOT_FOUND]: 'no such collection',
  [ErrorCodes.COLLECTION_CORRUPT]: "the collection's files on the server are damaged; the server's log has the details",
  [ErrorCodes.COLLECTION_LOCKED]: 'the collection store is in use by another process; try again once it is released',
});

interface Described {
  status: number;
  code: string;
  /** What the client is told. */
  message: string;
  param: string | null;
  /** The full message, for the server's log, when it differs from `message`. */
  detail?: string;
}

/** Fastify's own errors carry `statusCode` and a `FST_*` code (body too large, bad JSON, ...). */
function describeError(error: unknown): Described {
  if (error instanceof HttpError) return { status: error.status, code: error.code, message: error.message, param: error.param };
  if (error instanceof WarmpoolError) {
    const status = STATUS[error.code] ?? 500;
    const param = error.code === ErrorCodes.INVALID_INPUT ? 'input' : null;
    // A code this table does not know yet (a newer library) is shown only when it is the client's.
    const fixed = PUBLIC_MESSAGES[error.code] ?? (status >= 500 ? 'internal server error' : undefined);
    if (fixed === undefined) return { status, code: error.code, message: error.message, param };
    return { status, code: error.code, message: fixed, param, detail: error.message };
  }
  const e = error as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, code: typeof e.code === 'string' ? e.code : 'bad_request', message: String(e.message ?? 'bad request'), param: null };
  }
  // Anything else is a bug or a runtime failure: say so without leaking internals.
  return { status: 500, code: 'internal_error', message: 'internal server error', param: null, detail: String((error as Error)?.message ?? error) };
}

/**
 * The server's record of an error it answered: the full message and the stack at `error` for a
 * 5xx, at `warn` for a redacted 4xx (a locked store, ...), at `debug` for the client's own
 * mistakes. Fastify's logger drops all of it unless the server was given a `logLevel`.
 */
function logError(request: FastifyRequest, d: Described, error: unknown): void {
  const level = d.status >= 500 ? 'error' : d.detail !== undefined ? 'warn' : 'debug';
  request.log[level]({ err: error, status: d.status, code: d.code }, d.detail ?? d.message);
}

function openaiType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** Text Embeddings Inference's error types, as its server writes them (capitalised). */
export type TeiErrorType = 'Unhealthy' | 'Backend' | 'Overloaded' | 'Validation' | 'Tokenizer' | 'Empty';

/**
 * Codes of {@link HttpError}s that name their TEI error type: `empty` (an empty batch or text:
 * TEI's `Empty`, 400), `tokenizer` (the tokenizer failed on the input: `Tokenizer`, 422),
 * `unsupported_task` (the model cannot do what the route asks: `Backend`, 424, as TEI answers
 * `/embed_sparse` for a model without SPLADE pooling).
 */
export const TEI_CODES = Object.freeze({ empty: 'empty', tokenizer: 'tokenizer', unsupportedTask: 'unsupported_task' });

/**
 * The status and `error_type` TEI gives for an error. TEI sends `Validation` and `Tokenizer`
 * with 422, `Empty` with 400, `Backend` (the model failed, or cannot do this task) with 424,
 * `Overloaded` with 429 and `Unhealthy` with 503. The pool's bad-input error is TEI's
 * validation error (422), a failed model run its backend error (424); the statuses TEI never
 * sends (401, 404, 408, 413, 499, 504, a 500 for a bug) are kept, with the nearest type.
 */
function teiAnswer(d: Described): { status: number; type: TeiErrorType } {
  switch (d.code) {
    case TEI_CODES.empty:
      return { status: 400, type: 'Empty' };
    case TEI_CODES.tokenizer:
      return { status: 422, type: 'Tokenizer' };
    case TEI_CODES.unsupportedTask:
      return { status: 424, type: 'Backend' };
    case ErrorCodes.INVALID_INPUT:
      return { status: 422, type: 'Validation' };
    case ErrorCodes.INFERENCE:
    case ErrorCodes.WORKER_EXITED:
      return { status: 424, type: 'Backend' };
    case ErrorCodes.QUEUE_TIMEOUT:
      return { status: d.status, type: 'Overloaded' };
  }
  if (d.status === 429) return { status: 429, type: 'Overloaded' };
  if (d.status === 503) return { status: 503, type: 'Unhealthy' };
  if (d.status >= 500 || d.status === 424) return { status: d.status, type: 'Backend' };
  return { status: d.status, type: 'Validation' };
}

/** Seconds a client should wait after a 429/503: about the time the queue ahead takes to drain. */
export function retryAfterSeconds(pool: WarmPool): number {
  // The shared counters only: pool.stats() also reads the process's memory, which an overloaded
  // server need not pay for on every 429.
  const stats = readStats(pool.statsBuffer);
  const slots = pool.options.maxThreads * pool.options.concurrentTasksPerWorker;
  const perCallMs = stats.runTime.p50 > 0 ? stats.runTime.p50 : 100;
  return Math.max(1, Math.min(60, Math.ceil(((stats.queued / slots + 1) * perCallMs) / 1000)));
}

export function sendError(request: FastifyRequest, reply: FastifyReply, error: unknown, pool: WarmPool): FastifyReply {
  const d = describeError(error);
  logError(request, d, error);
  const format = (request.routeOptions.config as { errorFormat?: ErrorFormat } | undefined)?.errorFormat ?? 'openai';
  const tei = format === 'tei' ? teiAnswer(d) : undefined;
  const status = tei?.status ?? d.status;
  if (status === 429 || status === 503) reply.header('retry-after', String(retryAfterSeconds(pool)));
  if (status === 401) reply.header('www-authenticate', 'Bearer');
  reply.code(status);
  if (tei) return reply.send({ error: d.message, error_type: tei.type, code: d.code });
  return reply.send({ error: { message: d.message, type: openaiType(d.status), param: d.param, code: d.code } });
}

/**
 * Fastify's `clientErrorHandler`: a request Node gave up on before it reached a route. A client
 * too slow with its headers or body (`headersTimeout`, `requestTimeout`) is answered `408`, a
 * header block too large `431`, anything unparsable `400`, each in the OpenAI error shape; then
 * the connection is closed.
 */
export function clientErrorHandler(this: FastifyInstance, error: NodeJS.ErrnoException, socket: Socket): void {
  // A reset connection is gone: there is no one to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  let status = 400;
  let code = 'bad_request';
  let message = 'the request could not be parsed as HTTP';
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    code = 'request_timeout';
    message = 'the request was not received in time; send the headers and the body without pauses';
  } else if (error.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    code = 'headers_too_large';
    message = "the request's headers are too large";
  }
  this.log.debug({ err: error, status, code }, `client error: ${message}`);
  if (socket.writable) {
    const body = JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code } });
    const reason = status === 408 ? 'Request Timeout' : status === 431 ? 'Request Header Fields Too Large' : 'Bad Request';
    socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(error);
}
