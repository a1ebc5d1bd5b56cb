/**
 * Shared weights: a model's workers map one prepared copy of its weights from the weights cache
 * (see workers/shared-weights.ts). Outputs are those of the model loaded as transformers.js loads
 * it, bit for bit; preparing is safe when several processes do it at once; a damaged entry is
 * made again; a cache that cannot be written falls back to each worker's own copy, saying why;
 * and an extra worker costs little memory.
 */
import { execFile, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, createPool, type WarmPool } from './helpers.js';

const ENTRY = join(ROOT, 'dist/src/index.js');
const FIXTURE = join(ROOT, 'test/fixtures/weights-pool.mjs');
const temp = mkdtempSync(join(tmpdir(), 'warmpool-weights-'));
const pools: WarmPool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
  rmSync(temp, { recursive: true, force: true });
});

interface Memory {
  rssBytes: number;
  pssBytes: number | undefined;
  baselineBytes?: number;
  perWorkerBytes?: number;
  perWorkerEstimate?: 'marginal' | 'average';
}
interface Run {
  weights: { shared: boolean; reason?: string; preparedMs?: number; preparedNow?: boolean; cachePath?: string };
  healthWeights?: Run['weights'] | undefined;
  readyMs: number;
  atReady: Memory;
  afterCalls: Memory;
  bytes: string;
}

/** One pool in a child process (a clean process: its memory is the pool's). */
function runPool<T = Run>(options: Record<string, unknown>, fixture = FIXTURE): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [fixture, ENTRY, JSON.stringify(options)], { timeout: 240_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as T);
      } catch {
        reject(new Error(`pool process failed: ${error?.message ?? ''} ${stderr.slice(-2000)}`));
      }
    });
  });
}

const cacheIn = (name: string): string => join(temp, name);
const leftovers = (cache: string): string[] => readdirSync(cache).filter((n) => /\.(lock|tmp-|old-|stale-)/.test(n));

describe('shared weights', () => {
  for (const model of ['minilm-shape', 'glove-100d']) {
    it(`${model}: the same vectors, bit for bit, as each worker loading its own copy; prepared once, then found`, async () => {
      const cache = cacheIn(`same-${model}`);
      const own = await runPool({ model, threads: 1, weightsCache: false });
      expect(own.weights).toEqual({ shared: false, reason: 'weightsCache is false' });
      // health() says the same, so a pool that could not share says why where operators look.
      expect(own.healthWeights).toEqual(own.weights);
      const first = await runPool({ model, threads: 1, weightsCache: cache });
      expect(first.weights).toMatchObject({ shared: true, preparedNow: true });
      expect(first.weights!.cachePath!.startsWith(cache)).toBe(true);
      expect(first.weights!.preparedMs).toBeGreaterThan(0);
      const again = await runPool({ model, threads: 2, weightsCache: cache });
      expect(again.weights).toMatchObject({ shared: true, preparedNow: false, preparedMs: first.weights!.preparedMs });
      expect(first.bytes).toBe(own.bytes);
      expect(again.bytes).toBe(own.bytes);
      expect(leftovers(cache)).toEqual([]);
    }, 180_000); // three pool starts, one of them preparing the weights
  }

  it('shares by default, in $XDG_CACHE_HOME/warmpool/weights (a folder of the test run\'s own)', async () => {
    const pool = createPool({ model: 'glove-100d', threads: 1, env: false });
    pools.push(pool);
    await pool.ready();
    expect(pool.model?.weights?.shared).toBe(true);
    expect(pool.model?.weights?.cachePath?.startsWith(join(process.env.XDG_CACHE_HOME!, 'warmpool', 'weights'))).toBe(true);
  });

  it('a reranker shares too, with the same scores', async () => {
    const cache = cacheIn('rerank');
    const options = { model: 'glove-rerank', task: 'rerank' as const, threads: 1, env: false as const, cacheBytes: 0 };
    const own = createPool({ ...options, weightsCache: false });
    const shared = createPool({ ...options, weightsCache: cache });
    pools.push(own, shared);
    await Promise.all([own.ready(), shared.ready()]);
    expect(shared.model?.weights).toMatchObject({ shared: true });
    const docs = ['A man plays the guitar.', 'Stocks fell sharply.', 'A cat sleeps.'];
    const [a, b] = await Promise.all([own.rerank('music instrument', docs), shared.rerank('music instrument', docs)]);
    expect(b).toEqual(a);
  });

  it('two processes preparing the same cache at once end with one valid entry, prepared once', async () => {
    const cache = cacheIn('race');
    const runs = await Promise.all([runPool({ model: 'minilm-shape', threads: 2, weightsCache: cache }), runPool({ model: 'minilm-shape', threads: 2, weightsCache: cache })]);
    for (const run of runs) expect(run.weights).toMatchObject({ shared: true });
    expect(runs[0]!.bytes).toBe(runs[1]!.bytes);
    // pool.model tells what its first ready worker saw: the one that prepared, or one that waited for it.
    expect(runs.filter((r) => r.weights!.preparedNow).length).toBeLessThanOrEqual(1);
    expect(runs[0]!.weights!.cachePath).toBe(runs[1]!.weights!.cachePath);
    expect(runs[0]!.weights!.preparedMs).toBe(runs[1]!.weights!.preparedMs);
    expect(readdirSync(cache)).toHaveLength(1);
    expect(leftovers(cache)).toEqual([]);
  });

  it('a damaged entry is found and made again', async () => {
    const cache = cacheIn('damaged');
    const first = await runPool({ model: 'glove-100d', threads: 1, weightsCache: cache });
    const entry = first.weights!.cachePath!;
    // Overwrite the start of the weights file (as a disk fault or a stray write would).
    const data = join(entry, 'onnx', 'model.onnx.data');
    const size = statSync(data).size;
    const fd = openSync(data, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 0);
    closeSync(fd);
    const second = await runPool({ model: 'glove-100d', threads: 1, weightsCache: cache });
    expect(second.weights).toMatchObject({ shared: true, preparedNow: true });
    expect(second.bytes).toBe(first.bytes);
    expect(statSync(data).size).toBe(size);
    // A truncated graph, and a missing weights.json: made again too.
    writeFileSync(join(entry, 'onnx', 'model.onnx'), 'not a model');
    const third = await runPool({ model: 'glove-100d', threads: 1, weightsCache: cache });
    expect(third.weights).toMatchObject({ shared: true, preparedNow: true });
    expect(third.bytes).toBe(first.bytes);
    rmSync(join(entry, 'weights.json'));
    const fourth = await runPool({ model: 'glove-100d', threads: 1, weightsCache: cache });
    expect(fourth.weights).toMatchObject({ shared: true, preparedNow: true });
    expect(leftovers(cache)).toEqual([]);
  });

  it('a lock left by a preparer that died is taken over once stale', async () => {
    const first = await runPool({ model: 'glove-100d', threads: 1, weightsCache: cacheIn('lock-a') });
    // The entry's name depends on the model and the machine, not on the cache folder.
    const name = basename(first.weights!.cachePath!);
    const cache = cacheIn('lock-b');
    mkdirSync(cache, { recursive: true });
    const lock = join(cache, `${name}.lock`);
    writeFileSync(lock, JSON.stringify({ pid: 999_999, thread: 1 }));
    // ...and its half-written folder.
    mkdirSync(join(cache, `${name}.tmp-999999-1-dead`, 'onnx'), { recursive: true });
    const old = new Date(Date.now() - 120_000);
    utimesSync(lock, old, old);
    const run = await runPool({ model: 'glove-100d', threads: 1, weightsCache: cache });
    expect(run.weights).toMatchObject({ shared: true, preparedNow: true });
    expect(run.bytes).toBe(first.bytes);
    expect(leftovers(cache)).toEqual([]);
  });

  it('a model onnxruntime cannot prepare is tried once, remembered, and loads (or fails) as before', async () => {
    const folder = join(temp, 'broken-model');
    mkdirSync(join(folder, 'onnx'), { recursive: true });
    for (const name of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(ROOT, 'models/glove-100d', name), join(folder, name));
    writeFileSync(join(folder, 'onnx', 'model.onnx'), 'not an onnx model');
    const cache = cacheIn('refused');
    const pool = createPool({ model: folder, threads: 2, env: false, weightsCache: cache });
    pools.push(pool);
    await expect(pool.ready()).rejects.toThrow(/could not load model/);
    const names = readdirSync(cache);
    expect(names.filter((n) => n.endsWith('.refused'))).toHaveLength(1);
    expect(names.filter((n) => !n.endsWith('.refused'))).toEqual([]);
  });

  it('a cache that cannot be written falls back to each worker loading its own copy, and says why', async () => {
    // A folder below a plain file cannot be made, even by root (for whom permissions do not count).
    const file = join(temp, 'a-file');
    writeFileSync(file, '');
    const pool = createPool({ model: 'glove-100d', threads: 1, env: false, weightsCache: join(file, 'cache') });
    pools.push(pool);
    await pool.ready();
    expect(pool.model?.weights?.shared).toBe(false);
    expect(pool.model?.weights?.reason).toMatch(/cannot be written \(ENOTDIR\)/);
    expect((await pool.embed(['still works']))[0]).toHaveLength(100);
  });

  it('an extra worker costs little memory: 4 workers vs 1 of minilm-shape, Pss through the whole pool', async () => {
    const cache = cacheIn('pss');
    await runPool({ model: 'minilm-shape', threads: 1, weightsCache: cache }); // prepares
    const perExtra: number[] = [];
    // Noisy neighbours: the better of two rounds, each a pool of 1 and one of 4.
    for (let round = 0; round < 2; round++) {
      const one = await runPool({ model: 'minilm-shape', threads: 1, weightsCache: cache });
      const four = await runPool({ model: 'minilm-shape', threads: 4, weightsCache: cache });
      if (one.afterCalls.pssBytes === undefined || four.afterCalls.pssBytes === undefined) return; // no smaps_rollup here
      perExtra.push((four.afterCalls.pssBytes - one.afterCalls.pssBytes) / 3 / 2 ** 20);
    }
    // Measured on the 2-core machine: 25-35 MB (each worker's own copy: ~160 MB).
    expect(Math.min(...perExtra)).toBeLessThan(45);
  }, 240_000); // five pool starts of a MiniLM-sized model: about a minute on a busy 2-core machine

  it('stats().memory estimates what one more worker costs: the average at first, the measured step once the pool had 1 and 2 workers', async () => {
    const cache = cacheIn('estimate');
    await runPool({ model: 'minilm-shape', threads: 1, weightsCache: cache }); // prepares
    const run = await runPool<{ atReady: Memory; one: Memory; two: Memory; workers: number }>({ model: 'minilm-shape', weightsCache: cache }, join(ROOT, 'test/fixtures/memory-estimate-pool.mjs'));
    expect(run.workers).toBe(2);
    const { atReady, two } = run;
    const pss = (m: Memory): number => m.pssBytes ?? m.rssBytes;
    // Two workers from the start: (Pss - baseline) / 2, the baseline read before the first worker.
    expect(atReady.perWorkerEstimate).toBe('average');
    expect(atReady.baselineBytes).toBeGreaterThan(5 * 2 ** 20);
    expect(atReady.baselineBytes).toBeLessThan(pss(atReady) / 2);
    expect(Math.abs(atReady.perWorkerBytes! - (pss(atReady) - atReady.baselineBytes!) / 2)).toBeLessThanOrEqual(1);
    // After unload(), a call (1 worker) and warm() (2): the step between them. Far less than the
    // average, which counts the mapped weights and the library's code in each share. Measured:
    // 15-30 MB, as the pools of 1 and 4 above.
    expect(two.perWorkerEstimate).toBe('marginal');
    expect(two.baselineBytes).toBe(atReady.baselineBytes);
    expect(two.perWorkerBytes).toBeGreaterThan(2 * 2 ** 20);
    expect(two.perWorkerBytes).toBeLessThan(Math.min(45 * 2 ** 20, atReady.perWorkerBytes!));
  });
});

/** `warmpool weights ...` in a process of its own; its JSON answer. */
function weightsCli(args: string[]): { status: number | null; json: PruneAnswer; stderr: string } {
  const r = spawnSync(process.execPath, ['dist/src/cli.js', 'weights', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, json: (r.status === 0 ? JSON.parse(r.stdout) : {}) as PruneAnswer, stderr: r.stderr };
}
interface PruneAnswer {
  cache: string;
  entries: { name: string; lastUsed: string; mappedBy: number[] }[];
  prune?: { removed: { name: string }[]; kept: { name: string; reason: string }[]; leftovers: string[] };
}
/** Makes an entry look unused since `days` ago (its marker and its weights.json). */
function age(entry: string, days: number): void {
  const then = new Date(Date.now() - days * 86_400_000);
  for (const name of ['last-used', 'weights.json']) if (existsSync(join(entry, name))) utimesSync(join(entry, name), then, then);
}

describe('pruning the weights cache', () => {
  it('a worker that loads an entry marks it used; warmpool weights lists it, and --prune keeps what is recent, mapped or being prepared', async () => {
    const cache = cacheIn('prune-cli');
    const pool = createPool({ model: 'glove-100d', threads: 1, env: false, weightsCache: cache });
    pools.push(pool);
    await pool.ready();
    const entry = pool.model!.weights!.cachePath!;
    const name = basename(entry);
    expect(Date.now() - statSync(join(entry, 'last-used')).mtimeMs).toBeLessThan(60_000);
    // A copy of it no process maps, and a copy being prepared (a fresh lock beside it).
    cpSync(entry, join(cache, 'copy-fp32-0'), { recursive: true });
    cpSync(entry, join(cache, 'preparing-fp32-0'), { recursive: true });
    writeFileSync(join(cache, 'preparing-fp32-0.lock'), '{}');
    for (const n of [name, 'copy-fp32-0', 'preparing-fp32-0']) age(join(cache, n), 40);

    const listed = weightsCli(['--weights-cache', cache]);
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.json.entries.map((e) => e.name).sort()).toEqual(['copy-fp32-0', name, 'preparing-fp32-0'].sort());
    // This test's process maps the pool's entry (its worker is a thread of it).
    expect(listed.json.entries.find((e) => e.name === name)!.mappedBy).toContain(process.pid);

    const dry = weightsCli(['--weights-cache', cache, '--prune', '--dry-run']);
    expect(dry.json.prune!.removed.map((e) => e.name)).toEqual(['copy-fp32-0']);
    expect(existsSync(join(cache, 'copy-fp32-0'))).toBe(true);

    const pruned = weightsCli(['--weights-cache', cache, '--prune']);
    expect(pruned.status, pruned.stderr).toBe(0);
    expect(pruned.json.prune!.removed.map((e) => e.name)).toEqual(['copy-fp32-0']);
    const reasons = Object.fromEntries(pruned.json.prune!.kept.map((k) => [k.name, k.reason]));
    expect(reasons[name]).toBe(`mapped by process ${process.pid}`);
    expect(reasons['preparing-fp32-0']).toBe('being prepared');
    expect(readdirSync(cache).sort()).toEqual([name, 'preparing-fp32-0', 'preparing-fp32-0.lock'].sort());
    // The pool goes on with its entry.
    expect((await pool.embed(['still shared']))[0]).toHaveLength(100);

    // Used recently: kept at the default 30 days, removed at --older-than 0 once no process maps it.
    rmSync(join(cache, 'preparing-fp32-0.lock'));
    const recent = weightsCli(['--weights-cache', cache, '--prune', '--older-than', '35']);
    expect(recent.json.prune!.removed.map((e) => e.name)).toEqual(['preparing-fp32-0']);
    expect(weightsCli(['--weights-cache', cache, '--prune', '--older-than', 'soon']).status).toBe(2);
    expect(weightsCli(['--weights-cache', 'off']).status).toBe(2);
  });

  it('preparing a new entry removes entries unused for 30 days, and old leftovers, and keeps the rest', async () => {
    const cache = cacheIn('prune-at-prepare');
    const first = await runPool({ model: 'glove-100d', threads: 1, weightsCache: cache });
    const entry = first.weights.cachePath!;
    cpSync(entry, join(cache, 'stale-fp32-0'), { recursive: true });
    cpSync(entry, join(cache, 'recent-fp32-0'), { recursive: true });
    age(join(cache, 'stale-fp32-0'), 31);
    age(join(cache, 'recent-fp32-0'), 29);
    writeFileSync(join(cache, 'gone-fp32-0.refused'), 'onnxruntime refused: old');
    const then = new Date(Date.now() - 31 * 86_400_000);
    utimesSync(join(cache, 'gone-fp32-0.refused'), then, then);
    // The entry itself is made again (damaged), which prunes.
    rmSync(join(entry, 'weights.json'));
    const second = await runPool({ model: 'glove-100d', threads: 1, weightsCache: cache });
    expect(second.weights).toMatchObject({ shared: true, preparedNow: true });
    expect(readdirSync(cache).sort()).toEqual([basename(entry), 'recent-fp32-0'].sort());
  });
});
