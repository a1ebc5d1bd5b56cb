/** `GET /stats`: the pool's statistics snapshot as JSON (the same object `pool.stats()` returns). */
import type { WarmpoolRoute } from '../options.js';

export const stats: WarmpoolRoute = async (app, { pool }) => {
  app.get('/stats', async () => pool.stats());
};
