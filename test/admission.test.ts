import { afterEach, describe, expect, it } from 'vitest';
import {
  AbortError,
  SLOW_TEXTS,
  PoolClosedError,
  QueueFullError,
  QueueTimeoutError,
  TaskTimeoutError,
  WarmpoolError,
  createPool,
  type WarmPool,
} from './helpers.js';

// On the benchmark-shaped 6-layer model four 512-token texts take about a second: long enough
// for a call to be reliably still running while the test does something else.
const SLOW = SLOW_TEXTS;
const pools: WarmPool[] = [];

async function slowPool(options: Parameters<typeof createPool>[0] = {}): Promise<WarmPool> {
  // The slow model only stands in for work here: its arena's peak (preallocate) is not the subject.
  // One task at a time in the worker, so the counts of running and waiting calls below are exact.
  const pool = createPool({ model: 'minilm-shape', threads: 1, preallocate: false, concurrentTasksPerWorker: 1, ...options });
  pools.push(pool);
  await pool.ready();
  return pool;
}

/** Lets the pool send what was called so far to its workers (calls of one tick share a task). */
const dispatched = () => new Promise((resolve) => setImmediate(resolve));

const settle = <T>(p: Promise<T>) => p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

describe('admission', () => {
  it('rejects at once with QueueFullError beyond maxQueue', async () => {
    const pool = await slowPool({ maxQueue: 1 });
    const running = settle(pool.embed(SLOW));
    await dispatched();
    const waiting = settle(pool.embed('waits its turn'));
    const full = await settle(pool.embed('one too many'));
    // Answered at once: the worker has not finished the slow call yet.
    expect(pool.stats().workers[0]!.tasks).toBe(0);
    expect(full.ok).toBe(false);
    expect((full as { error: unknown }).error).toBeInstanceOf(QueueFullError);
    expect((full as { error: WarmpoolError }).error.code).toBe('ERR_WARMPOOL_QUEUE_FULL');
    expect((await running).ok).toBe(true);
    expect((await waiting).ok).toBe(true);
    const s = pool.stats();
    expect(s.rejected).toBe(1);
    expect(s.completed).toBe(2);
  });

  it('rejects a call that waits past queueTimeout, and never runs it', async () => {
    const pool = await slowPool({ queueTimeout: 100 });
    const running = pool.embed(SLOW);
    await dispatched();
    const t0 = performance.now();
    const waited = await settle(pool.embed('never runs'));
    const elapsed = performance.now() - t0;
    expect((waited as { error: unknown }).error).toBeInstanceOf(QueueTimeoutError);
    expect(elapsed).toBeGreaterThanOrEqual(95);
    expect(pool.stats().workers[0]!.tasks).toBe(0); // rejected before the slow call was done
    await running;
    const s = pool.stats();
    expect(s.queueTimeouts).toBe(1);
    expect(s.workers[0]!.tasks).toBe(1); // only the slow call reached the worker
  });

  it('removes an aborted waiting call from the queue at once', async () => {
    const pool = await slowPool({ maxQueue: 1 });
    const running = pool.embed(SLOW);
    await dispatched();
    const controller = new AbortController();
    const waiting = settle(pool.embed('aborted', { signal: controller.signal }));
    expect(pool.stats().queued).toBe(1);
    controller.abort(new Error('user gave up'));
    const result = await waiting;
    expect((result as { error: unknown }).error).toBeInstanceOf(AbortError);
    expect(((result as { error: Error }).error.cause as Error).message).toBe('user gave up');
    expect(pool.stats().queued).toBe(0);
    // The freed place in the queue can be used again right away.
    const next = settle(pool.embed('takes the place'));
    await running;
    expect((await next).ok).toBe(true);
    expect(pool.stats().workers[0]!.tasks).toBe(2);
  });

  it('rejects an already-aborted signal without queueing', async () => {
    const pool = await slowPool();
    const result = await settle(pool.embed('x', { signal: AbortSignal.abort() }));
    expect((result as { error: unknown }).error).toBeInstanceOf(AbortError);
    expect(pool.stats().workers[0]!.tasks).toBe(0);
  });
});

describe('running calls: timeout and abort keep the warm worker', () => {
  it('times out a running call without reloading the model', async () => {
    const pool = await slowPool();
    const threadId = pool.stats().workers[0]!.threadId;
    const result = await settle(pool.embed(SLOW, { timeout: 100 }));
    expect((result as { error: unknown }).error).toBeInstanceOf(TaskTimeoutError);
    // Answered at its deadline, before the worker was done with it.
    expect(pool.stats().workers[0]!.tasks).toBe(0);
    // The next call waits for the abandoned task to finish, then runs warm on the same worker.
    const v = await pool.embed('still warm');
    expect(v).toHaveLength(384);
    const s = pool.stats();
    expect(s.modelLoads).toBe(1);
    expect(s.timeouts).toBe(1);
    expect(s.workers.filter((w) => w.state === 'ready').map((w) => w.threadId)).toEqual([threadId]);
  });

  it('aborts a running call at once without killing the worker', async () => {
    const pool = await slowPool();
    const controller = new AbortController();
    const call = settle(pool.embed(SLOW, { signal: controller.signal }));
    await new Promise((r) => setTimeout(r, 100));
    controller.abort();
    const result = await call;
    expect((result as { error: unknown }).error).toBeInstanceOf(AbortError);
    expect(pool.stats().workers[0]!.tasks).toBe(0); // answered before the worker was done with it
    await pool.embed('warm');
    expect(pool.stats().modelLoads).toBe(1);
    expect(pool.stats().aborted).toBe(1);
  });
});

describe('#close', () => {
  it('lets running calls finish and rejects waiting ones with PoolClosedError', async () => {
    const pool = await slowPool();
    const running = settle(pool.embed(SLOW));
    await dispatched();
    const waiting = settle(pool.embed('queued'));
    await new Promise((r) => setTimeout(r, 50));
    await pool.close({ timeout: 10_000 });
    expect((await running).ok).toBe(true);
    expect((await waiting as { error: unknown }).error).toBeInstanceOf(PoolClosedError);
    expect(pool.state).toBe('closed');
    const after = await settle(pool.embed('after close'));
    expect((after as { error: unknown }).error).toBeInstanceOf(PoolClosedError);
    const s = pool.stats();
    expect(s.requests).toBe(s.completed + s.errors + s.rejected + s.inFlight + s.queued);
    expect(s.rejected).toBe(2);
  });

  it('with timeout Infinity waits for running calls however long they take', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const pool = await slowPool({ closeTimeout: Infinity });
      const running = settle(pool.embed(SLOW));
      await dispatched();
      await pool.close();
      expect((await running).ok).toBe(true);
      // Node turns a timer it cannot hold into a 1 ms one, with a TimeoutOverflowWarning.
      expect(warnings.map((w) => w.name)).not.toContain('TimeoutOverflowWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it("refuses a close timeout past Node's timer limit with RangeError", async () => {
    const pool = createPool({ threads: 1, warmup: 'lazy' });
    pools.push(pool);
    await expect(pool.close({ timeout: 2 ** 31 })).rejects.toThrow(/close timeout must be a non-negative number of milliseconds up to 2147483647 or Infinity, received 2147483648/);
  });

  it('answers running calls with PoolClosedError once the close deadline passes', async () => {
    const pool = await slowPool();
    const running = settle(pool.embed(SLOW));
    await new Promise((r) => setTimeout(r, 50));
    let answeredBeforeClose = false;
    const closed = pool.close({ timeout: 50 }).then(() => {
      answeredBeforeClose = answered;
    });
    let answered = false;
    const result = await running;
    answered = true;
    await closed;
    expect((result as { error: unknown }).error).toBeInstanceOf(PoolClosedError);
    // The caller was answered at the deadline; close() itself waited for the model run to end.
    expect(answeredBeforeClose).toBe(true);
  });

  it('is idempotent and works with await using', async () => {
    const pool = await slowPool();
    const a = pool.close();
    const b = pool.close();
    expect(a).toBe(b);
    await a;
    {
      await using scoped = createPool({ threads: 1 });
      await scoped.ready();
      expect(scoped.state).toBe('ready');
      pools.push(scoped);
    }
    expect(pools.at(-1)!.state).toBe('closed');
  });

  it('closes a lazy pool that never started without starting it', async () => {
    const pool = createPool({ warmup: 'lazy' });
    expect(pool.state).toBe('idle');
    await pool.close();
    expect(pool.state).toBe('closed');
    await expect(pool.ready()).rejects.toBeInstanceOf(PoolClosedError);
    expect(pool.stats().modelLoads).toBe(0);
  });
});
