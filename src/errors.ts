/**
 * Every failure warmpool reports is a subclass of {@link WarmpoolError} with a stable `code`.
 *
 * A class does not survive `postMessage`, so workers send {@link WireError} objects and the main
 * thread rebuilds the typed error from its `code` with {@link errorFromWire}.
 */

const kBrand = Symbol.for('warmpool.error');

export const ErrorCodes = {
  INVALID_INPUT: 'ERR_WARMPOOL_INVALID_INPUT',
  QUEUE_FULL: 'ERR_WARMPOOL_QUEUE_FULL',
  QUEUE_TIMEOUT: 'ERR_WARMPOOL_QUEUE_TIMEOUT',
  TASK_TIMEOUT: 'ERR_WARMPOOL_TASK_TIMEOUT',
  ABORTED: 'ERR_WARMPOOL_ABORTED',
  POOL_CLOSED: 'ERR_WARMPOOL_POOL_CLOSED',
  MODEL_LOAD: 'ERR_WARMPOOL_MODEL_LOAD',
  WORKER_EXITED: 'ERR_WARMPOOL_WORKER_EXITED',
  INFERENCE: 'ERR_WARMPOOL_INFERENCE',
  COLLECTION_NOT_FOUND: 'ERR_WARMPOOL_COLLECTION_NOT_FOUND',
  COLLECTION_EXISTS: 'ERR_WARMPOOL_COLLECTION_EXISTS',
  COLLECTION_CORRUPT: 'ERR_WARMPOOL_COLLECTION_CORRUPT',
  COLLECTION_LOCKED: 'ERR_WARMPOOL_COLLECTION_LOCKED',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Base class of every warmpool error. `instanceof` works across copies of the package. */
export class WarmpoolError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  override get name(): string {
    return 'WarmpoolError';
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this === WarmpoolError) {
      return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kBrand] === true;
    }
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
}
Object.defineProperty(WarmpoolError.prototype, kBrand, { value: true });

/** Input that is not a non-empty, well-formed string (or array of them), or too long with `truncate: false`. */
export class InvalidInputError extends WarmpoolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.INVALID_INPUT, message, options);
  }
  override get name(): string {
    return 'InvalidInputError';
  }
}

/** The admission queue already holds `maxQueue` waiting calls. Raised at once, never after a wait. */
export class QueueFullError extends WarmpoolError {
  constructor(message: string) {
    super(ErrorCodes.QUEUE_FULL, message);
  }
  override get name(): string {
    return 'QueueFullError';
  }
}

/** The call waited in the admission queue longer than `queueTimeout` and never ran. */
export class QueueTimeoutError extends WarmpoolError {
  constructor(message: string) {
    super(ErrorCodes.QUEUE_TIMEOUT, message);
  }
  override get name(): string {
    return 'QueueTimeoutError';
  }
}

/** The call ran longer than its `timeout`. The worker (and its warm model) is kept. */
export class TaskTimeoutError extends WarmpoolError {
  constructor(message: string) {
    super(ErrorCodes.TASK_TIMEOUT, message);
  }
  override get name(): string {
    return 'TaskTimeoutError';
  }
}

/** The caller's `AbortSignal` fired. `cause` is the signal's reason. */
export class AbortError extends WarmpoolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.ABORTED, message, options);
  }
  override get name(): string {
    return 'AbortError';
  }
}

/** The pool is closing or closed. */
export class PoolClosedError extends WarmpoolError {
  constructor(message = 'the pool is closed') {
    super(ErrorCodes.POOL_CLOSED, message);
  }
  override get name(): string {
    return 'PoolClosedError';
  }
}

/** The model could not be loaded. The message names the model and the cause. */
export class ModelLoadError extends WarmpoolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.MODEL_LOAD, message, options);
  }
  override get name(): string {
    return 'ModelLoadError';
  }
}

/** The worker running the call exited or crashed before answering. */
export class WorkerExitedError extends WarmpoolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.WORKER_EXITED, message, options);
  }
  override get name(): string {
    return 'WorkerExitedError';
  }
}

/**
 * A queue call's job is gone from Redis before anyone answered it (Redis restarted without its
 * data, or the job was deleted), so no result will come. Running the call again is safe. It shares
 * {@link WorkerExitedError}'s code (the call lost what was running it), so handling that code
 * covers it too; `name` tells the two apart.
 */
export class JobLostError extends WorkerExitedError {
  override get name(): string {
    return 'JobLostError';
  }
}

/** The model runtime failed while running a call. */
export class InferenceError extends WarmpoolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.INFERENCE, message, options);
  }
  override get name(): string {
    return 'InferenceError';
  }
}

/** No collection of that name exists in the store. */
export class CollectionNotFoundError extends WarmpoolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.COLLECTION_NOT_FOUND, message, options);
  }
  override get name(): string {
    return 'CollectionNotFoundError';
  }
}

/** `collections().create()` named a collection that already exists with different settings. */
export class CollectionExistsError extends WarmpoolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.COLLECTION_EXISTS, message, options);
  }
  override get name(): string {
    return 'CollectionExistsError';
  }
}

/**
 * A collection file failed its checks (bad checksum, bad header, a damaged record before the end of
 * the log). The message names the file; nothing is silently dropped.
 */
export class CollectionCorruptError extends WarmpoolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.COLLECTION_CORRUPT, message, options);
  }
  override get name(): string {
    return 'CollectionCorruptError';
  }
}

/** Another live process (or pool) holds the store directory's lock file. */
export class CollectionLockedError extends WarmpoolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.COLLECTION_LOCKED, message, options);
  }
  override get name(): string {
    return 'CollectionLockedError';
  }
}

/** The plain-object form of an error that crosses a thread boundary. */
export interface WireError {
  code: string;
  message: string;
  cause?: string;
}

export function errorToWire(error: unknown, fallback: ErrorCode = ErrorCodes.INFERENCE): WireError {
  if (error instanceof WarmpoolError) {
    const wire: WireError = { code: error.code, message: error.message };
    if (error.cause !== undefined) wire.cause = describe(error.cause);
    return wire;
  }
  return { code: fallback, message: describe(error) };
}

const constructors: Record<ErrorCode, new (message: string) => WarmpoolError> = {
  [ErrorCodes.INVALID_INPUT]: InvalidInputError,
  [ErrorCodes.QUEUE_FULL]: QueueFullError,
  [ErrorCodes.QUEUE_TIMEOUT]: QueueTimeoutError,
  [ErrorCodes.TASK_TIMEOUT]: TaskTimeoutError,
  [ErrorCodes.ABORTED]: AbortError,
  [ErrorCodes.POOL_CLOSED]: PoolClosedError,
  [ErrorCodes.MODEL_LOAD]: ModelLoadError,
  [ErrorCodes.WORKER_EXITED]: WorkerExitedError,
  [ErrorCodes.INFERENCE]: InferenceError,
  [ErrorCodes.COLLECTION_NOT_FOUND]: CollectionNotFoundError,
  [ErrorCodes.COLLECTION_EXISTS]: CollectionExistsError,
  [ErrorCodes.COLLECTION_CORRUPT]: CollectionCorruptError,
  [ErrorCodes.COLLECTION_LOCKED]: CollectionLockedError,
};

export function errorFromWire(wire: WireError): WarmpoolError {
  const Ctor = constructors[wire.code as ErrorCode] ?? InferenceError;
  const error = new Ctor(wire.message);
  if (wire.cause !== undefined) Object.defineProperty(error, 'cause', { value: wire.cause, configurable: true, writable: true });
  return error;
}

/**
 * A one-line description of any thrown value, for messages. Never throws: a thrown value may be a
 * Proxy, or an object whose getters or `toString` throw.
 */
export function describe(value: unknown): string {
  try {
    if (value instanceof Error) return value.message ? `${value.name}: ${value.message}` : value.name;
    if (typeof value === 'string') return value;
  } catch {
    return 'an unreadable value';
  }
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    try {
      return String(value);
    } catch {
      return `a value of type ${typeof value}`;
    }
  }
}
