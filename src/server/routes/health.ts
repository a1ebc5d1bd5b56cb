/**
 * `GET /health` (the process answers; also at `GET /` and `GET /ping`, where TEI answers its health
 * check) and `GET /ready` (every worker the pool keeps is warm, and a replica has joined its log).
 */
import { readStats } from '../../stats.js';
import type { WarmpoolRoute } from '../options.js';

export const health: WarmpoolRoute = async (app, { pool, replica }) => {
  const config = { public: true };

  // A replica answers searches while Redis is down: alive, with how stale its copy may be.
  const alive = async () => (replica ? { status: 'ok', replica: replica.health() } : { status: 'ok' });
  app.get('/health', { config }, alive);
  app.get('/', { config }, alive);
  app.get('/ping', { config }, alive);

  app.get('/ready', { config }, async (_request, reply) => {
    // From the shared counters: a readiness probe need not read the process's memory.
    const { workersReady } = readStats(pool.statsBuffer);
    const wanted = pool.options.minThreads;
    // A replica that has not joined its log yet refuses every write.
    const joined = replica?.joined ?? true;
    const ready = pool.state === 'ready' && workersReady >= wanted && joined;
    reply.code(ready ? 200 : 503);
    const body = { status: ready ? 'ready' : 'not ready', state: pool.state, workersReady, workers: wanted };
    return replica ? { ...body, replica: joined ? 'joined' : 'joining' } : body;
  });
};
