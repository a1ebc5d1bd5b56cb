import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, string | { types: string; default: string }> };
const load = (subpath: string): Promise<Record<string, unknown>> => {
  const entry = pkg.exports[subpath] as { default: string };
  return import(join(ROOT, entry.default)) as Promise<Record<string, unknown>>;
};

describe('entry points', () => {
  it('every subpath of package.json exists, with its types', () => {
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') continue;
      expect(existsSync(join(ROOT, target.default)), subpath).toBe(true);
      expect(existsSync(join(ROOT, target.types)), subpath).toBe(true);
    }
    expect(Object.keys(pkg.exports).sort()).toEqual(['.', './bridge', './electron', './package.json', './queue', './replica', './server']);
  });

  it('the root holds what an embedding app needs, and no internals', async () => {
    const root = await load('.');
    for (const name of ['createPool', 'WarmPool', 'embed', 'index', 'search', 'closeDefaultPool', 'readStats', 'WarmpoolError', 'QueueFullError', 'ERROR_CLASSES', 'DEFAULTS', 'CHANNEL_NAMES', 'chunkText']) {
      expect(root, name).toHaveProperty(name);
    }
    for (const name of ['resolveOptions', 'defaultThreads', 'MAX_TIMER_MS', 'createQueueClient', 'createQueueWorker', 'encodeVectors', 'decodeVectors', 'BUILTIN_HANDLERS', 'QUEUE_DEFAULTS', 'unpackedPath', 'preferUnpacked', 'createServer', 'exposePool']) {
      expect(root, name).not.toHaveProperty(name);
    }
    expect(Object.keys(root).length).toBeLessThanOrEqual(40);
  });

  it('the queue, server, bridge and Electron helpers have their own entry points', async () => {
    expect(await load('./queue')).toHaveProperty('createQueueClient');
    expect(await load('./queue')).toHaveProperty('runQueueWorker');
    expect(await load('./server')).toHaveProperty('createServer');
    expect(await load('./bridge')).toHaveProperty('exposePool');
    expect(await load('./replica')).toHaveProperty('createReplica');
    expect(Object.keys(await load('./electron'))).toEqual(['unpackedPath']);
  });
});
