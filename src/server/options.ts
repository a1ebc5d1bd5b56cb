import type { FastifyPluginAsync } from 'fastify';

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
   * @default the pool's `model` option
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
  routes: readonly WarmpoolRoute[];
}

export const SERVER_ENV_VARS = {
  host: 'WARMPOOL_HOST',
  port: 'WARMPOOL_PORT',
  apiKey: 'WARMPOOL_API_KEY',
  bodyLimit: 'WARMPOOL_BODY_LIMIT',
  maxInputs: 'WARMPOOL_MAX_INPUTS',
  modelName: 'WARMPOOL_MODEL_NAME',
  headersTimeout: 'WARMPOOL_HEADERS_TIMEOUT',
  requestTimeout: 'WARMPOOL_REQUEST_TIMEOUT',
  keepAliveTimeout: 'WARMPOOL_KEEP_ALIVE_TIMEOUT',
  logLevel: 'WARMPOOL_LOG_LEVEL',
} as const;

export const SERVER_DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 8080,
  bodyLimit: 8 * 1024 * 1024,
  maxInputs: 2048,
  // Slow clients (slowloris, a stalled upload, a forgotten keep-alive connection) must not hold
  // a connection for ever. 10 s is ample for headers, which are small; 60 s lets a client on a
  // slow uplink (about 1.2 Mbit/s) send a body of the full 8 MiB `bodyLimit`; 5 s is Node's own
  // keep-alive default, which HTTP clients (undici, the `Keep-Alive: timeout=5` header) expect.
  headersTimeout: 10_000,
  requestTimeout: 60_000,
  keepAliveTimeout: 5_000,
  logLevel: 'silent' as ServerLogLevel,
  processMetrics: true,
});

/** The longest timer Node keeps (about 24.8 days). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

const KNOWN_KEYS = new Set([
  'host',
  'port',
  'apiKey',
  'bodyLimit',
  'maxInputs',
  'modelName',
  'headersTimeout',
  'requestTimeout',
  'keepAliveTimeout',
  'logLevel',
  'processMetrics',
  'routes',
  'env',
]);

const show = (value: unknown): string => {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (Array.isArray(value)) return 'an array';
  return `a value of type ${typeof value}`;
};

/**
 * Validates server options once and fills in environment variables and defaults. Throws
 * `TypeError` for a wrong type and `RangeError` for a value out of range.
 */
export function resolveServerOptions(options: ServerOptions = {}): ResolvedServerOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`server options must be an object, received ${show(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_KEYS.has(key)) throw new TypeError(`unknown server option ${JSON.stringify(key)}; valid options are ${[...KNOWN_KEYS].join(', ')}`);
  }
  const env = options.env === undefined ? process.env : options.env;
  if (env !== false && (typeof env !== 'object' || env === null)) {
    throw new TypeError(`options.env must be an object or false, received ${show(env)}`);
  }
  const fromEnv = (key: keyof typeof SERVER_ENV_VARS): string | undefined => {
    if (env === false) return undefined;
    const raw = env[SERVER_ENV_VARS[key]];
    return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
  };
  const text = (key: 'host' | 'apiKey' | 'modelName'): string | undefined => {
    const value = options[key];
    if (value === undefined) return fromEnv(key);
    if (typeof value !== 'string' || value.trim() === '') throw new TypeError(`options.${key} must be a non-empty string, received ${show(value)}`);
    return value;
  };
  type IntegerKey = 'port' | 'bodyLimit' | 'maxInputs' | 'headersTimeout' | 'requestTimeout' | 'keepAliveTimeout';
  const integer = (key: IntegerKey, fallback: number, min: number, max: number): number => {
    let value: unknown = options[key];
    let from = `options.${key}`;
    if (value === undefined) {
      const raw = fromEnv(key);
      if (raw === undefined) return fallback;
      value = Number(raw);
      from = `environment variable ${SERVER_ENV_VARS[key]}`;
      if (Number.isNaN(value)) throw new TypeError(`${from} must be a number, received ${show(raw)}`);
    } else if (typeof value !== 'number' || Number.isNaN(value)) {
      throw new TypeError(`${from} must be a number, received ${show(value)}`);
    }
    const n = value as number;
    if (!Number.isInteger(n) || n < min || n > max) throw new RangeError(`${from} must be an integer from ${min} to ${max}, received ${show(n)}`);
    return n;
  };
  if (options.processMetrics !== undefined && typeof options.processMetrics !== 'boolean') {
    throw new TypeError(`options.processMetrics must be a boolean, received ${show(options.processMetrics)}`);
  }
  const routes = options.routes ?? [];
  if (!Array.isArray(routes) || routes.some((r) => typeof r !== 'function')) {
    throw new TypeError(`options.routes must be an array of Fastify plugin functions, received ${show(routes)}`);
  }
  const level: unknown = options.logLevel ?? fromEnv('logLevel') ?? SERVER_DEFAULTS.logLevel;
  if (!(SERVER_LOG_LEVELS as readonly unknown[]).includes(level)) {
    const from = options.logLevel === undefined ? `environment variable ${SERVER_ENV_VARS.logLevel}` : 'options.logLevel';
    throw new TypeError(`${from} must be one of ${SERVER_LOG_LEVELS.join(', ')}, received ${show(level)}`);
  }
  const logLevel = level as ServerLogLevel;
  const requestTimeout = integer('requestTimeout', SERVER_DEFAULTS.requestTimeout, 0, MAX_TIMEOUT_MS);
  // Node refuses a headers timeout longer than the request timeout; the default gives way.
  const headersFallback = requestTimeout === 0 ? SERVER_DEFAULTS.headersTimeout : Math.min(SERVER_DEFAULTS.headersTimeout, requestTimeout);
  const headersTimeout = integer('headersTimeout', headersFallback, 1, MAX_TIMEOUT_MS);
  if (requestTimeout !== 0 && headersTimeout > requestTimeout) {
    throw new RangeError(`headersTimeout (${headersTimeout} ms) must not exceed requestTimeout (${requestTimeout} ms): the headers are part of the request`);
  }
  const apiKey = text('apiKey');
  return Object.freeze({
    host: text('host') ?? SERVER_DEFAULTS.host,
    port: integer('port', SERVER_DEFAULTS.port, 0, 65535),
    apiKey,
    bodyLimit: integer('bodyLimit', SERVER_DEFAULTS.bodyLimit, 1024, 2 ** 31 - 1),
    maxInputs: integer('maxInputs', SERVER_DEFAULTS.maxInputs, 1, 1_000_000),
    modelName: text('modelName'),
    headersTimeout,
    requestTimeout,
    keepAliveTimeout: integer('keepAliveTimeout', SERVER_DEFAULTS.keepAliveTimeout, 1, MAX_TIMEOUT_MS),
    logLevel,
    processMetrics: options.processMetrics ?? SERVER_DEFAULTS.processMetrics,
    routes,
  });
}
