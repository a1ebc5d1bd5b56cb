import Fastify, { type FastifyInstance } from 'fastify';
import type { WarmPool } from '../pool.js';
import { clientErrorHandler } from './http-errors.js';
import { resolveServerOptions, type ResolvedServerOptions, type ServerOptions } from './options.js';
import { warmpoolPlugin } from './plugin.js';

/**
 * How often Node looks for requests past `headersTimeout` / `requestTimeout` (it checks on a
 * timer, 30 s by default, so a slow client could otherwise outlive its timeout by that much): a
 * quarter of the shorter timeout, from 50 ms to 1 s. One pass over the open connections a second
 * costs nothing measurable.
 */
export function connectionsCheckingInterval(options: Pick<ResolvedServerOptions, 'headersTimeout' | 'requestTimeout'>): number {
  const shortest = Math.min(options.headersTimeout, options.requestTimeout === 0 ? Infinity : options.requestTimeout);
  return Math.max(50, Math.min(1000, Math.floor(shortest / 4)));
}

/**
 * A Fastify instance serving `pool` (not yet listening): `await server.listen({ port, host })`,
 * or use {@link startServer}. The pool stays the caller's: closing the server does not close it.
 *
 * @example
 * const server = createServer(pool, { apiKey: 'secret' });
 * await server.listen({ host: '127.0.0.1', port: 8080 });
 */
export function createServer(pool: WarmPool, options: ServerOptions = {}): FastifyInstance {
  const resolved = resolveServerOptions(options);
  const app = Fastify({
    // Opt-in, and to stderr: a library never writes to stdout on its own.
    logger: resolved.logLevel === 'silent' ? false : { level: resolved.logLevel, stream: process.stderr },
    bodyLimit: resolved.bodyLimit,
    // Fastify sets these two on Node's server after creating it (its defaults: no request
    // timeout, 72 s keep-alive), so they are given here as well as in `http`.
    requestTimeout: resolved.requestTimeout,
    keepAliveTimeout: resolved.keepAliveTimeout,
    http: {
      headersTimeout: resolved.headersTimeout,
      requestTimeout: resolved.requestTimeout,
      keepAliveTimeout: resolved.keepAliveTimeout,
      connectionsCheckingInterval: connectionsCheckingInterval(resolved),
    },
    // A client too slow with its request is answered 408 in the OpenAI error shape, then closed.
    clientErrorHandler,
    // Keep-alive connections with no request in flight are closed at close(); busy ones finish.
    forceCloseConnections: 'idle',
  });
  // Node's server.close() drops only the keep-alive connections idle at that moment; one whose
  // request is still running would then stay open until its keep-alive timeout and hold close()
  // up. Answers sent while closing ask the client to close instead.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  void app.register(warmpoolPlugin, { ...options, pool });
  return app;
}

export interface RunningServer {
  server: FastifyInstance;
  /** `http://host:port`, with the port actually bound. */
  url: string;
  /** Stops accepting, lets requests in flight finish, then resolves. Does not close the pool. */
  close(): Promise<void>;
}

/** Creates the server and listens on `options.host` / `options.port` (default 127.0.0.1:8080). */
export async function startServer(pool: WarmPool, options: ServerOptions = {}): Promise<RunningServer> {
  const { host, port } = resolveServerOptions(options);
  const server = createServer(pool, options);
  await server.listen({ host, port });
  const address = server.server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return { server, url: `http://${shownHost}:${bound}`, close: () => server.close() };
}
