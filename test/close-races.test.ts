import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PoolStats } from '../dist/src/stats.js';
import { runChild, withStore } from './collections-helpers.js';
import { ROOT, clearTestHooks, createPool, setTestHooks } from './helpers.js';

// A worker thread terminated inside native code (an onnxruntime run or session creation, an
// addon starting up during transformers.js's import, a usearch call, Node's synchronous module
// loading) aborts the whole process: "terminate called after throwing an instance of
// 'Napi::Error'". Closing must wait for such moments, or, for the index worker, let it end itself.
describe('closing never ends a thread inside native code', () => {
  afterEach(() => clearTestHooks());

  it('lets the index worker finish the calls it holds, answered, and end itself', async () => {
    await withStore(async (store) => {
      const crash = runChild([store.dir, 'crash', '300']);
      expect((await crash.exited).signal).toBe('SIGKILL');
      setTestHooks({ indexSlow: 1_000 });
      const pool = createPool({ threads: 1, storePath: store.dir, env: false });
      await expect(pool.count({ collection: 'missing' })).rejects.toMatchObject({ code: 'ERR_WARMPOOL_COLLECTION_NOT_FOUND' });
      const count = pool.count({ collection: 'docs' });
      const found = pool.get(['d299'], { collection: 'docs' });
      // Both are in the worker's hands (each waits 1 s there) when the pool closes.
      await new Promise((resolve) => setTimeout(resolve, 200));
      await pool.close();
      expect(await count).toBe(300);
      expect((await found)[0]?.text).toBe('document 299 about music and rivers');
      expect(pool.health().index?.state).toBe('closed');
    });
  });

  it('waits for a worker importing transformers.js (its addons start there) before ending it', async () => {
    setTestHooks({ nativePause: 3_000 });
    const pool = createPool({ threads: 1, env: false });
    const stats = new PoolStats(pool.statsBuffer);
    const began = performance.now();
    let inside = false;
    while (!inside && performance.now() - began < 20_000) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      inside = (pool.health().workers ?? []).some((w) => {
        const slot = stats.slotOf(w.threadId);
        return slot >= 0 && stats.inNative(slot);
      });
    }
    // Seen inside while the paused import (3 s, before the session's creation) still runs.
    expect(inside).toBe(true);
    const closing = performance.now();
    expect(closing - began).toBeLessThan(2_500);
    await pool.close();
    // Closed only once the paused import was over.
    expect(performance.now() - closing).toBeGreaterThan(3_000 - (closing - began) - 100);
    await expect(pool.ready()).rejects.toMatchObject({ code: 'ERR_WARMPOOL_POOL_CLOSED' });
  });

  it('closes at chance moments of start-up and of its calls without ever aborting the process', async () => {
    await withStore(async (store) => {
      const crash = runChild([store.dir, 'crash', '2000']);
      expect((await crash.exited).signal).toBe('SIGKILL');
      const child = spawn(process.execPath, [join(ROOT, 'test/fixtures/close-races.mjs'), store.dir, '24', '7'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
      expect({ code, signal, err: err.slice(-2000) }).toEqual({ code: 0, signal: null, err: '' });
      const lines = out.trim().split('\n');
      expect(lines).toHaveLength(25);
      expect(lines.at(-1)).toBe('ok');
      // Closes that met the model worker loading (no embed call), and closes with calls in hand.
      expect(lines.some((l) => / -$/.test(l))).toBe(true);
      expect(lines.some((l) => l.includes('answered'))).toBe(true);
    });
  }, 300_000);
});
