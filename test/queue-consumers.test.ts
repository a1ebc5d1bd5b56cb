import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, createPool, createQueueClient, sentence, type WarmPool } from './helpers.js';
import { startRedis, type RedisServer } from './redis-server.js';

interface Consumer {
  child: ChildProcess;
  stderr: string;
  exited: Promise<number | null>;
}

/** `warmpool worker` in a process of its own, with one worker thread on the default model. */
async function startConsumer(url: string, queue: string): Promise<Consumer> {
  const child = spawn(
    process.execPath,
    ['dist/src/cli.js', 'worker', '--redis', url, '--queue', queue, '--concurrency', '8', '--lock-duration', '2000', '--stalled-interval', '1000'],
    { cwd: ROOT, env: { ...process.env, WARMPOOL_THREADS: '1' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const consumer: Consumer = { child, stderr: '', exited: new Promise((r) => child.once('exit', (code) => r(code))) };
  child.stderr!.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consumer not ready in 60 s: ${consumer.stderr}`)), 60_000);
    child.stderr!.on('data', (d: string) => {
      consumer.stderr += d;
      if (consumer.stderr.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`consumer exited with ${code} before it was ready: ${consumer.stderr}`)));
  });
  return consumer;
}

describe('consumers in separate processes', () => {
  let redis: RedisServer;
  let local: WarmPool;
  const consumers: Consumer[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    local = createPool({ threads: 1 });
    await local.ready();
  });

  afterAll(async () => {
    for (const c of consumers) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await Promise.all(consumers.map((c) => c.exited));
    await local?.close();
    await redis?.stop();
  });

  it('completes every job exactly once with the right vector when a consumer is SIGKILLed midway', async () => {
    consumers.push(...(await Promise.all([0, 1, 2].map(() => startConsumer(redis.url, 'kill')))));
    const events = new QueueEvents('kill', { connection: { url: redis.url } });
    const stalled = new Set<string>();
    events.on('stalled', ({ jobId }) => stalled.add(jobId));
    await events.waitUntilReady();
    const client = createQueueClient({ connection: redis.url, queue: 'kill', reconcileInterval: 200 });

    const texts = Array.from({ length: 3000 }, (_, i) => sentence(i, 8));
    let killedAt = -1;
    let reports = 0;
    let lastDone = 0;
    let monotonic = true;
    const out = await client.embedMany(texts, {
      batchSize: 1,
      window: 64,
      onProgress: (p) => {
        reports++;
        if (p.jobsDone !== lastDone + 1) monotonic = false;
        lastDone = p.jobsDone;
        if (killedAt < 0 && p.jobsDone >= 1000) {
          killedAt = p.jobsDone;
          consumers[0]!.child.kill('SIGKILL');
        }
      },
    });

    expect(killedAt).toBeGreaterThan(0);
    expect(await consumers[0]!.exited).toBeNull();
    // From the caller's view: one answer per job, each with the vector the local pool computes.
    expect(reports).toBe(3000);
    expect(monotonic).toBe(true);
    expect(client.stats()).toMatchObject({ submitted: 3000, completed: 3000, failed: 0, pending: 0 });
    const expected = await local.embed(texts);
    let mismatches = 0;
    for (let i = 0; i < texts.length; i++) {
      const a = out[i]!;
      const b = expected[i]!;
      if (!a || !Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))) mismatches++;
    }
    expect(mismatches).toBe(0);
    // Jobs the killed consumer held (if it held any at that instant) were handed to the others by
    // BullMQ's stalled check: they are among the 3,000 answers above, each exactly once.
    expect(stalled.size).toBeLessThanOrEqual(3 * 8);
    await client.close();
    await events.close();

    // SIGTERM: the survivors finish what they hold and exit by themselves.
    for (const c of consumers.slice(1)) c.child.kill('SIGTERM');
    expect(await Promise.all(consumers.slice(1).map((c) => c.exited))).toEqual([0, 0]);
    for (const c of consumers.slice(1)) expect(c.stderr).toMatch(/stopped after \d+ jobs \(0 failed\)/);
  });

  it('worker command: missing --redis or --queue is a usage error', () => {
    const r = spawnSync(process.execPath, ['dist/src/cli.js', 'worker', '--queue', 'q'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("required option '--redis <url>' not specified");
  });

  it('leaves no open handle after close() of the client, the worker and the pool', () => {
    const script = `
      import { createPool } from './dist/src/index.js';
      import { createQueueClient, createQueueWorker } from './dist/src/queue/index.js';
      const pool = createPool({ threads: 1 });
      const worker = createQueueWorker({ connection: process.argv[1], queue: 'handles', pool });
      const client = createQueueClient({ connection: process.argv[1], queue: 'handles' });
      const v = await client.embed('open handles');
      const many = await client.embedMany(['a river', 'a bridge', 'a storm'], { batchSize: 2 });
      await client.close();
      await worker.close();
      await pool.close();
      console.log(JSON.stringify({ dims: v.length, many: many.length }));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, redis.url], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    // Killed by the timeout (a handle kept it alive) gives status null.
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ dims: 100, many: 3 });
  });

  it('with Redis unreachable, a call times out, and close() returns and leaves no handle', async () => {
    const down = await startRedis();
    await down.stop();
    const script = `
      import { createPool } from './dist/src/index.js';
      import { createQueueClient, createQueueWorker } from './dist/src/queue/index.js';
      const pool = createPool({ threads: 1 });
      const worker = createQueueWorker({ connection: process.argv[1], queue: 'down', pool });
      const client = createQueueClient({ connection: process.argv[1], queue: 'down', timeout: 500 });
      const error = await client.embed('nobody home').catch((e) => e);
      const t0 = performance.now();
      await client.close();
      await worker.close();
      await pool.close();
      console.log(JSON.stringify({ name: error.name, closeMs: performance.now() - t0 }));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, down.url], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { name: string; closeMs: number };
    expect(out.name).toBe('TaskTimeoutError');
    expect(out.closeMs).toBeLessThan(15_000);
  });
});
