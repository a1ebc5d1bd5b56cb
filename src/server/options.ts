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
} as const;

export const SERVER_DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 8080,
  bodyLimit: 8 * 1024 * 1024,
  maxInputs: 2048,
  processMetrics: true,
});

const KNOWN_KEYS = new Set(['host', 'port', 'apiKey', 'bodyLimit', 'maxInputs', 'modelName', 'processMetrics', 'routes', 'env']);

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
  const integer = (key: 'port' | 'bodyLimit' | 'maxInputs', fallback: number, min: number, max: number): number => {
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
  const apiKey = text('apiKey');
  return Object.freeze({
    host: text('host') ?? SERVER_DEFAULTS.host,
    port: integer('port', SERVER_DEFAULTS.port, 0, 65535),
    apiKey,
    bodyLimit: integer('bodyLimit', SERVER_DEFAULTS.bodyLimit, 1024, 2 ** 31 - 1),
    maxInputs: integer('maxInputs', SERVER_DEFAULTS.maxInputs, 1, 1_000_000),
    modelName: text('modelName'),
    processMetrics: options.processMetrics ?? SERVER_DEFAULTS.processMetrics,
    routes,
  });
}
