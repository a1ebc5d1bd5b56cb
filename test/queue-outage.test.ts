/**
 * The queue when Redis goes away: paused (SIGSTOP: connections stay open, nothing answers), killed
 * (SIGKILL: connections drop) and restarted empty on the same port. A real redis-server, real
 * worker threads, the real model. Every wait is capped, so a hang fails the test instead of
 * stalling the suite.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  BUILTIN_HANDLERS,
  PoolClosedError,
  ROOT,
  WorkerExitedError,
  createPool,
  createQueueClient,
  createQueueWorker,
  sentence,
  type JobHandler,
  type QueueClient,
  type QueueWorker,
  type WarmPool,
} from './helpers.js';
import { startRedis, type RedisServer } from './redis-server.js';

const HUNG = Symbol('hung');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The promise's value, or HUNG if it has not settled after `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof HUNG> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<typeof HUNG>((r) => (timer = setTimeout(() => r(HUNG), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Milliseconds `close` took, or HUNG past `cap`. */
async function timed(close: () => Promise<unknown>, cap: number): Promise<number | typeof HUNG> {
  const t0 = performance.now();
  const r = await within(close(), cap);
  return r === HUNG ? HUNG : Math.round(performance.now() - t0);
}

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await sleep(10);
  }
}

const CLOSE_TIMEOUT = 1000;
/** What a close may take beyond closeTimeout (forcing, unwinding, a loaded CI machine). */
const SLACK = 1500;

describe('queue with Redis paused, killed or restarted empty', () => {
  let pool: WarmPool;
  const servers: RedisServer[] = [];
  const closers: (() => Promise<unknown>)[] = [];

  const fresh = async (): Promise<RedisServer> => {
    const r = await startRedis();
    servers.push(r);
    return r;
  };
  /** Capped, so that cleanup after a failed (hung) test cannot hang too. */
  const later = <T extends { close(): Promise<unknown> }>(x: T): T => {
    closers.push(() => within(x.close(), 3000));
    return x;
  };

  /**
   * A consumer whose embed handler holds each job until `release()`: a job is running, and the
   * caller's call pending, while Redis goes away.
   */
  const holdingWorker = (url: string, queue: string, closeTimeout: number) => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const embed: JobHandler = async (data, context) => {
      await released;
      return BUILTIN_HANDLERS.embed!(data, context);
    };
    const worker = later(createQueueWorker({ connection: url, queue, pool, closeTimeout, handlers: { embed } }));
    return { worker, release };
  };

  beforeAll(async () => {
    pool = createPool({ threads: 1 });
    await pool.ready();
  });

  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    for (const r of servers.splice(0)) await r.stop();
  });

  afterAll(async () => {
    await pool?.close();
  });

  describe('close() with Redis paused (SIGSTOP)', () => {
    it('of a client, idle or with a call pending, returns after closeTimeout and rejects the call with PoolClosedError', async () => {
      const redis = await fresh();
      const idle = later(createQueueClient({ connection: redis.url, queue: 'nobody', closeTimeout: CLOSE_TIMEOUT }));
      const busy = later(createQueueClient({ connection: redis.url, queue: 'nobody', closeTimeout: CLOSE_TIMEOUT }));
      await Promise.all([idle.ready(), busy.ready()]);
      const call = busy.embed('no consumer serves this queue').catch((e: unknown) => e);
      await until(() => busy.stats().submitted === 1);
      redis.pause();

      const [idleMs, busyMs] = await Promise.all([timed(() => idle.close(), 15_000), timed(() => busy.close(), 15_000)]);
      const error = await within(call, 100);
      expect({ idleMs, busyMs }).toEqual({ idleMs: expect.any(Number), busyMs: expect.any(Number) });
      expect(idleMs).toBeGreaterThanOrEqual(CLOSE_TIMEOUT - 50);
      expect(idleMs).toBeLessThan(CLOSE_TIMEOUT + SLACK);
      expect(busyMs).toBeLessThan(CLOSE_TIMEOUT + SLACK);
      expect(error).toBeInstanceOf(PoolClosedError);
      expect(busy.stats()).toMatchObject({ pending: 0, failed: 1 });
    });

    it('of a worker, idle or with a job running, returns after closeTimeout', async () => {
      const redis = await fresh();
      const idle = later(createQueueWorker({ connection: redis.url, queue: 'idle', pool, closeTimeout: CLOSE_TIMEOUT }));
      const { worker: busy, release } = holdingWorker(redis.url, 'busy', CLOSE_TIMEOUT);
      const client = later(createQueueClient({ connection: redis.url, queue: 'busy', closeTimeout: CLOSE_TIMEOUT }));
      await Promise.all([idle.ready(), busy.ready(), client.ready()]);
      const call = client.embed(sentence(1)).catch((e: unknown) => e);
      await until(() => busy.stats().active === 1);
      redis.pause();
      // The job finishes on the pool, but its result cannot reach Redis.
      release();

      const [idleMs, busyMs] = await Promise.all([timed(() => idle.close(), 15_000), timed(() => busy.close(), 15_000)]);
      expect({ idleMs, busyMs }).toEqual({ idleMs: expect.any(Number), busyMs: expect.any(Number) });
      expect(idleMs).toBeLessThan(CLOSE_TIMEOUT + SLACK);
      expect(busyMs).toBeGreaterThanOrEqual(CLOSE_TIMEOUT - 50);
      expect(busyMs).toBeLessThan(CLOSE_TIMEOUT + SLACK);
      expect(busy.stats()).toMatchObject({ active: 0, completed: 1 });
      expect(await timed(() => client.close(), 15_000)).toBeLessThan(CLOSE_TIMEOUT + SLACK);
      expect(await within(call, 100)).toBeInstanceOf(PoolClosedError);
    });
  });

  it('takes an ioredis instance as a template: connections of its own, closed in time with Redis paused; the instance stays open', async () => {
    const redis = await fresh();
    const given = new Redis(redis.url);
    try {
      const worker = later(createQueueWorker({ connection: given, queue: 'template', pool, closeTimeout: CLOSE_TIMEOUT }));
      const client = later(createQueueClient({ connection: given, queue: 'template', closeTimeout: CLOSE_TIMEOUT }));
      expect(await within(client.embed('through a template'), 15_000)).toHaveLength(100);
      redis.pause();
      const ms = await Promise.all([timed(() => client.close(), 15_000), timed(() => worker.close(), 15_000)]);
      for (const m of ms) expect(m).toBeLessThan(CLOSE_TIMEOUT + SLACK);
      redis.resume();
      expect(await within(given.ping(), 5000)).toBe('PONG');
    } finally {
      given.disconnect();
    }
  });

  describe('close() with Redis killed (SIGKILL)', () => {
    it('of a client and a worker, idle or busy, returns at once and rejects the pending call with PoolClosedError', async () => {
      const redis = await fresh();
      const idleWorker = later(createQueueWorker({ connection: redis.url, queue: 'idle', pool, closeTimeout: 60_000 }));
      const { worker: busyWorker, release } = holdingWorker(redis.url, 'busy', 60_000);
      const idleClient = later(createQueueClient({ connection: redis.url, queue: 'busy', closeTimeout: 60_000 }));
      const busyClient = later(createQueueClient({ connection: redis.url, queue: 'busy', closeTimeout: 60_000 }));
      await Promise.all([idleWorker.ready(), busyWorker.ready(), idleClient.ready(), busyClient.ready()]);
      const call = busyClient.embed(sentence(2)).catch((e: unknown) => e);
      await until(() => busyWorker.stats().active === 1);
      await redis.kill();
      await sleep(100);
      release();

      // Nothing can finish while Redis is gone: none of them waits for its closeTimeout (60 s).
      const ms = await Promise.all([idleClient, busyClient, idleWorker, busyWorker].map((x) => timed(() => x.close(), 15_000)));
      for (const m of ms) expect(m).toBeLessThan(SLACK);
      expect(await within(call, 100)).toBeInstanceOf(PoolClosedError);
    });
  });

  describe('Redis restarted empty', () => {
    it('fails each call whose job is gone with JobLostError within a few reconcile intervals, and the consumer serves again', async () => {
      const redis = await fresh();
      const reconcileInterval = 200;
      const consumer = later(createQueueWorker({ connection: redis.url, queue: 'served', pool, closeTimeout: CLOSE_TIMEOUT }));
      const served = later(createQueueClient({ connection: redis.url, queue: 'served', reconcileInterval, closeTimeout: CLOSE_TIMEOUT }));
      // No consumer on this queue: its jobs wait in Redis until Redis loses them.
      const lost = later(createQueueClient({ connection: redis.url, queue: 'waiting', reconcileInterval, closeTimeout: CLOSE_TIMEOUT }));
      await Promise.all([consumer.ready(), served.ready(), lost.ready()]);
      expect(await served.embed('before the restart')).toHaveLength(100);

      // Half with a timeout far away, half with none: neither may wait for ever.
      const calls = Array.from({ length: 50 }, (_, i) => lost.embed(sentence(i), i % 2 ? { timeout: 60_000 } : {}).catch((e: unknown) => e));
      await until(() => lost.stats().submitted === 50);
      await sleep(6 * reconcileInterval);
      expect(lost.stats().pending).toBe(50);

      await redis.restart();
      const t0 = performance.now();
      const errors = await within(Promise.all(calls), 20_000);
      const lostAfterMs = Math.round(performance.now() - t0);
      expect(errors).not.toBe(HUNG);
      for (const e of errors as unknown[]) {
        expect(e).toBeInstanceOf(WorkerExitedError);
        expect((e as Error).name).toBe('JobLostError');
        expect((e as WorkerExitedError).code).toBe('ERR_WARMPOOL_WORKER_EXITED');
        expect((e as Error).message).toMatch(/no longer holds job wp-\w+-\d+/);
      }
      // Reconnecting takes 1 s (the first retry; 2 s if Redis was not up yet by then), then one
      // reconciliation finds the jobs gone.
      expect(lostAfterMs).toBeLessThan(3000 + 5 * reconcileInterval);
      expect(lost.stats()).toMatchObject({ pending: 0, lost: 50, failed: 50 });

      // The consumer and the other client reconnected by themselves.
      expect(await within(served.embed('after the restart', { timeout: 15_000 }), 16_000)).toHaveLength(100);
    });
  });

  describe('`warmpool worker` and SIGTERM', () => {
    interface Consumer {
      child: ChildProcess;
      stderr: string;
      exited: Promise<{ code: number | null; signal: string | null }>;
    }
    const children: ChildProcess[] = [];
    afterEach(() => {
      for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });

    async function startConsumer(url: string): Promise<Consumer> {
      const child = spawn(process.execPath, ['dist/src/cli.js', 'worker', '--redis', url, '--queue', 'cli', '--close-timeout', String(CLOSE_TIMEOUT)], {
        cwd: ROOT,
        env: { ...process.env, WARMPOOL_THREADS: '1' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      children.push(child);
      const c: Consumer = { child, stderr: '', exited: new Promise((r) => child.once('exit', (code, signal) => r({ code, signal }))) };
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (d: string) => (c.stderr += d));
      const ready = await within(
        new Promise<boolean>((resolve) => {
          child.stderr!.on('data', () => c.stderr.includes('ready') && resolve(true));
          child.once('exit', () => resolve(false));
        }),
        60_000,
      );
      if (ready !== true) throw new Error(`consumer not ready: ${c.stderr}`);
      return c;
    }

    it('exits 0 within its closeTimeout with Redis paused, and at once with Redis killed', async () => {
      const paused = await fresh();
      const killed = await fresh();
      const [a, b] = await Promise.all([startConsumer(paused.url), startConsumer(killed.url)]);
      paused.pause();
      await killed.kill();
      const exits = await Promise.all(
        [a, b].map(async (c) => {
          const t0 = performance.now();
          c.child.kill('SIGTERM');
          const exit = await within(c.exited, 20_000);
          return { exit, ms: Math.round(performance.now() - t0) };
        }),
      );
      expect(exits[0]!.exit, a.stderr).toEqual({ code: 0, signal: null });
      expect(exits[1]!.exit, b.stderr).toEqual({ code: 0, signal: null });
      // Paused: waits for its QUIT until --close-timeout, then disconnects by force and says so.
      expect(exits[0]!.ms).toBeLessThan(CLOSE_TIMEOUT + 2 * SLACK);
      expect(a.stderr).toMatch(/disconnected by force/);
      expect(a.stderr).toMatch(/stopped after 0 jobs/);
      // Killed: nothing to wait for.
      expect(exits[1]!.ms).toBeLessThan(2 * SLACK);
    });
  });

  it('leaves no open handle after close() of a client with a call pending, a worker and the pool, Redis paused', async () => {
    const redis = await fresh();
    const script = `
      import { createPool } from './dist/src/index.js';
      import { createQueueClient, createQueueWorker } from './dist/src/queue/index.js';
      const [url, pid] = process.argv.slice(1);
      const pool = createPool({ threads: 1 });
      const worker = createQueueWorker({ connection: url, queue: 'served', pool, closeTimeout: 500 });
      const client = createQueueClient({ connection: url, queue: 'served', closeTimeout: 500 });
      const idle = createQueueClient({ connection: url, queue: 'nobody', closeTimeout: 500 });
      await client.embed('warm');
      const pending = idle.embed('nobody serves this queue').catch((e) => e.name);
      while (idle.stats().submitted === 0) await new Promise((r) => setTimeout(r, 10));
      process.kill(Number(pid), 'SIGSTOP');
      const t0 = performance.now();
      await Promise.all([client.close(), idle.close(), worker.close()]);
      const closeMs = performance.now() - t0;
      await pool.close();
      console.log(JSON.stringify({ closeMs, pending: await pending }));
    `;
    const t0 = performance.now();
    // Killed by the timeout (a handle kept it alive) gives status null.
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, redis.url, String(redis.process.pid)], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    const wallMs = performance.now() - t0;
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { closeMs: number; pending: string };
    expect(out.pending).toBe('PoolClosedError');
    expect(out.closeMs).toBeLessThan(500 + SLACK);
    expect(wallMs).toBeLessThan(20_000);
  });
});
