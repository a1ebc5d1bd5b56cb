/**
 * The whole HTTP surface as one Fastify plugin: auth, metrics, JSON errors and the routes. Apps
 * with their own Fastify instance register it (`app.register(warmpoolPlugin, { pool })`); being
 * encapsulated, its auth hook and error handler apply only to its own routes.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { WarmPool } from '../pool.js';
import { bearerCheck } from './auth.js';
import { HttpError, sendError } from './http-errors.js';
import { createMetrics } from './metrics.js';
import { resolveServerOptions, type ServerOptions } from './options.js';
import { BUILT_IN_ROUTES } from './routes/index.js';
import type { Replica } from '../replica/replica.js';

export interface PluginOptions extends ServerOptions {
  pool: WarmPool;
}

const kStarted = Symbol('warmpool.started');
type Timed = FastifyRequest & { [kStarted]?: bigint };

export const warmpoolPlugin: FastifyPluginAsync<PluginOptions> = async (app, { pool, ...rest }) => {
  // Fastify hands its own register options (prefix, logLevel, ...) to the plugin too.
  const { prefix: _prefix, logLevel: _logLevel, logSerializers: _logSerializers, ...serverOptions } = rest as PluginOptions & Record<string, unknown>;
  const options = resolveServerOptions(serverOptions);
  let replica: Replica | undefined;
  if (options.replicaOf !== undefined) {
    // Loaded only here: a server without a replica never loads ioredis.
    const { createReplica } = await import('../replica/replica.js');
    const opened = createReplica(pool, { redis: options.replicaOf, log: options.replicaLog });
    replica = opened;
    app.addHook('onClose', async () => opened.close());
  }
  const metrics = createMetrics(pool, options.processMetrics, replica);
  const check = options.apiKey === undefined ? undefined : bearerCheck(options.apiKey);

  app.addHook('onRequest', async (request) => {
    (request as Timed)[kStarted] = process.hrtime.bigint();
    metrics.httpInFlight.inc();
    if (check && request.routeOptions.config?.public !== true) check(request.headers.authorization);
  });
  const finish = (request: FastifyRequest, status: number): void => {
    const started = (request as Timed)[kStarted];
    if (started === undefined) return;
    (request as Timed)[kStarted] = undefined;
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpInFlight.dec();
    metrics.httpRequests.inc({ method: request.method, route, status: String(status) });
    metrics.httpDuration.observe({ method: request.method, route }, Number(process.hrtime.bigint() - started) / 1e9);
  };
  app.addHook('onResponse', async (request, reply) => finish(request, reply.statusCode));
  app.addHook('onRequestAbort', async (request) => finish(request, 499));

  app.setErrorHandler((error, request, reply) => sendError(request, reply, error, pool));
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, new HttpError(404, 'not_found', `no route for ${request.method} ${request.url.split('?')[0]}`), pool),
  );

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  for (const route of [...BUILT_IN_ROUTES, ...options.routes]) await app.register(route, replica ? { pool, options, replica } : { pool, options });
};
