/**
 * A run that includes the queue tests stops before any test where redis-server is not installed,
 * with one message naming what to install; a run without them does not need it. Checked by
 * running Vitest itself with a PATH that holds node and nothing else.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';
import { REDIS_MISSING, hasRedisServer, needsRedis } from './redis-check.js';

const bin = mkdtempSync(join(tmpdir(), 'warmpool-path-'));
symlinkSync(process.execPath, join(bin, 'node'));
afterAll(() => rmSync(bin, { recursive: true, force: true }));

/** This process's environment less Vitest's own variables, with only node on the PATH. */
const env = Object.fromEntries(Object.entries({ ...process.env, PATH: bin }).filter(([key]) => !key.startsWith('VITEST')));
const vitest = (args: string[]) =>
  spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...args], { cwd: ROOT, encoding: 'utf8', env, timeout: 120_000 });

describe('the test run without redis-server', () => {
  it('finds no redis-server on a PATH of node alone', () => {
    expect(hasRedisServer(env)).toBe(false);
  });

  it('knows the queue tests as the ones that start Redis', () => {
    expect(needsRedis(join(ROOT, 'test/queue.test.ts'))).toBe(true);
    expect(needsRedis(join(ROOT, 'test/queue-consumers.test.ts'))).toBe(true);
    expect(needsRedis(join(ROOT, 'test/replica.test.ts'))).toBe(true);
    expect(needsRedis(join(ROOT, 'test/replica-server.test.ts'))).toBe(true);
    expect(needsRedis(join(ROOT, 'test/cli.test.ts'))).toBe(false);
  });

  it('stops a run with queue tests before any test, with one message naming the packages to install', () => {
    const r = vitest(['test/queue.test.ts']);
    expect(r.status, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toContain(REDIS_MISSING);
    expect(REDIS_MISSING).toContain('apt-get install redis-server');
    expect(REDIS_MISSING).toContain('brew install redis');
    // No test ran, and nothing else was reported.
    expect(r.stdout).not.toMatch(/Test Files|Tests /);
    expect(r.stderr.replace(REDIS_MISSING, '').trim()).toBe('');
    // The same where the queue tests are one file among others.
    const mixed = vitest(['test/unit/progress.test.ts', 'test/queue-consumers.test.ts']);
    expect(mixed.status).toBe(1);
    expect(mixed.stderr).toContain(REDIS_MISSING);
    expect(mixed.stdout).not.toMatch(/Test Files/);
  });

  it('runs the tests that need no Redis', () => {
    const r = vitest(['test/unit/progress.test.ts']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Test Files .*1 passed/);
  });
});
