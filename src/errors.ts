/**
 * Every failure warmpool reports is a subclass of {@link WarmpoolError} with a stable `code`,
 * defined from one table by a small factory ({@link defineError}).
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
  LOAD_TIMEOUT: 'ERR_WARMPOOL_LOAD_TIMEOUT',
  WORKER_EXITED: 'ERR_WARMPOOL_WORKER_EXITED',
  INFERENCE: 'ERR_WARMPOOL_INFERENCE',
  COLLECTION_NOT_FOUND: 'ERR_WARMPOOL_COLLECTION_NOT_FOUND',
  COLLECTION_EXISTS: 'ERR_WARMPOOL_COLLECTION_EXISTS',
  COLLECTION_CORRUPT: 'ERR_WARMPOOL_COLLECTION_CORRUPT',
  COLLECTION_LOCKED: 'ERR_WARMPOOL_COLLECTION_LOCKED',
  UNKNOWN_MODEL: 'ERR_WARMPOOL_UNKNOWN_MODEL',
  REPLICA_UNAVAILABLE: 'ERR_WARMPOOL_REPLICA_UNAVAILABLE',
  REPLICA_TIMEOUT: 'ERR_WARMPOOL_REPLICA_TIMEOUT',
  REPLICA_LOG: 'ERR_WARMPOOL_REPLICA_LOG',
  MODEL_MISMATCH: 'ERR_WARMPOOL_MODEL_MISMATCH',
  MIGRATION_RUNNING: 'ERR_WARMPOOL_MIGRATION_RUNNING',
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

/**
 * The shape of every error class of the table: `new X(message?, { cause })`, instances with a
 * literal `code`, the code also on the class. A type only (declared, never defined): the classes
 * themselves are made by {@link defineError}.
 */
declare class WarmpoolErrorOf<C extends ErrorCode> extends WarmpoolError {
  declare readonly code: C;
  constructor(message?: string, options?: { cause?: unknown });
  /** The code every error of the class carries. */
  static readonly code: ErrorCode;
}
export type { WarmpoolErrorOf };

type AnyErrorClass = abstract new (...args: never[]) => WarmpoolError;

/**
 * Defines one error class from a row of the table below. Each class carries its own brand, a
 * `Symbol.for` key on its prototype, and `instanceof` checks the brand: an error made by a second
 * copy of the package (a bundled one, one in another `node_modules`) is still an instance of
 * this copy's class and of its parents. A class a user derives from one checks the prototype
 * chain, as usual. `Parent`: another class of the table (JobLostError is a WorkerExitedError).
 */
function defineError<C extends ErrorCode>(name: string, code: C, defaultMessage?: string, Parent?: AnyErrorClass): typeof WarmpoolErrorOf<C> {
  const brand = Symbol.for(`warmpool.error.${name}`);
  const Base = (Parent ?? WarmpoolError) as unknown as new (...args: unknown[]) => WarmpoolError;
  const Class = class extends Base {
    constructor(message?: string, options?: { cause?: unknown }) {
      const text = message ?? defaultMessage ?? name;
      // The base class takes the code first; a class of the table takes what its users pass.
      if (Parent) super(text, options);
      else super(code, text, options);
      if (this.code !== code) (this as { code: ErrorCode }).code = code;
    }
    override get name(): string {
      return name;
    }
    static get code(): C {
      return code;
    }
    static override [Symbol.hasInstance](value: unknown): boolean {
      if (this === Class) return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
      return Function.prototype[Symbol.hasInstance].call(this, value);
    }
  };
  Object.defineProperty(Class, 'name', { value: name });
  Object.defineProperty(Class.prototype, brand, { value: true });
  return Class as unknown as typeof WarmpoolErrorOf<C>;
}

// The table: one row per class. Each constant's doc says when the error is raised.

/** Input that is not a non-empty, well-formed string (or array of them), or too long with `truncate: false`. */
export const InvalidInputError = defineError('InvalidInputError', ErrorCodes.INVALID_INPUT, undefined);
/** The admission queue already holds `maxQueue` waiting calls. Raised at once, never after a wait. */
export const QueueFullError = defineError('QueueFullError', ErrorCodes.QUEUE_FULL, 'the admission queue is full');
/** The call waited in the admission queue longer than `queueTimeout` and never ran. */
export const QueueTimeoutError = defineError('QueueTimeoutError', ErrorCodes.QUEUE_TIMEOUT, undefined);
/** The call ran longer than its `timeout`. The worker (and its warm model) is kept. */
export const TaskTimeoutError = defineError('TaskTimeoutError', ErrorCodes.TASK_TIMEOUT, undefined);
/** The caller's `AbortSignal` fired. `cause` is the signal's reason. */
export const AbortError = defineError('AbortError', ErrorCodes.ABORTED, 'the call was aborted');
/** The pool is closing or closed. */
export const PoolClosedError = defineError('PoolClosedError', ErrorCodes.POOL_CLOSED, 'the pool is closed');
/** The model could not be loaded. The message names the model and the cause. */
export const ModelLoadError = defineError('ModelLoadError', ErrorCodes.MODEL_LOAD, undefined);
/**
 * A worker did not load its model within `loadTimeout`. It is a {@link ModelLoadError} with a code
 * of its own: the worker is ended (at once when stuck in JavaScript, as soon as it leaves
 * onnxruntime when stuck there) and replaced after the supervisor's backoff.
 */
export const LoadTimeoutError = defineError('LoadTimeoutError', ErrorCodes.LOAD_TIMEOUT, undefined, ModelLoadError);
/** The worker running the call exited or crashed before answering. */
export const WorkerExitedError = defineError('WorkerExitedError', ErrorCodes.WORKER_EXITED, undefined);
/**
 * A queue call's job is gone from Redis before anyone answered it (Redis restarted without its
 * data, or the job was deleted), so no result will come. Running the call again is safe. It is a
 * {@link WorkerExitedError} and shares its code (the call lost what was running it), so handling
 * that code covers it too; `name` and `instanceof JobLostError` tell the two apart.
 */
export const JobLostError = defineError('JobLostError', ErrorCodes.WORKER_EXITED, undefined, WorkerExitedError);
/** The model runtime failed while running a call. */
export const InferenceError = defineError('InferenceError', ErrorCodes.INFERENCE, undefined);
/** No collection of that name exists in the store. */
export const CollectionNotFoundError = defineError('CollectionNotFoundError', ErrorCodes.COLLECTION_NOT_FOUND, undefined);
/** `collections().create()` named a collection that already exists with different settings. */
export const CollectionExistsError = defineError('CollectionExistsError', ErrorCodes.COLLECTION_EXISTS, undefined);
/**
 * A collection file failed its checks (bad checksum, bad header, a damaged record before the end of
 * the log). The message names the file; nothing is silently dropped.
 */
export const CollectionCorruptError = defineError('CollectionCorruptError', ErrorCodes.COLLECTION_CORRUPT, undefined);
/** Another pool, in this process or another, holds the store's lock. */
export const CollectionLockedError = defineError('CollectionLockedError', ErrorCodes.COLLECTION_LOCKED, undefined);

/**
 * A call named a model the pool does not have, or one whose task is not the call's (`rerank()` on
 * an embedding model). The message lists the models the pool has, with their tasks.
 */
export const UnknownModelError = defineError('UnknownModelError', ErrorCodes.UNKNOWN_MODEL, undefined);

/**
 * A write to a replicated collection could not be appended to its log: Redis is unreachable, or
 * the replica is (re)joining the log. Nothing was written; the write can be sent again.
 */
export const ReplicaUnavailableError = defineError('ReplicaUnavailableError', ErrorCodes.REPLICA_UNAVAILABLE, undefined);
/** A replica did not apply a log position (a read-your-writes wait, or a write's local apply) within the deadline. */
export const ReplicaTimeoutError = defineError('ReplicaTimeoutError', ErrorCodes.REPLICA_TIMEOUT, undefined);
/**
 * A replicated collection's log holds an entry that cannot be applied (malformed, or refused by the
 * collection). Every replica stops at that same entry, named in the message and in `health()`.
 */
export const ReplicaLogError = defineError('ReplicaLogError', ErrorCodes.REPLICA_LOG, undefined);
/**
 * A collection's vectors were made by another model than the pool's (its fingerprint: model,
 * weights, dtype, pooling, prompts, dimensions). The message names both models and what differs,
 * and how to migrate (`pool.collections().migrate(name)`).
 */
export const ModelMismatchError = defineError('ModelMismatchError', ErrorCodes.MODEL_MISMATCH, undefined);
/** A write (index, delete, drop) to a collection whose re-embed migration is running. */
export const MigrationRunningError = defineError('MigrationRunningError', ErrorCodes.MIGRATION_RUNNING, undefined);

export type InvalidInputError = InstanceType<typeof InvalidInputError>;
export type QueueFullError = InstanceType<typeof QueueFullError>;
export type QueueTimeoutError = InstanceType<typeof QueueTimeoutError>;
export type TaskTimeoutError = InstanceType<typeof TaskTimeoutError>;
export type AbortError = InstanceType<typeof AbortError>;
export type PoolClosedError = InstanceType<typeof PoolClosedError>;
export type ModelLoadError = InstanceType<typeof ModelLoadError>;
export type LoadTimeoutError = InstanceType<typeof LoadTimeoutError>;
export type WorkerExitedError = InstanceType<typeof WorkerExitedError>;
export type JobLostError = InstanceType<typeof JobLostError>;
export type InferenceError = InstanceType<typeof InferenceError>;
export type CollectionNotFoundError = InstanceType<typeof CollectionNotFoundError>;
export type CollectionExistsError = InstanceType<typeof CollectionExistsError>;
export type CollectionCorruptError = InstanceType<typeof CollectionCorruptError>;
export type CollectionLockedError = InstanceType<typeof CollectionLockedError>;
export type UnknownModelError = InstanceType<typeof UnknownModelError>;
export type ReplicaUnavailableError = InstanceType<typeof ReplicaUnavailableError>;
export type ReplicaTimeoutError = InstanceType<typeof ReplicaTimeoutError>;
export type ReplicaLogError = InstanceType<typeof ReplicaLogError>;
export type ModelMismatchError = InstanceType<typeof ModelMismatchError>;
export type MigrationRunningError = InstanceType<typeof MigrationRunningError>;

/** Every error class, by name (the base class aside). */
export const ERROR_CLASSES = {
  InvalidInputError,
  QueueFullError,
  QueueTimeoutError,
  TaskTimeoutError,
  AbortError,
  PoolClosedError,
  ModelLoadError,
  LoadTimeoutError,
  WorkerExitedError,
  JobLostError,
  InferenceError,
  CollectionNotFoundError,
  CollectionExistsError,
  CollectionCorruptError,
  CollectionLockedError,
  UnknownModelError,
  ReplicaUnavailableError,
  ReplicaTimeoutError,
  ReplicaLogError,
  ModelMismatchError,
  MigrationRunningError,
} as const;

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

/** The class a code is rebuilt as on this side of a thread boundary: the first of the table with that code. */
const constructors = new Map<string, typeof WarmpoolErrorOf<ErrorCode>>();
for (const Class of Object.values(ERROR_CLASSES)) if (!constructors.has(Class.code)) constructors.set(Class.code, Class);

export function errorFromWire(wire: WireError): WarmpoolError {
  const Ctor = constructors.get(wire.code) ?? InferenceError;
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
