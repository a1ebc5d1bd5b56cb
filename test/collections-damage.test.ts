import { existsSync, readdirSync, readFileSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dataLength, runChild, withStore } from './collections-helpers.js';
import { CollectionCorruptError, createPool, type CollectionRecovery } from './helpers.js';

const files = (dir: string, re: RegExp) => readdirSync(dir).filter((f) => re.test(f)).sort().map((f) => join(dir, f));
const openPool = (dir: string) => createPool({ threads: 1, storePath: dir, env: false });

/** A store whose collection `docs` holds 200 acknowledged documents in its log only (the writer was killed: no snapshot). */
async function crashedStore(store: string): Promise<{ dir: string; wal: string }> {
  const run = runChild([store, 'crash', '200']);
  const { signal } = await run.exited;
  expect(signal).toBe('SIGKILL');
  expect(run.lines).toContain('acked 200');
  const dir = join(store, 'docs');
  expect(files(dir, /^snapshot-/)).toEqual([]);
  const wals = files(dir, /^wal-.*\.log$/);
  expect(wals).toHaveLength(1);
  return { dir, wal: wals[0]! };
}

/** Opens the store, reads the collection's count, recovery and the pool's health, closes. */
async function reopen(store: string): Promise<{ count: number; recovery: CollectionRecovery | undefined; reported: unknown }> {
  const pool = openPool(store);
  try {
    const info = await pool.collections().info('docs');
    return { count: info.count, recovery: info.recovery, reported: pool.health().index?.recoveries };
  } finally {
    await pool.close();
  }
}

describe('damage to the write-ahead log', () => {
  it.each([
    ['cut to half of its records', (wal: string) => truncateSync(wal, Math.floor(dataLength(readFileSync(wal)) / 2))],
    ['cut to 0 bytes', (wal: string) => truncateSync(wal, 0)],
    ['deleted', (wal: string) => unlinkSync(wal)],
    ['cut at a record boundary', (wal: string) => truncateSync(wal, recordBoundary(readFileSync(wal)))],
  ])('reports a log segment %s as possible loss of acknowledged documents, keeps what it found, and opens clean next time', async (_what, damage) => {
    await withStore(async (store) => {
      const { dir, wal } = await crashedStore(store.dir);
      const before = existsSync(wal) ? readFileSync(wal) : undefined;
      damage(wal);
      const found = existsSync(wal) ? readFileSync(wal) : undefined;
      const { count, recovery, reported } = await reopen(store.dir);
      expect(count).toBeLessThan(200);
      expect(recovery).toBeDefined();
      expect(recovery!.acknowledgedLoss).toBe(true);
      expect(recovery!.bytesMissing).toBeGreaterThan(0);
      expect(recovery!.message).toMatch(/cut short|missing/);
      // The same report reaches pool.health().
      expect(reported).toEqual([{ collection: 'docs', recovery }]);
      // What was found is kept, byte for byte (nothing to keep of a deleted file).
      if (found) {
        expect(recovery!.keptAs).toHaveLength(1);
        expect(readFileSync(join(dir, recovery!.keptAs[0]!)).equals(found)).toBe(true);
      } else {
        expect(recovery!.keptAs).toEqual([]);
      }
      expect(before).toBeDefined();
      // Reported once: the next open finds a consistent log and says nothing, and new writes are kept.
      const pool = openPool(store.dir);
      try {
        expect((await pool.collections().info('docs')).recovery).toBeUndefined();
        await pool.index({ id: 'after', text: 'written after the recovery' }, { collection: 'docs' });
      } finally {
        await pool.close();
      }
      const again = await reopen(store.dir);
      expect(again.count).toBe(count + 1);
      expect(again.recovery).toBeUndefined();
    });
  });

  it('loses nothing and says so when only the unused, allocated end of a segment is cut', async () => {
    await withStore(async (store) => {
      const { wal } = await crashedStore(store.dir);
      const bytes = readFileSync(wal);
      truncateSync(wal, dataLength(bytes) + 100);
      const { count, recovery } = await reopen(store.dir);
      expect(count).toBe(200);
      expect(recovery).toMatchObject({ acknowledgedLoss: false, recordsDropped: 0, bytesMissing: 0 });
      expect(recovery!.message).toContain('only its unused space was cut');
      expect(readFileSync(wal).length).toBe(bytes.length);
    });
  });

  it('refuses a collection whose log was damaged in the middle, and leaves every file as it was', async () => {
    await withStore(async (store) => {
      const { dir, wal } = await crashedStore(store.dir);
      const bytes = readFileSync(wal);
      bytes[Math.floor(dataLength(bytes) / 2)]! ^= 0xff;
      writeFileSync(wal, bytes);
      const pool = openPool(store.dir);
      try {
        await expect(pool.count({ collection: 'docs' })).rejects.toThrow(CollectionCorruptError);
      } finally {
        await pool.close();
      }
      expect(readFileSync(wal).equals(bytes)).toBe(true);
      expect(existsSync(join(dir, 'damaged'))).toBe(false);
    });
  });

  it('reports a missing list of segments in a collection that had one', async () => {
    await withStore(async (store) => {
      const { dir } = await crashedStore(store.dir);
      unlinkSync(join(dir, 'log.json'));
      const { count, recovery } = await reopen(store.dir);
      expect(count).toBe(200);
      expect(recovery).toMatchObject({ acknowledgedLoss: true });
      expect(recovery!.message).toContain('log.json');
    });
  });

  it('opens a collection whose old log segment, covered by a snapshot, has a flipped byte', async () => {
    await withStore(async (store) => {
      // 200 documents, closed: a snapshot covers the first segment, and a new one is started.
      const fill = runChild([store.dir, 'fill', '200']);
      expect((await fill.exited).code).toBe(0);
      const dir = join(store.dir, 'docs');
      const [old, current] = files(dir, /^wal-.*\.log$/);
      expect(current).toBeDefined();
      const bytes = readFileSync(old!);
      bytes[Math.floor(dataLength(bytes) / 2)]! ^= 0xff;
      writeFileSync(old!, bytes);
      const pool = openPool(store.dir);
      try {
        const info = await pool.collections().info('docs');
        expect(info.count).toBe(200);
        expect(info.recovery).toBeUndefined();
        await pool.index({ id: 'more', text: 'one more document' }, { collection: 'docs' });
        expect(await pool.count({ collection: 'docs' })).toBe(201);
      } finally {
        await pool.close();
      }
    });
  });
});

/** The end of a record near the middle of a segment's records: a cut there leaves no partial record. */
function recordBoundary(bytes: Buffer): number {
  const end = dataLength(bytes);
  let at = 0;
  while (at < end / 2) at += 12 + bytes.readUInt32LE(at);
  return at;
}
