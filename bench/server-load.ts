/**
 * Load test of `POST /v1/embeddings` with autocannon against 127.0.0.1: requests per second and
 * latency at a concurrency below the server's capacity (expect no error at all), then above it
 * (expect only 429s, each with Retry-After, and every other request answered 200).
 *
 * Capacity = workers x concurrentTasksPerWorker running + maxQueue waiting. Each phase is bounded
 * in time and in request count. Run with `npm run bench:server`; results go to
 * bench/results/server-load.json.
 *
 * Environment: BENCH_DURATION (s per phase, default 10), BENCH_THREADS (workers, default the
 * pool's default), BENCH_MAX_QUEUE (default 16), BENCH_BELOW / BENCH_ABOVE (connections).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import autocannon from 'autocannon';
import { createPool } from '../dist/src/index.js';
import { startServer } from '../dist/src/server/index.js';

const env = (name: string, fallback: number): number => (process.env[name] ? Number(process.env[name]) : fallback);
const duration = env('BENCH_DURATION', 10);
const maxQueue = env('BENCH_MAX_QUEUE', 16);
// Every request sends the same sentence: with the text cache on, all but the first would be answered
// from the cache on the main thread and never reach admission. Off, each one runs on a worker.
const pool = createPool({ maxQueue, cacheBytes: 0, env: false, ...(process.env.BENCH_THREADS && { threads: env('BENCH_THREADS', 2) }) });
await pool.ready();
const running = pool.options.maxThreads * pool.options.concurrentTasksPerWorker;
const capacity = running + maxQueue;
const below = env('BENCH_BELOW', Math.max(1, Math.min(capacity, running * 4)));
const above = env('BENCH_ABOVE', capacity * 4);
const server = await startServer(pool, { port: 0, env: false, processMetrics: false });

const body = JSON.stringify({ model: 'glove-100d', input: 'The quick brown fox jumps over the lazy dog near the river bank.' });

async function phase(connections: number) {
  const result = await autocannon({
    url: `${server.url}/v1/embeddings`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections,
    duration,
    // Bounded in count as well as in time.
    maxOverallRequests: 200_000,
    timeout: 10,
  });
  const codes: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) codes[code] = count ?? 0;
  const ok = codes['200'] ?? 0;
  return {
    connections,
    seconds: result.duration,
    requests: result.requests.total,
    okPerSecond: Math.round(ok / result.duration),
    requestsPerSecond: result.requests.average,
    latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
    statusCodes: codes,
    socketErrors: result.errors,
    timeouts: result.timeouts,
  };
}

// A short warm-up so the first phase does not pay for JIT and connection set-up.
await autocannon({ url: `${server.url}/v1/embeddings`, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: 2, amount: 200 });
const belowResult = await phase(below);
const aboveResult = await phase(above);

// One 429 answer, to record its Retry-After: more heavy requests at once than the server holds.
const heavy = JSON.stringify({ model: 'glove-100d', input: Array.from({ length: 256 }, (_, i) => `sentence number ${i} about the river bank`) });
const probe = await Promise.all(
  Array.from({ length: capacity * 3 }, () => fetch(`${server.url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: heavy })),
);
const refused = probe.find((r) => r.status === 429);
await Promise.all(probe.map((r) => r.arrayBuffer()));

const onlyOkOr429 = Object.keys(aboveResult.statusCodes).every((c) => c === '200' || c === '429');
const report = {
  date: new Date().toISOString(),
  machine: { cpus: availableParallelism(), model: cpus()[0]?.model ?? 'unknown', node: process.version },
  note: 'autocannon runs in the same process and on the same cores as the server and its workers',
  pool: { model: pool.options.model, workers: pool.options.maxThreads, intraOpThreads: pool.options.intraOpThreads, maxQueue, capacity },
  request: 'POST /v1/embeddings, one 13-word sentence, base64 answer',
  belowCapacity: { ...belowResult, errorFree: Object.keys(belowResult.statusCodes).every((c) => c === '200') && belowResult.socketErrors === 0 },
  aboveCapacity: { ...aboveResult, onlyOkOr429, retryAfter: refused?.headers.get('retry-after') ?? null },
  poolStats: pool.stats(),
};
await server.close();
await pool.close();

mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/server-load.json', import.meta.url), `${JSON.stringify(report, null, 2)}\n`);
const row = (name: string, r: typeof belowResult) =>
  `${name.padEnd(16)} ${String(r.connections).padStart(5)} conns  ${String(r.okPerSecond).padStart(6)} ok/s  p50 ${String(r.latencyMs.p50).padStart(4)} ms  p99 ${String(r.latencyMs.p99).padStart(4)} ms  ${JSON.stringify(r.statusCodes)}`;
console.log(`capacity ${capacity} (${running} running + ${maxQueue} queued), ${duration} s per phase`);
console.log(row('below capacity', belowResult));
console.log(row('above capacity', aboveResult));
console.log(`below capacity error-free: ${report.belowCapacity.errorFree}; above capacity only 200/429: ${onlyOkOr429}; Retry-After ${report.aboveCapacity.retryAfter}`);
console.log('wrote bench/results/server-load.json');
if (!report.belowCapacity.errorFree || !onlyOkOr429) process.exitCode = 1;
