import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempStore } from './collections-helpers.js';
import { createPool, InvalidInputError, type WarmPool } from './helpers.js';

describe('collection names', () => {
  const store = tempStore();
  let pool: WarmPool;
  beforeAll(async () => {
    pool = createPool({ threads: 1, storePath: store.dir, env: false });
    await pool.index({ id: 'a', text: 'a document in the default collection' });
  });
  afterAll(async () => {
    await pool.close();
    store.cleanup();
  });

  it.each([null, undefined])('refuses %s where a name is required, and drops nothing', async (name) => {
    const api = pool.collections() as unknown as Record<'drop' | 'info' | 'create', (n: unknown) => Promise<unknown>>;
    for (const method of ['drop', 'info', 'create'] as const) {
      const error = await api[method](name).catch((e: unknown) => e);
      expect(error, method).toBeInstanceOf(InvalidInputError);
      expect((error as InvalidInputError).code).toBe('ERR_WARMPOOL_INVALID_INPUT');
      expect((error as Error).message).toContain('a collection name is required');
    }
    expect(await pool.count()).toBe(1);
  });

  it('refuses a null collection option (undefined still means the default collection)', async () => {
    await expect(pool.count({ collection: null as unknown as string })).rejects.toThrow(InvalidInputError);
    expect(await pool.count({ collection: undefined })).toBe(1);
  });

  it.each(['LOCK', 'lock', 'Lock'])('reserves %s, the name of the store\'s lock file, with a clear error', async (name) => {
    const lockBefore = readFileSync(join(store.dir, 'LOCK'), 'utf8');
    for (const call of [
      () => pool.collections().create(name),
      () => pool.index({ id: 'x', text: 'x' }, { collection: name }),
      () => pool.search('x', { collection: name }),
      () => pool.collections().drop(name),
    ]) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((error as Error).message).toContain('reserved');
    }
    expect(readFileSync(join(store.dir, 'LOCK'), 'utf8')).toBe(lockBefore);
  });

  it('refuses to create a collection over a file in the store that is not a collection, and leaves the file alone', async () => {
    writeFileSync(join(store.dir, 'notes'), 'not a collection');
    const error = await pool.collections().create('notes').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toContain('not a collection');
    expect(readFileSync(join(store.dir, 'notes'), 'utf8')).toBe('not a collection');
    // The store still works.
    await pool.collections().create('notes2');
    expect((await pool.collections().list()).map((c) => c.name)).toEqual(['default', 'notes2']);
  });
});
