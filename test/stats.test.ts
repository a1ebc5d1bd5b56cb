import diagnostics from 'node:diagnostics_channel';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNEL_NAMES, QueueFullError, createPool, readStats, sentence, type RequestEndEvent, type StatsSnapshot, type WarmPool } from './helpers.js';

const invariant = (s: StatsSnapshot) => s.completed + s.errors + s.rejected + s.inFlight + s.queued;

describe('#stats', () => {
  let pool: WarmPool;
  beforeAll(async () => {
    pool = createPool({ threads: 2, maxQueue: 50 });
    await pool.ready();
  });
  afterAll(() => pool.close());

  it('returns a fresh snapshot each time', () => {
    const a = pool.stats();
    const b = pool.stats();
    expect(a).not.toBe(b);
    // The counters are the same; the process's memory is read anew each time.
    const { memory: ma, ...restA } = a;
    const { memory: mb, ...restB } = b;
    expect(restA).toEqual(restB);
    expect(ma!.rssBytes).toBeGreaterThan(0);
    expect(mb!.rssBytes).toBeGreaterThan(0);
    expect(a.modelLoads).toBe(2);
    expect(a.workersReady).toBe(2);
    expect(a.workers.map((w) => w.state)).toEqual(['ready', 'ready']);
    expect(a.workers.every((w) => w.loadMs > 0)).toBe(true);
  });

  it('keeps requests = completed + errors + rejected + in flight + queued', async () => {
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) {
      const input = i % 10 === 0 ? (42 as never) : sentence(i);
      calls.push(pool.embed(input));
    }
    // Sampled while busy, the identity holds within the few calls that change state between reads.
    const busy = pool.stats();
    expect(Math.abs(busy.requests - invariant(busy))).toBeLessThanOrEqual(4);
    const results = await Promise.allSettled(calls);
    const s = pool.stats();
    expect(s.requests).toBe(invariant(s));
    expect(s.inFlight).toBe(0);
    expect(s.queued).toBe(0);
    const rejected = results.filter((r) => r.status === 'rejected' && r.reason instanceof QueueFullError).length;
    expect(rejected).toBeGreaterThan(0); // 300 at once against maxQueue 50
    expect(s.rejected).toBe(rejected);
    expect(s.invalidInputs).toBe(30);
    expect(s.completed).toBe(results.filter((r) => r.status === 'fulfilled').length);
    expect(s.waitTime.count).toBe(s.completed);
    expect(s.runTime.count).toBe(s.completed);
    expect(s.runTime.p50).toBeGreaterThan(0);
    expect(s.runTime.p99).toBeGreaterThanOrEqual(s.runTime.p50);
    // Workers count tasks; concurrent calls share tasks.
    expect(s.workers.reduce((n, w) => n + w.tasks, 0)).toBe(s.tasks);
    expect(s.tasks).toBeLessThanOrEqual(s.completed);
    expect(s.texts).toBe(s.completed);
  });

  it('can be read from another thread, without locks, while the pool works', async () => {
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.url).then(({ readStats }) => {
        parentPort.on('message', () => parentPort.postMessage(readStats(workerData.buffer)));
        parentPort.postMessage('ready');
      });`;
    const url = new URL('../dist/src/index.js', import.meta.url).href;
    const reader = new Worker(code, { eval: true, workerData: { buffer: pool.statsBuffer, url } });
    const next = () => new Promise<unknown>((resolve) => reader.once('message', resolve));
    expect(await next()).toBe('ready');
    reader.postMessage('read');
    const before = (await next()) as StatsSnapshot;
    await Promise.all(Array.from({ length: 20 }, (_, i) => pool.embed(sentence(i))));
    reader.postMessage('read');
    const after = (await next()) as StatsSnapshot;
    await reader.terminate();
    expect(after.completed - before.completed).toBe(20);
    const { memory: _memory, ...counters } = pool.stats();
    expect(after).toEqual(counters);
    // readStats gives the buffer's figures; pool.stats() adds the process's memory.
    expect(readStats(pool.statsBuffer)).toEqual(counters);
  });

  it('publishes request and worker events through diagnostics_channel', async () => {
    const ends: RequestEndEvent[] = [];
    const onEnd = (message: unknown) => ends.push(message as RequestEndEvent);
    diagnostics.subscribe(CHANNEL_NAMES.requestEnd, onEnd);
    let starts = 0;
    const onStart = () => starts++;
    diagnostics.subscribe(CHANNEL_NAMES.requestStart, onStart);
    try {
      await pool.embed(['a b c', 'd e f']);
      await pool.embed(7 as never).catch(() => {});
    } finally {
      diagnostics.unsubscribe(CHANNEL_NAMES.requestEnd, onEnd);
      diagnostics.unsubscribe(CHANNEL_NAMES.requestStart, onStart);
    }
    expect(starts).toBe(1); // the invalid call fails before it starts
    expect(ends).toHaveLength(2);
    expect(ends[0]).toMatchObject({ poolId: pool.id, op: 'embed', texts: 2 });
    expect(ends[0]!.runMs).toBeGreaterThan(0);
    expect(ends[0]!.error).toBeUndefined();
    expect(ends[1]!.error).toBe('ERR_WARMPOOL_INVALID_INPUT');

    const ready: unknown[] = [];
    const exits: unknown[] = [];
    const onReady = (m: unknown) => ready.push(m);
    const onExit = (m: unknown) => exits.push(m);
    diagnostics.subscribe(CHANNEL_NAMES.workerReady, onReady);
    diagnostics.subscribe(CHANNEL_NAMES.workerExit, onExit);
    const other = createPool({ threads: 1 });
    await other.ready();
    await other.close();
    diagnostics.unsubscribe(CHANNEL_NAMES.workerReady, onReady);
    diagnostics.unsubscribe(CHANNEL_NAMES.workerExit, onExit);
    expect(ready).toEqual([expect.objectContaining({ poolId: other.id, loadMs: expect.any(Number) })]);
    expect(exits).toEqual([expect.objectContaining({ poolId: other.id })]);
  });
});
