import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dataLength, runChild, tempStore } from './collections-helpers.js';
import {
  CollectionCorruptError,
  CollectionLockedError,
  QueueTimeoutError,
  ROOT,
  WorkerExitedError,
  clearTestHooks,
  createPool,
  setTestHooks,
  type PoolOptions,
  type TestHooks,
  type WarmPool,
} from './helpers.js';

const until = async (condition: () => boolean, timeout: number, what: string): Promise<void> => {
  const deadline = performance.now() + timeout;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  clearTestHooks();
});

/**
 * A pool on a fresh store, closed and removed after the test. `hooks` (failures on purpose) apply
 * to every index worker started until the test ends: the pool starts its index worker, and each
 * replacement, when a call needs one.
 */
function openPool(options: PoolOptions = {}, hooks: TestHooks = {}): { pool: WarmPool; dir: string } {
  setTestHooks(hooks);
  const store = tempStore();
  const pool = createPool({ threads: 1, storePath: store.dir, env: false, ...options });
  cleanups.push(store.cleanup, () => pool.close());
  return { pool, dir: store.dir };
}

/** File descriptors open in this process (-1 where /proc is not there). */
const openFds = (): number => (existsSync('/proc/self/fd') ? readdirSync('/proc/self/fd').length : -1);

const doc = (id: string) => ({ id, text: `document ${id} about rivers, markets and guitars`, metadata: { id } });

describe('a crashing index worker', () => {
  it.each([['exit', { indexExit: 30 }], ['crash', { indexCrash: 30 }]] as const)(
    'keeps every acknowledged write through repeated crashes (%s) mid-stream, with no duplicate',
    async (_kind, hooks) => {
      const { pool, dir } = openPool({ retries: 2 }, hooks);
      await pool.index(doc('first'), { collection: 'docs' });
      const fdsBefore = openFds();
      const writers = 20;
      const batches = 10;
      const settled = new Map<string, number>();
      const acked: string[] = [];
      const failures: unknown[] = [];
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          for (let b = 0; b < batches; b++) {
            const ids = Array.from({ length: 5 }, (_, i) => `w${w}-b${b}-${i}`);
            const key = `w${w}-b${b}`;
            try {
              await pool.index(ids.map(doc), { collection: 'docs' });
              acked.push(...ids);
            } catch (error) {
              failures.push(error);
            }
            settled.set(key, (settled.get(key) ?? 0) + 1);
          }
        }),
      );
      // Every call settled exactly once; a failed one only with the typed error.
      expect(settled.size).toBe(writers * batches);
      expect([...settled.values()].every((n) => n === 1)).toBe(true);
      for (const error of failures) expect(error).toBeInstanceOf(WorkerExitedError);
      expect(acked.length).toBeGreaterThan(0.9 * writers * batches * 5);

      const s = pool.stats();
      expect(s.indexRestarts).toBeGreaterThanOrEqual(3);
      const health = pool.health();
      expect(health.index).toMatchObject({ state: 'warm', restarts: s.indexRestarts });
      // Each dead worker held the log open: its file handles went with it.
      if (fdsBefore >= 0) expect(openFds() - fdsBefore).toBeLessThan(3);

      const check = async (p: WarmPool): Promise<void> => {
        const docs = await p.get(acked, { collection: 'docs' });
        expect(docs.every((d, i) => d?.id === acked[i] && d?.text === doc(acked[i]!).text)).toBe(true);
        // A write sent again after a crash replaced itself: each id once, in the count and in the index.
        const count = await p.count({ collection: 'docs' });
        expect(count).toBeGreaterThanOrEqual(acked.length + 1);
        expect(count).toBeLessThanOrEqual(writers * batches * 5 + 1);
        const hits = await p.search('rivers and guitars', { collection: 'docs', k: 10_000, exact: true });
        expect(hits).toHaveLength(count);
        expect(new Set(hits.map((h) => h.id)).size).toBe(count);
      };
      await check(pool);
      await pool.close();
      // And all of it is on disk: a new pool (whose index worker does not fail) recovers the same collection.
      clearTestHooks();
      const again = createPool({ threads: 1, storePath: dir, env: false });
      cleanups.push(() => again.close());
      await check(again);
    },
  );

  it('keeps answering searches and gets after a crash, with the same results as before', async () => {
    // The 6th request of each index worker kills it after the request was handled, before the answer.
    const { pool, dir } = openPool({ retries: 1 }, { indexCrash: 6 });
    const ids = Array.from({ length: 50 }, (_, i) => `d${i}`);
    await pool.index(ids.map(doc), { collection: 'docs' }); // 1
    const query = (await pool.embed('a guitar by the river'))!;
    const read = () =>
      Promise.all([
        pool.search('markets by the river', { collection: 'docs', k: 5 }),
        pool.search(query, { collection: 'docs', k: 5, filter: { id: { $in: ['d1', 'd2', 'd3'] } } }),
        pool.get(['d7', 'nope', 'd3'], { collection: 'docs', includeVectors: true }),
        pool.count({ collection: 'docs' }),
      ]);
    const before = await read(); // 2..5
    const lock = readFileSync(join(dir, 'LOCK'), 'utf8');
    expect(pool.stats().indexRestarts).toBe(0);

    const after = await read(); // 6 crashes the worker; the replacement answers all four
    expect(after).toEqual(before);
    expect(pool.stats().indexRestarts).toBe(1);
    expect(pool.health().index).toMatchObject({ state: 'warm', restarts: 1 });
    // The pool's main thread still holds the lock under the replacement; another pool in this process is still refused.
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe(lock);
    const other = createPool({ threads: 1, storePath: dir, env: false });
    await expect(other.count({ collection: 'docs' })).rejects.toThrow(CollectionLockedError);
    await other.close();
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe(lock);
    await pool.close();
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe('');
  });

  it('fails a call with WorkerExitedError carrying the cause once its retries are used up; the next call is served', async () => {
    const { pool } = openPool({ retries: 0 }, { indexExit: 2 });
    await pool.index(doc('a'), { collection: 'docs' });
    const error = await pool.index(doc('b'), { collection: 'docs' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerExitedError);
    expect((error as Error).message).toMatch(/the index worker exited before answering \(1 attempt\): Error: exit code 1/);
    expect((error as Error).cause).toBeInstanceOf(Error);
    // The write had reached the log before the worker died: failed to answer is not failed to write.
    expect(await pool.get(['a', 'b'], { collection: 'docs' })).toMatchObject([{ id: 'a' }, { id: 'b' }]);
    expect(pool.stats().indexRestarts).toBe(1);
  });
});

describe('a replacement that cannot open the store', () => {
  it('backs off, rejects with the cause, says so in health(), and recovers once fixed', async () => {
    const { pool } = openPool({ retries: 1 }, { indexExit: 2 });
    await pool.index(doc('a'), { collection: 'docs' });
    setTestHooks({ indexLoadExit: true }); // replacements now die while opening the store

    // The worker dies on this call; its replacement dies opening the store: no third try now.
    const first = await pool.count({ collection: 'docs' }).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(WorkerExitedError);
    expect((first as Error).message).toMatch(/the index worker exited while opening the store: Error: exit code 3/);
    let health = pool.health();
    expect(health.status).toBe('degraded');
    expect(health.index).toMatchObject({ state: 'down', restarts: 2, lastError: 'Error: exit code 3' });
    expect(health.index!.retryInMs).toBeGreaterThan(0);

    // During the backoff calls fail at once, without starting a worker.
    await expect(pool.get('a', { collection: 'docs' })).rejects.toThrow(/exited while opening the store/);
    expect(pool.health().index!.restarts).toBe(2);

    // After it, the next call tries again; it fails again, and the backoff doubles.
    await until(() => pool.health().index!.retryInMs === 0, 5_000, 'the backoff to pass');
    await expect(pool.count({ collection: 'docs' })).rejects.toThrow(WorkerExitedError);
    health = pool.health();
    expect(health.index).toMatchObject({ state: 'down', restarts: 3 });
    expect(health.index!.retryInMs).toBeGreaterThan(1000);
    expect(pool.stats().indexRestarts).toBe(3);

    setTestHooks({ indexLoadExit: undefined });
    await until(() => pool.health().index!.retryInMs === 0, 5_000, 'the backoff to pass');
    expect(await pool.get('a', { collection: 'docs' })).toMatchObject([{ id: 'a' }]);
    health = pool.health();
    expect(health.status).toBe('healthy');
    expect(health.index).toEqual({ state: 'warm', restarts: 3 });
  });

  it('reports a store locked by another process with CollectionLockedError, backs off, and takes the store once that process is gone', async () => {
    const { pool, dir } = openPool({ retries: 1 });
    await pool.ready();
    const holder = runChild([dir, 'hold']);
    cleanups.push(async () => {
      holder.child.kill('SIGKILL');
      await holder.exited;
    });
    await holder.until((l) => l === 'holding');

    const error = await pool.count({ collection: 'docs' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CollectionLockedError);
    expect((error as Error).message).toContain(`process ${holder.child.pid}`);
    const health = pool.health();
    expect(health.status).toBe('degraded');
    expect(health.index).toMatchObject({ state: 'down', restarts: 1 });
    expect(health.index!.lastError).toMatch(/^CollectionLockedError: .*in use by process/);
    // During the backoff the call is refused at once with the same error, without touching the store.
    if (pool.health().index!.retryInMs! > 0) await expect(pool.count({ collection: 'docs' })).rejects.toThrow(CollectionLockedError);

    holder.child.kill('SIGKILL');
    await holder.exited;
    await until(() => pool.health().index!.retryInMs === 0, 5_000, 'the backoff to pass');
    await pool.index(doc('a'), { collection: 'docs' });
    expect(await pool.count({ collection: 'docs' })).toBe(1);
    expect(pool.health().index!.state).toBe('warm');
  });

  it('keeps the store locked while its index worker is down: another process cannot take it between restarts', async () => {
    const { pool, dir } = openPool({ retries: 1 }, { indexExit: 2 });
    await pool.index(doc('a'), { collection: 'docs' });
    setTestHooks({ indexLoadExit: true });
    await expect(pool.count({ collection: 'docs' })).rejects.toThrow(WorkerExitedError);
    setTestHooks({ indexLoadExit: undefined });
    expect(pool.health().index!.state).toBe('down');
    const other = runChild([dir, 'hold']);
    const { code, stderr } = await other.exited;
    // The child's pool could not open the store: it reports that and exits by itself.
    expect(code).toBe(0);
    expect(other.lines).toContain('holding');
    expect(stderr).toBe('');
    expect(other.lines.find((l) => l.startsWith('hold-error '))).toBe('hold-error ERR_WARMPOOL_COLLECTION_LOCKED');
    await until(() => pool.health().index!.retryInMs === 0, 5_000, 'the backoff to pass');
    expect(await pool.count({ collection: 'docs' })).toBe(1);
  });

  it('serves the other collections when one cannot be recovered, and names the damaged file for that one', async () => {
    const { pool, dir } = openPool({ retries: 1 }, { indexExit: 3 });
    await pool.index([doc('a'), doc('b')], { collection: 'good' });
    await pool.index([doc('a'), doc('b'), doc('c')], { collection: 'bad' });
    setTestHooks({ indexLoadExit: true });
    await expect(pool.count({ collection: 'good' })).rejects.toThrow(WorkerExitedError);
    setTestHooks({ indexLoadExit: undefined });
    // The log of one collection is damaged while no worker runs.
    const wal = join(dir, 'bad', readdirSync(join(dir, 'bad')).find((f) => f.startsWith('wal-'))!);
    const bytes = readFileSync(wal);
    bytes[Math.floor(dataLength(bytes) / 3)]! ^= 0xff;
    writeFileSync(wal, bytes);

    await until(() => pool.health().index!.retryInMs === 0, 5_000, 'the backoff to pass');
    expect(await pool.count({ collection: 'good' })).toBe(2);
    const error = await pool.count({ collection: 'bad' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CollectionCorruptError);
    expect((error as Error).message).toContain(wal);
    expect(pool.health()).toMatchObject({ status: 'healthy', index: { state: 'warm' } });
  });

  it('bounds the wait for a starting index worker by queueTimeout', async () => {
    const { pool } = openPool({ queueTimeout: 1 });
    await expect(pool.count({ collection: 'docs' })).rejects.toThrow(QueueTimeoutError);
  });
});

describe('close() while the index worker restarts', () => {
  const run = (store: string, body: string, env: Record<string, string> = {}) =>
    spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { createPool } from './dist/src/index.js';
        import { StoreLock } from './dist/src/collections/lock.js';
        const until = async (f) => { while (!f()) await new Promise((r) => setTimeout(r, 5)); };
        process.env.WARMPOOL_TEST_HOOKS = '{"indexExit":2}';
        const pool = createPool({ threads: 1, storePath: ${JSON.stringify(store)}, env: false });
        await pool.index({ id: 'a', text: 'a guitar' }, { collection: 'docs' });
        ${body}
        // Released: a new lock on the store is granted.
        const lock = new StoreLock(${JSON.stringify(store)});
        lock.acquire();
        lock.release();
        console.log('lock free');
        console.log('closed');`,
      ],
      { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } },
    );

  it.each([
    [
      'while the replacement opens the store, with a call waiting for it',
      `const call = pool.count({ collection: 'docs' }).then(String, (e) => e.code);
      await until(() => pool.health().index?.restarts === 1);
      await pool.close();
      console.log('call ' + (await call));`,
    ],
    [
      'during the backoff after a failed restart',
      `process.env.WARMPOOL_TEST_HOOKS = '{"indexExit":2,"indexLoadExit":true}';
      console.log('call ' + (await pool.count({ collection: 'docs' }).catch((e) => e.code)));
      console.log('state ' + pool.health().index.state);
      await pool.close();`,
    ],
  ])('closes %s, releases the lock and lets the process exit by itself', (_state, body) => {
    const store = tempStore();
    cleanups.push(store.cleanup);
    const r = run(store.dir, body);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.at(-1)).toBe('closed');
    expect(lines).toContain('lock free');
    expect(lines.find((l) => l.startsWith('call '))).toMatch(/^call (1|ERR_WARMPOOL_POOL_CLOSED|ERR_WARMPOOL_WORKER_EXITED)$/);
    if (lines.some((l) => l.startsWith('state '))) expect(lines).toContain('state down');
  });
});
