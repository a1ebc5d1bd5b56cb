import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { REDIS_MISSING, hasRedisServer, needsRedis } from './redis-check.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * The test files this run will take: those matching the command line's filters. Vitest keeps the
 * filters on an internal field; without it, every test file (so the checks err on the side of
 * asking for what the whole suite needs).
 */
async function testFilesOfThisRun(project: TestProject): Promise<string[]> {
  const filters = (project.vitest as unknown as { filenamePattern?: string[] }).filenamePattern;
  return (await project.globTestFiles(Array.isArray(filters) ? filters : undefined)).testFiles;
}

/**
 * Checks what the run needs before any test starts: the built package, redis-server where queue
 * tests are in the run, and the benchmark-shaped models (~90 MB each, git-ignored), generated once
 * each where missing.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  if (!existsSync(`${root}dist/src/index.js`)) {
    throw new Error('dist/ is missing: the tests run against the built package; run `npm test` (it builds first)');
  }
  if (!hasRedisServer() && (await testFilesOfThisRun(project)).some(needsRedis)) {
    // One message and out: thrown, it would come after Vitest's "No test files found" and a trace.
    writeSync(2, `\n${REDIS_MISSING}\n\n`);
    process.exit(1);
  }
  if (!existsSync(`${root}models/minilm-shape/onnx/model.onnx`)) {
    execFileSync(process.execPath, ['--import', 'tsx', 'models/build-minilm-shape.ts'], { cwd: root, stdio: 'inherit' });
  }
  // The cross-encoder shapes (rerank and classify tests): the same encoder with a classification head.
  if (!existsSync(`${root}models/minilm-cross-shape/onnx/model.onnx`)) {
    execFileSync(process.execPath, ['--import', 'tsx', 'models/build-minilm-cross-shape.ts'], { cwd: root, stdio: 'inherit' });
  }
  if (!existsSync(`${root}models/minilm-classify-shape/onnx/model.onnx`)) {
    execFileSync(process.execPath, ['--import', 'tsx', 'models/build-minilm-cross-shape.ts', '--labels', '3', '--out', 'models/minilm-classify-shape'], { cwd: root, stdio: 'inherit' });
  }
  // Models prepared for shared weights (the default `weightsCache` lives under $XDG_CACHE_HOME) go
  // to a folder of this run's own, removed at its end: tests load models from temporary folders,
  // each a cache entry of its own, which would pile up in the home folder. Test processes inherit it.
  const cache = mkdtempSync(join(tmpdir(), 'warmpool-test-cache-'));
  process.env.XDG_CACHE_HOME = cache;
  return () => rmSync(cache, { recursive: true, force: true });
}
