/**
 * Scale-out benchmark: jobs per second through a BullMQ queue with 1, 2 and 3 consumer processes
 * on this machine, and the per-job cost of the queue path against a local `embed()` call, measured
 * side by side in one run against a throw-away redis-server.
 *
 *   npm run bench:queue [-- --jobs 4000 --latency-calls 300]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createPool } from '../dist/src/index.js';
import { createQueueClient } from '../dist/src/queue/index.js';
import { startRedis } from '../test/redis-server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { jobs: { type: 'string', default: '4000' }, 'latency-calls': { type: 'string', default: '300' } } });
const JOBS = Number(values.jobs);
const LATENCY_CALLS = Number(values['latency-calls']);
const WINDOW = 128;

const vocab = ['river', 'market', 'guitar', 'doctor', 'storm', 'pasta', 'football', 'engine', 'garden', 'court', 'planet', 'violin'];
const text = (i: number): string => `${vocab[i % 12]} ${vocab[(i * 7) % 12]} ${vocab[(i * 5) % 12]} near the ${vocab[(i * 3) % 12]} ${i}`;
/** Distinct texts per phase, so no phase is answered by a cache warmed in another. */
let seed = 0;
const fresh = (n: number): string[] => Array.from({ length: n }, () => text(seed++));

function startConsumer(url: string, queue: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['dist/src/cli.js', 'worker', '--redis', url, '--queue', queue, '--concurrency', '16'], {
    cwd: ROOT,
    env: { ...process.env, WARMPOOL_THREADS: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (err.includes('ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`consumer exited with ${code}: ${err}`)));
  });
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(children.map((c) => new Promise((r) => { c.once('exit', r); c.kill('SIGTERM'); })));
}

async function latency(call: (t: string) => Promise<unknown>): Promise<{ meanMs: number; p50Ms: number; p90Ms: number }> {
  for (const t of fresh(20)) await call(t);
  const ms: number[] = [];
  for (const t of fresh(LATENCY_CALLS)) {
    const t0 = performance.now();
    await call(t);
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return { meanMs: ms.reduce((a, b) => a + b, 0) / ms.length, p50Ms: ms[Math.floor(ms.length / 2)]!, p90Ms: ms[Math.floor(ms.length * 0.9)]! };
}

const redis = await startRedis();
try {
  // Local baseline: one warm worker thread in this process, the same work as one consumer does.
  const local = createPool({ threads: 1 });
  await local.ready();
  const localLatency = await latency((t) => local.embed(t));
  const localTexts = fresh(JOBS);
  const l0 = performance.now();
  for (let i = 0; i < localTexts.length; i += WINDOW) await Promise.all(localTexts.slice(i, i + WINDOW).map((t) => local.embed(t)));
  const localCallsPerSecond = JOBS / ((performance.now() - l0) / 1000);
  await local.close();

  const rows: { consumers: number; jobsPerSecond: number; seconds: number; textsPerSecondInJobsOf32: number }[] = [];
  let queueLatency: Awaited<ReturnType<typeof latency>> | undefined;
  for (const n of [1, 2, 3]) {
    const queue = `bench-${n}`;
    const consumers = await Promise.all(Array.from({ length: n }, () => startConsumer(redis.url, queue)));
    const client = createQueueClient({ connection: redis.url, queue });
    await client.embedMany(fresh(200), { batchSize: 1, window: WINDOW });
    if (n === 1) queueLatency = await latency((t) => client.embed(t));
    const t0 = performance.now();
    const out = await client.embedMany(fresh(JOBS), { batchSize: 1, window: WINDOW });
    const seconds = (performance.now() - t0) / 1000;
    if (out.length !== JOBS) throw new Error(`expected ${JOBS} vectors, got ${out.length}`);
    // The same corpus in jobs of 32 texts: the queue's cost is per job, so it is spread over 32.
    const b0 = performance.now();
    await client.embedMany(fresh(JOBS * 2), { batchSize: 32, window: 16 });
    const textsPerSecondInJobsOf32 = (JOBS * 2) / ((performance.now() - b0) / 1000);
    rows.push({ consumers: n, jobsPerSecond: JOBS / seconds, seconds, textsPerSecondInJobsOf32 });
    await client.close();
    await stopAll(consumers);
  }

  const overheadMs = queueLatency!.meanMs - localLatency.meanMs;
  const result = {
    date: new Date().toISOString(),
    machine: { cores: availableParallelism(), cpu: cpus()[0]?.model, loadavg1m: loadavg()[0], node: process.version },
    setup: { jobs: JOBS, textsPerJob: 1, window: WINDOW, consumerThreads: 1, consumerConcurrency: 16, model: 'glove-100d', redis: 'local redis-server, same machine' },
    throughput: rows,
    localPool: { callsPerSecond: localCallsPerSecond, latency: localLatency },
    queueLatency,
    overheadPerJobMs: overheadMs,
  };
  mkdirSync(`${ROOT}bench/results`, { recursive: true });
  writeFileSync(`${ROOT}bench/results/queue.json`, `${JSON.stringify(result, null, 2)}\n`);

  const f = (x: number, d = 0) => x.toFixed(d);
  console.log(`queue benchmark: ${JOBS} jobs of 1 text, ${WINDOW} in flight, glove-100d, ${availableParallelism()} cores (load ${f(loadavg()[0]!, 1)})\n`);
  console.log('| consumers | jobs/s (1 text each) | seconds | texts/s in jobs of 32 |');
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.consumers} | ${f(r.jobsPerSecond)} | ${f(r.seconds, 1)} | ${f(r.textsPerSecondInJobsOf32)} |`);
  console.log(`| local pool (1 thread, no queue) | ${f(localCallsPerSecond)} calls/s | | |`);
  console.log(`\none call at a time: local embed() ${f(localLatency.meanMs, 2)} ms mean (p50 ${f(localLatency.p50Ms, 2)}), ` +
    `through the queue ${f(queueLatency!.meanMs, 2)} ms mean (p50 ${f(queueLatency!.p50Ms, 2)}): overhead ${f(overheadMs, 2)} ms per job`);
  console.log('wrote bench/results/queue.json');
} finally {
  await redis.stop();
}
