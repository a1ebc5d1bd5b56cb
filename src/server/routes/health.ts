/** `GET /health` (the process answers) and `GET /ready` (every worker the pool keeps is warm). */
import type { WarmpoolRoute } from '../options.js';

export const health: WarmpoolRoute = async (app, { pool }) => {
  const config = { public: true };

  app.get('/health', { config }, async () => ({ status: 'ok' }));

  app.get('/ready', { config }, async (_request, reply) => {
    const { workersReady } = pool.stats();
    const wanted = pool.options.minThreads;
    const ready = pool.state === 'ready' && workersReady >= wanted;
    reply.code(ready ? 200 : 503);
    return { status: ready ? 'ready' : 'not ready', state: pool.state, workersReady, workers: wanted };
  });
};
