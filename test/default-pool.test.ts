import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, closeDefaultPool, cosine, embed, getDefaultPool } from './helpers.js';

describe('module-level embed()', () => {
  afterAll(() => closeDefaultPool());

  it('creates the default pool lazily and reuses it', async () => {
    const v = await embed('A man is playing a guitar.');
    expect(v).toHaveLength(100);
    const pool = getDefaultPool();
    expect(getDefaultPool()).toBe(pool);
    const [a, b] = await embed(['A man is playing a guitar.', 'Someone plays an instrument.']);
    expect(cosine(a!, v)).toBeCloseTo(1, 6);
    expect(cosine(a!, b!)).toBeGreaterThan(0.5);
    await pool.ready();
    expect(pool.stats().modelLoads).toBe(pool.options.minThreads);
  });

  it('closeDefaultPool closes it; the next call makes a new one', async () => {
    const first = getDefaultPool();
    await closeDefaultPool();
    expect(first.state).toBe('closed');
    await closeDefaultPool(); // nothing to close: fine
    await embed('again');
    expect(getDefaultPool()).not.toBe(first);
  });
});

describe('process lifetime', () => {
  const run = (code: string) =>
    spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });

  it('lets the process exit by itself after close()', () => {
    const r = run(`
      import { createPool } from './dist/src/index.js';
      const pool = createPool({ threads: 2 });
      await pool.embed('hello');
      await pool.close();
      console.log('closed');`);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('closed');
    expect(r.signal).toBeNull();
  });

  it('does not keep the process alive with an idle default pool that was never closed', () => {
    const r = run(`
      import { embed } from './dist/src/index.js';
      const v = await embed('hello');
      console.log(v.length);`);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('100');
  });

  it('prints nothing of its own on stdout or stderr', () => {
    const r = run(`
      import { createPool } from './dist/src/index.js';
      const pool = createPool({ threads: 2 });
      await pool.embed(['a', 'b']);
      await pool.embed(null).catch(() => {});
      await pool.close();`);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('');
  });

  it('can be loaded with require() from CommonJS', () => {
    const r = spawnSync(process.execPath, ['-e', `
      const { createPool, ErrorCodes } = require('./dist/src/index.js');
      console.log(typeof createPool, ErrorCodes.QUEUE_FULL);`], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('function ERR_WARMPOOL_QUEUE_FULL');
  });
});
