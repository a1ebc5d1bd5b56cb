/**
 * The server's options: their public types (with TSDoc), and their table, from which the
 * defaults, the environment variables, the known keys, resolution and `docs/options.md` are
 * derived (see `../option-table.ts`).
 */
import type { FastifyPluginAsync } from 'fastify';
import {
  arrayOf,
  boolean,
  callable,
  defaultsOf,
  envVarsOf,
  integer,
  knownKeysOf,
  MAX_TIMER_MS,
  oneOf,
  parser,
  received,
  resolveWith,
  text,
  type Family,
  type OptionRow,
  type Equal,
  type Resolved,
} from '../option-table.js';

/** Options of {@link createServer} and `warmpool serve`. */
export interface ServerOptions {
  /**
   * Interface to listen on. The default answers only this machine; set `0.0.0.0` (and an
   * `apiKey`) to serve a network. Env: `WARMPOOL_HOST`.
   * @default '127.0.0.1'
   */
  host?: string;
  /** TCP port; `0` picks a free one. Env: `WARMPOOL_PORT`. @default 8080 */
  port?: number;
  /**
   * A bearer token every request must carry (`Authorization: Bearer <key>`), except `GET /health`
   * and `GET /ready`. Unset: no authentication. Env: `WARMPOOL_API_KEY`.
   * @default undefined
   */
  apiKey?: string;
  /** Largest request body in bytes; a larger one is answered 413. Env: `WARMPOOL_BODY_LIMIT`. @default 8388608 (8 MiB) */
  bodyLimit?: number;
  /**
   * Most texts one request may carry; more is answered 400. OpenAI's own limit is 2048.
   * Env: `WARMPOOL_MAX_INPUTS`.
   * @default 2048
   */
  maxInputs?: number;
  /**
   * The name the server gives its model in answers (`model` of `/v1/embeddings`, `/v1/models`).
   * Env: `WARMPOOL_MODEL_NAME`.
   * @default the last segment of the pool's `model` option
   */
  modelName?: string;
  /**
   * Most milliseconds a client may take to send a request's headers, counted from the request's
   * first byte (for a new connection, from the moment it opened). A client that is too slow is
   * answered `408` and its connection closed. At most `requestTimeout` (when that is not 0).
   * Env: `WARMPOOL_HEADERS_TIMEOUT`.
   * @default 10000, or `requestTimeout` when that is set lower
   */
  headersTimeout?: number;
  /**
   * Most milliseconds a client may take to send a whole request, headers and body. A client that
   * is too slow is answered `408` and its connection closed. This bounds only receiving the
   * request, never the time the server takes to answer (that is the pool's `timeout`). `0`: no
   * limit (then only `headersTimeout` bounds a request). Env: `WARMPOOL_REQUEST_TIMEOUT`.
   * @default 60000
   */
  requestTimeout?: number;
  /**
   * Milliseconds an idle keep-alive connection (an answer sent, no new request begun) stays open
   * before the server closes it. Behind a proxy that reuses connections, set it above the proxy's
   * own idle timeout. Env: `WARMPOOL_KEEP_ALIVE_TIMEOUT`.
   * @default 5000
   */
  keepAliveTimeout?: number;
  /**
   * Log to stderr at this level (pino JSON lines, through Fastify's logger): errors answered
   * `5xx` are logged at `error` with their full message (which may name files on the server's disk
   * and process ids that the answer leaves out), `423`s and other redacted answers at `warn`,
   * `info` adds one line per request. `'silent'` logs nothing: the server then writes nothing at
   * all. Env: `WARMPOOL_LOG_LEVEL`.
   * @default 'silent'
   */
  logLevel?: ServerLogLevel;
  /** Also export Node's process metrics (CPU, memory, event-loop lag) on `/metrics`. @default true */
  processMetrics?: boolean;
  /**
   * Serve the collections as a replica of a log in this Redis (`redis://` or `rediss://` URL):
   * writes go through the log, every replica applies them, searches answer from the local copy (see
   * docs/scaling-out.md#replicated-collections). The server opens the replica and closes it with
   * itself. Env: `WARMPOOL_REPLICA_OF`.
   * @default undefined
   */
  replicaOf?: string;
  /** The replicated log's name, with `replicaOf`: servers with the same one share their collections. Env: `WARMPOOL_REPLICA_LOG`. @default 'default' */
  replicaLog?: string;

  /**
   * More routes, as Fastify plugins registered after the built-in ones; each gets
   * `{ pool, options }` (see {@link RouteContext}).
   * @default []
   */
  routes?: readonly WarmpoolRoute[];
  /** Where the `WARMPOOL_*` variables are read from; `false` ignores the environment. @default process.env */
  env?: Record<string, string | undefined> | false;
}

export const SERVER_LOG_LEVELS = ['silent', 'fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type ServerLogLevel = (typeof SERVER_LOG_LEVELS)[number];

/** What a route plugin is given when it is registered. */
export interface RouteContext {
  pool: import('../pool.js').WarmPool;
  options: ResolvedServerOptions;
  /** The replica the collection routes write through, with `replicaOf`. */
  replica?: import('../replica/replica.js').Replica;
}

export type WarmpoolRoute = FastifyPluginAsync<RouteContext>;

export interface ResolvedServerOptions {
  host: string;
  port: number;
  apiKey: string | undefined;
  bodyLimit: number;
  maxInputs: number;
  modelName: string | undefined;
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  logLevel: ServerLogLevel;
  processMetrics: boolean;
  replicaOf: string | undefined;
  replicaLog: string;
  routes: readonly WarmpoolRoute[];
}

/** 10 s is ample for headers, which are small (see the table). */
const HEADERS_TIMEOUT = 10_000;

/**
 * Every option of the server, once. The TSDoc of {@link ServerOptions} is the long form of each
 * `doc`; `test/unit/option-table.test.ts` checks that the two agree on keys, defaults and variables.
 */
export const SERVER_OPTIONS = {
  host: {
    parse: text,
    env: 'WARMPOOL_HOST',
    flag: '--host <host>',
    default: '127.0.0.1',
    doc: 'Interface to listen on. The default answers only this machine; set `0.0.0.0` (and an `apiKey`) to serve a network.',
  },
  port: {
    parse: integer(0, 65535),
    env: 'WARMPOOL_PORT',
    flag: '--port <port>',
    default: 8080,
    doc: 'TCP port; `0` picks a free one.',
  },
  apiKey: {
    parse: text,
    env: 'WARMPOOL_API_KEY',
    flag: '--api-key <key>',
    doc: 'A bearer token every request must carry (`Authorization: Bearer <key>`), except `GET /health` and `GET /ready`.',
  },
  bodyLimit: {
    parse: integer(1024, 2 ** 31 - 1),
    env: 'WARMPOOL_BODY_LIMIT',
    flag: '--body-limit <bytes>',
    default: 8 * 1024 * 1024,
    doc: 'Largest request body in bytes; a larger one is answered 413.',
  },
  maxInputs: {
    parse: integer(1, 1_000_000),
    env: 'WARMPOOL_MAX_INPUTS',
    flag: '--max-inputs <n>',
    default: 2048,
    doc: "Most texts one request may carry; more is answered 400 (OpenAI's own limit is 2048).",
  },
  modelName: {
    parse: text,
    env: 'WARMPOOL_MODEL_NAME',
    flag: '--model-name <name>',
    none: "the last segment of the pool's `model` option",
    doc: 'The name the server gives its model in answers (`model` of `/v1/embeddings`, `/v1/models`).',
  },
  // Slow clients (slowloris, a stalled upload, a forgotten keep-alive connection) must not hold
  // a connection for ever. 10 s is ample for headers, which are small; 60 s lets a client on a
  // slow uplink (about 1.2 Mbit/s) send a body of the full 8 MiB `bodyLimit`; 5 s is Node's own
  // keep-alive default, which HTTP clients (undici, the `Keep-Alive: timeout=5` header) expect.
  headersTimeout: {
    parse: integer(1, MAX_TIMER_MS),
    env: 'WARMPOOL_HEADERS_TIMEOUT',
    flag: '--headers-timeout <ms>',
    default: HEADERS_TIMEOUT,
    // Node refuses a headers timeout longer than the request timeout; the default gives way.
    computed: {
      doc: `${HEADERS_TIMEOUT}, or \`requestTimeout\` when that is set lower`,
      of: (r) => (r.requestTimeout === 0 ? HEADERS_TIMEOUT : Math.min(HEADERS_TIMEOUT, r.requestTimeout as number)),
    },
    doc: "Most milliseconds a client may take to send a request's headers (else `408` and the connection closed); at most `requestTimeout` when that is not 0.",
  },
  requestTimeout: {
    parse: integer(0, MAX_TIMER_MS),
    env: 'WARMPOOL_REQUEST_TIMEOUT',
    flag: '--request-timeout <ms>',
    default: 60_000,
    doc: "Most milliseconds a client may take to send a whole request (else `408`); it never bounds the time the server takes to answer. `0`: no limit.",
  },
  keepAliveTimeout: {
    parse: integer(1, MAX_TIMER_MS),
    env: 'WARMPOOL_KEEP_ALIVE_TIMEOUT',
    flag: '--keep-alive-timeout <ms>',
    default: 5_000,
    doc: "Milliseconds an idle keep-alive connection stays open; behind a proxy that reuses connections, set it above the proxy's own idle timeout.",
  },
  logLevel: {
    parse: oneOf(SERVER_LOG_LEVELS),
    env: 'WARMPOOL_LOG_LEVEL',
    flag: '--log-level <level>',
    default: 'silent',
    doc: 'Log to stderr at this level (pino JSON lines): `5xx` at `error` with their full message, `4xx` that are redacted at `warn`, `info` adds one line per request. `silent` writes nothing.',
  },
  processMetrics: {
    parse: boolean,
    default: true,
    doc: "Also export Node's process metrics (CPU, memory, event-loop lag) on `/metrics`.",
  },
  replicaOf: {
    parse: parser('a redis:// or rediss:// URL', (src): string => {
      const url = text(src);
      if (!/^rediss?:\/\/./.test(url)) throw new TypeError(`${src.from} must be a redis:// or rediss:// URL, received ${received(url)}`);
      return url;
    }),
    env: 'WARMPOOL_REPLICA_OF',
    flag: '--replica-of <url>',
    doc: 'Serve the collections as a replica of a log in this Redis: writes go through the log, every replica applies them, searches answer locally.',
  },
  replicaLog: {
    parse: parser("1-128 letters, digits, '.', '_' or '-'", (src): string => {
      const name = text(src);
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name)) throw new TypeError(`${src.from} must be 1-128 letters, digits, '.', '_' or '-', received ${received(name)}`);
      return name;
    }),
    env: 'WARMPOOL_REPLICA_LOG',
    flag: '--replica-log <name>',
    default: 'default',
    doc: "The replicated log's name, with `replicaOf`: servers with the same one share their collections.",
  },
  routes: {
    parse: arrayOf(callable<WarmpoolRoute>(), 'an array of Fastify plugin functions'),
    default: Object.freeze([]) as readonly WarmpoolRoute[],
    doc: 'More routes, as Fastify plugins registered after the built-in ones; each gets `{ pool, options }`.',
  },
} as const satisfies Record<string, OptionRow<any>>;

const SERVER_FAMILY: Family<typeof SERVER_OPTIONS> = { table: SERVER_OPTIONS, label: 'server options', env: true };

/** The environment variable behind each server option that has one. */
export const SERVER_ENV_VARS = envVarsOf(SERVER_OPTIONS);

/** The defaults of the server options that have a fixed one. */
export const SERVER_DEFAULTS = defaultsOf(SERVER_OPTIONS);

/** The keys `createServer` takes; any other is a TypeError. */
export const SERVER_OPTION_KEYS = knownKeysOf(SERVER_FAMILY);

/** Compile-time: {@link ResolvedServerOptions} (hand-written) is exactly what the table resolves to. */
const resolvedMatchesTable: Equal<Readonly<ResolvedServerOptions>, Resolved<typeof SERVER_OPTIONS>> = true;
void resolvedMatchesTable;

/**
 * Validates server options once and fills in environment variables and defaults. Throws
 * `TypeError` for a wrong type and `RangeError` for a value out of range.
 */
export function resolveServerOptions(options: ServerOptions = {}): ResolvedServerOptions {
  const resolved = resolveWith(SERVER_FAMILY, options) as Resolved<typeof SERVER_OPTIONS>;
  const { headersTimeout, requestTimeout } = resolved;
  if (requestTimeout !== 0 && headersTimeout > requestTimeout) {
    throw new RangeError(`headersTimeout (${headersTimeout} ms) must not exceed requestTimeout (${requestTimeout} ms): the headers are part of the request`);
  }
  return Object.freeze(resolved);
}
