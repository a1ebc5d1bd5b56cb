/**
 * The queue tests start a real redis-server (test/redis-server.ts). Where it is not installed
 * the run stops before any test with one message saying what to install, instead of each queue
 * suite failing on its own among the other results.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The message for a machine without redis-server on its PATH. */
export const REDIS_MISSING = [
  'redis-server is not on the PATH, and the queue and replica tests start a real Redis server.',
  'Install it, then run the tests again:',
  '  Debian / Ubuntu:  sudo apt-get install redis-server',
  '  macOS:            brew install redis',
  "Or leave them out of this run: npx vitest run --exclude 'test/queue*.test.ts' --exclude 'test/replica*.test.ts'",
].join('\n');

/** Whether `redis-server` runs from the PATH of `env`. */
export function hasRedisServer(env: NodeJS.ProcessEnv = process.env): boolean {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8', env });
  return probe.error === undefined && probe.status === 0;
}

/** Whether a test file starts a Redis server (it imports ./redis-server.js). */
export function needsRedis(testFile: string): boolean {
  return /from ['"]\.\/redis-server\.js['"]/.test(readFileSync(testFile, 'utf8'));
}
