import { existsSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dataLength, runChild, tempStore, withStore } from './collections-helpers.js';
import { CollectionCorruptError, CollectionLockedError, createPool } from './helpers.js';

const files = (dir: string, re: RegExp) => readdirSync(dir).filter((f) => re.test(f)).sort().map((f) => join(dir, f));
const openPool = (dir: string) => createPool({ threads: 1, storePath: dir, env: false });

describe('durability', () => {
  it('keeps every acknowledged document when the process is killed with SIGKILL mid-stream', async () => {
    await withStore(async (store) => {
      const run = runChild([store.dir, 'index', '4']);
      await run.until((_, lines) => lines.filter((l) => l.startsWith('ack ')).length >= 40);
      run.child.kill('SIGKILL');
      const { signal } = await run.exited;
      expect(signal).toBe('SIGKILL');
      const acked = run.lines.filter((l) => l.startsWith('ack ')).map((l) => l.split(' ').map(Number) as [number, number, number]);
      expect(acked.length).toBeGreaterThanOrEqual(40);

      const pool = openPool(store.dir);
      try {
        const ids = acked.flatMap(([, w, b]) => Array.from({ length: 5 }, (_, i) => `w${w}-b${b}-${i}`));
        const docs = await pool.get(ids, { collection: 'docs' });
        const missing = ids.filter((_, n) => docs[n] === null);
        expect(missing).toEqual([]);
        expect(docs.every((d, n) => d!.text.startsWith(`writer ${ids[n]!.split('-')[0]!.slice(1)} batch`))).toBe(true);
        // Nothing beyond what the writers had started can appear: at most one unacknowledged batch each.
        const count = await pool.count({ collection: 'docs' });
        expect(count).toBeGreaterThanOrEqual(ids.length);
        expect(count).toBeLessThanOrEqual(ids.length + 4 * 5);
      } finally {
        await pool.close();
      }
    });
  });

  it('cuts a torn record off the end of the log (a write that was never acknowledged)', async () => {
    await withStore(async (store) => {
      const run = runChild([store.dir, 'index', '1']);
      await run.until((_, lines) => lines.length >= 5);
      run.child.kill('SIGKILL');
      await run.exited;
      const dir = join(store.dir, 'docs');
      const [wal] = files(dir, /^wal-/);
      const acked = run.lines.length;
      // A crash mid-append: half of a record's frame after the last whole one.
      const bytes = readFileSync(wal!);
      const end = dataLength(bytes);
      const damaged = Buffer.from(bytes);
      damaged.set(bytes.subarray(0, 40), end);
      writeFileSync(wal!, damaged);
      const pool = openPool(store.dir);
      try {
        expect(await pool.count({ collection: 'docs' })).toBeGreaterThanOrEqual(acked * 5);
        const { recovery } = await pool.collections().info('docs');
        expect(recovery).toMatchObject({ acknowledgedLoss: false, recordsDropped: 1, bytesDropped: 40, bytesMissing: 0 });
        // The torn bytes are zeroed in place, the file keeps its size, and the file as found is kept.
        expect(readFileSync(wal!).equals(bytes)).toBe(true);
        expect(readFileSync(join(dir, recovery!.keptAs[0]!)).equals(damaged)).toBe(true);
      } finally {
        await pool.close();
      }
    });
  });

  it('keeps the last good state when a snapshot write is killed halfway', async () => {
    await withStore(async (store) => {
      // A first, good snapshot (written by close), then more writes whose snapshot is cut short.
      const first = runChild([store.dir, 'fill', '1000']);
      expect((await first.exited).code).toBe(0);
      const dir = join(store.dir, 'docs');
      expect(files(dir, /^snapshot-.*\.bin$/)).toHaveLength(1);
      const pool = openPool(store.dir);
      await pool.index(Array.from({ length: 300 }, (_, i) => ({ id: `extra${i}`, text: `extra document ${i}` })), { collection: 'docs' });
      await pool.close();
      expect(files(dir, /^snapshot-.*\.bin$/)).toHaveLength(2);

      const crash = runChild([store.dir, 'fill', '2000'], { WARMPOOL_TEST_HOOKS: JSON.stringify({ crashInSnapshot: true }) });
      const { signal } = await crash.exited;
      expect(signal).toBe('SIGKILL');
      expect(crash.lines).toContain('filled');
      expect(files(dir, /\.tmp$/)).toHaveLength(1);

      const again = openPool(store.dir);
      try {
        expect(await again.count({ collection: 'docs' })).toBe(2300);
        expect((await again.get(['d1999', 'extra299'], { collection: 'docs' })).map((d) => d?.text)).toEqual([
          'document 1999 about music and rivers',
          'extra document 299',
        ]);
        expect(files(dir, /\.tmp$/)).toHaveLength(0);
      } finally {
        await again.close();
      }
    });
  });

  it('reports a damaged log record with CollectionCorruptError naming the file', async () => {
    await withStore(async (store) => {
      const run = runChild([store.dir, 'index', '1']);
      await run.until((_, lines) => lines.length >= 10);
      run.child.kill('SIGKILL');
      await run.exited;
      const [wal] = files(join(store.dir, 'docs'), /^wal-/);
      const bytes = readFileSync(wal!);
      bytes[Math.floor(dataLength(bytes) / 3)]! ^= 0xff;
      writeFileSync(wal!, bytes);
      const pool = openPool(store.dir);
      try {
        const error = await pool.count({ collection: 'docs' }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CollectionCorruptError);
        expect((error as Error).message).toContain(wal!);
        // Never a silent empty collection: the error stays.
        await expect(pool.search('x', { collection: 'docs' })).rejects.toThrow(CollectionCorruptError);
      } finally {
        await pool.close();
      }
    });
  });

  it('recovers from the log when the newest snapshot is damaged, and names the snapshot when it cannot', async () => {
    await withStore(async (store) => {
      const fill = runChild([store.dir, 'fill', '600']);
      expect((await fill.exited).code).toBe(0);
      const dir = join(store.dir, 'docs');
      const [snap] = files(dir, /^snapshot-.*\.bin$/);
      const bytes = readFileSync(snap!);
      bytes[bytes.length - 100]! ^= 0xff;
      writeFileSync(snap!, bytes);

      const pool = openPool(store.dir);
      const info = await pool.collections().info('docs');
      expect(info.count).toBe(600);
      expect(info.recovery).toMatchObject({ acknowledgedLoss: false, keptAs: [basename(`${snap!}.corrupt`)] });
      expect(info.recovery!.message).toContain(`snapshot ${basename(snap!)} is damaged`);
      expect(info.recovery!.message).not.toContain(store.dir);
      await pool.close();
      // The damaged file is kept aside for inspection, and the next open is clean.
      expect(existsSync(`${snap}.corrupt`)).toBe(true);
      const again = openPool(store.dir);
      expect(await again.collections().info('docs')).toMatchObject({ count: 600 });
      expect((await again.collections().info('docs')).recovery).toBeUndefined();
      await again.close();
    });
  });

  it('names the damaged snapshot when there is no log to recover from', async () => {
    await withStore(async (store) => {
      const fill = runChild([store.dir, 'fill', '600']);
      expect((await fill.exited).code).toBe(0);
      const dir = join(store.dir, 'docs');
      const [snap] = files(dir, /^snapshot-.*\.bin$/);
      for (const wal of files(dir, /^wal-/)) unlinkSync(wal);
      const bytes = readFileSync(snap!);
      bytes[200]! ^= 0xff;
      writeFileSync(snap!, bytes);
      const pool = openPool(store.dir);
      try {
        const error = await pool.count({ collection: 'docs' }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CollectionCorruptError);
        expect((error as Error).message).toContain(snap!);
      } finally {
        await pool.close();
      }
    });
  });
});

describe('process lifetime', () => {
  it('an idle index worker (and its ttl sweep timer) does not keep the process alive', async () => {
    await withStore(async (store) => {
      const run = runChild([store.dir, 'noclose']);
      const timer = setTimeout(() => run.child.kill('SIGKILL'), 30_000);
      const { code, signal, stderr } = await run.exited;
      clearTimeout(timer);
      expect({ code, signal, stderr }).toMatchObject({ code: 0, signal: null });
      expect(run.lines).toContain('found a');
      // What it wrote without closing is on disk.
      const pool = openPool(store.dir);
      expect(await pool.count({ collection: 'docs' })).toBe(1);
      await pool.close();
    });
  });
});

describe('lock file', () => {
  it('refuses a store held by another live process with CollectionLockedError', async () => {
    await withStore(async (store) => {
      const holder = runChild([store.dir, 'hold']);
      await holder.until((l) => l === 'holding');
      const pool = openPool(store.dir);
      try {
        const error = await pool.count({ collection: 'docs' }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CollectionLockedError);
        expect((error as Error).message).toContain(`process ${holder.child.pid}`);
      } finally {
        holder.child.kill('SIGKILL');
        await holder.exited;
        await pool.close();
      }
      // The holder is dead now: the OS dropped its lock with it, and the next pool takes the store.
      expect(readFileSync(join(store.dir, 'LOCK'), 'utf8')).toMatch(new RegExp(`^${holder.child.pid}\\n`));
      const next = openPool(store.dir);
      await next.index({ id: 'a', text: 'after takeover' });
      expect(await next.count()).toBe(1);
      expect(readFileSync(join(store.dir, 'LOCK'), 'utf8')).toBe(`${process.pid}\n`);
      await next.close();
      // Released: the file stays (deleting it could give two processes the lock) and names no one.
      expect(readFileSync(join(store.dir, 'LOCK'), 'utf8')).toBe('');
    });
  });

  it('refuses a second pool on the same store in the same process', async () => {
    const store = tempStore();
    const a = openPool(store.dir);
    const b = openPool(store.dir);
    try {
      await a.index({ id: 'a', text: 'first pool' });
      await expect(b.index({ id: 'b', text: 'second pool' })).rejects.toThrow(CollectionLockedError);
    } finally {
      await a.close();
      await b.close();
      store.cleanup();
    }
  });
});
