// A Fastify app of your own that uses a warm pool in its own route and mounts warmpool's HTTP
// API beside it. Run: node examples/fastify-server/server.mjs  (PORT=0 picks a free port)
import Fastify from 'fastify';
import { createPool } from 'warmpool';
import { warmpoolPlugin } from 'warmpool/server';

const pool = createPool();
const app = Fastify();

// Your route: how similar are two texts? Vectors are unit length, so cosine = dot product.
app.post('/similarity', async (request, reply) => {
  const { a, b } = request.body ?? {};
  if (typeof a !== 'string' || typeof b !== 'string') return reply.code(400).send({ error: 'send {"a": "...", "b": "..."}' });
  const [va, vb] = await pool.embed([a, b]);
  let cosine = 0;
  for (let i = 0; i < va.length; i++) cosine += va[i] * vb[i];
  return { cosine };
});

// warmpool's own API (/v1/embeddings, /embed, /health, /ready, /metrics, /stats) under /api.
await app.register(warmpoolPlugin, { pool, prefix: '/api' });

await pool.ready();
const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 3000) });
console.log(`listening on ${address}`);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    await app.close(); // finishes requests in flight
    await pool.close();
  });
}
