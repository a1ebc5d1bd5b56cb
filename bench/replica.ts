/**
 * Replicated collections on one machine, against a throw-away redis-server, with three replica
 * processes (test/fixtures/replica-node.mjs: one worker thread each, glove-100d):
 * - write throughput through the log (index calls of 10 documents, acknowledged once in the log
 *   and applied by the writing replica), beside the same calls on a local pool with no log;
 * - replication lag: from a write's acknowledgement by the log to its application on each replica
 *   (p50, p99), one write at a time;
 * - search throughput with 1, 2 and 3 replicas answering at once.
 *
 *   npm run bench:replica [-- --writes 400 --searches 2000]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createPool } from '../dist/src/index.js';
import { startRedis } from '../test/redis-server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { writes: { type: 'string', default: '400' }, searches: { type: 'string', default: '2000' }, 'lag-writes': { type: 'string', default: '200' } } });
const WRITES = Number(values.writes);
const SEARCHES = Number(values.searches);
const LAG_WRITES = Number(values['lag-writes']);
const DOCS_PER_WRITE = 10;
const WINDOW = 16;

const vocab = ['river', 'market', 'guitar', 'doctor', 'storm', 'pasta', 'football', 'engine', 'garden', 'court', 'planet', 'violin'];
const text = (i: number): string => `${vocab[i % 12]} ${vocab[(i * 7) % 12]} ${vocab[(i * 5) % 12]} near the ${vocab[(i * 3) % 12]} ${i}`;
let seed = 0;
const docs = (n: number) => Array.from({ length: n }, () => ({ id: `d${seed}`, text: text(seed++) }));

interface Node {
  child: ChildProcess;
  call: <T>(op: string, args?: Record<string, unknown>) => Promise<T>;
  ready: Promise<void>;
}

function startNode(url: string, store: string): Node {
  const child = spawn(process.execPath, ['test/fixtures/replica-node.mjs', store, url, 'bench'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const pending = new Map<number, (m: { ok: boolean; result: unknown; error?: { message: string } }) => void>();
  let next = 0;
  let onReady!: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const m = JSON.parse(line) as { id: number; ready?: boolean; ok: boolean; result: unknown };
    if (m.ready) return onReady();
    pending.get(m.id)?.(m);
    pending.delete(m.id);
  });
  const call = <T>(op: string, args: Record<string, unknown> = {}): Promise<T> =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, (m) => (m.ok ? resolve(m.result as T) : reject(new Error(`${op}: ${m.error?.message}`))));
      child.stdin!.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  return { child, call, ready };
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

const redis = await startRedis();
const stores = [0, 1, 2].map(() => mkdtempSync(join(tmpdir(), 'warmpool-bench-replica-')));
const nodes = stores.map((s) => startNode(redis.url, s));
try {
  await Promise.all(nodes.map((n) => n.ready));
  const [a] = nodes as [Node, Node, Node];
  await a.call('index', { collection: 'docs', docs: docs(DOCS_PER_WRITE) });

  // Writes through the log, WINDOW in flight, from one replica.
  const t0 = performance.now();
  for (let i = 0; i < WRITES; i += WINDOW) {
    await Promise.all(Array.from({ length: Math.min(WINDOW, WRITES - i) }, () => a.call('index', { collection: 'docs', docs: docs(DOCS_PER_WRITE) })));
  }
  const logSeconds = (performance.now() - t0) / 1000;

  // The same writes on a local pool (one worker thread, its own store), no log.
  const localStore = mkdtempSync(join(tmpdir(), 'warmpool-bench-local-'));
  const local = createPool({ threads: 1, storePath: localStore, env: false });
  await local.index(docs(DOCS_PER_WRITE), { collection: 'docs' });
  const l0 = performance.now();
  for (let i = 0; i < WRITES; i += WINDOW) {
    await Promise.all(Array.from({ length: Math.min(WINDOW, WRITES - i) }, () => local.index(docs(DOCS_PER_WRITE), { collection: 'docs' })));
  }
  const localSeconds = (performance.now() - l0) / 1000;
  await local.close();
  rmSync(localStore, { recursive: true, force: true });

  // Replication lag, one write at a time: acknowledged by the log (not waiting for any replica),
  // then each replica asked to wait for that position; the time until it answers.
  const lags: number[][] = [[], [], []];
  for (let i = 0; i < LAG_WRITES; i++) {
    const { position } = await a.call<{ position: number }>('index', { collection: 'docs', docs: docs(1), waitApplied: false });
    const acked = performance.now();
    await Promise.all(nodes.map(async (n, r) => {
      await n.call('wait', { position, waitMs: 30_000 });
      lags[r]!.push(performance.now() - acked);
    }));
  }
  // The IPC floor: a `wait` for a position already applied.
  const floor: number[] = [];
  for (let i = 0; i < 100; i++) {
    const f0 = performance.now();
    await nodes[1]!.call('wait', { position: 1 });
    floor.push(performance.now() - f0);
  }
  const lag = lags.map((l) => l.sort((x, y) => x - y)).map((l, r) => ({ replica: r === 0 ? 'writer' : `replica ${r + 1}`, p50Ms: pct(l, 0.5), p99Ms: pct(l, 0.99), maxMs: l.at(-1)! }));
  floor.sort((x, y) => x - y);

  const hashes = await Promise.all(nodes.map((n) => n.call<string>('hash')));
  if (new Set(hashes).size !== 1) throw new Error('the replicas differ after the run');

  // Search throughput with 1, 2, 3 replicas answering at once (each runs its share in its own process).
  const queries = Array.from({ length: 64 }, (_, i) => `${vocab[i % 12]} ${vocab[(i * 5) % 12]}`);
  for (const n of nodes) await n.call('searchLoop', { collection: 'docs', count: 100, concurrency: 8, queries });
  const search: { replicas: number; searchesPerSecond: number }[] = [];
  for (const k of [1, 2, 3]) {
    const per = Math.floor(SEARCHES / k);
    const s0 = performance.now();
    await Promise.all(nodes.slice(0, k).map((n) => n.call<number>('searchLoop', { collection: 'docs', count: per, concurrency: 8, queries })));
    search.push({ replicas: k, searchesPerSecond: (per * k) / ((performance.now() - s0) / 1000) });
  }

  const count = await a.call<number>('count', { collection: 'docs' });
  const result = {
    date: new Date().toISOString(),
    machine: { cores: availableParallelism(), cpu: cpus()[0]?.model, loadavg1m: loadavg()[0], node: process.version },
    setup: { writes: WRITES, docsPerWrite: DOCS_PER_WRITE, window: WINDOW, replicas: 3, threadsPerReplica: 1, model: 'glove-100d', documents: count, redis: 'local redis-server, same machine' },
    writes: {
      throughLog: { writesPerSecond: WRITES / logSeconds, docsPerSecond: (WRITES * DOCS_PER_WRITE) / logSeconds },
      localPool: { writesPerSecond: WRITES / localSeconds, docsPerSecond: (WRITES * DOCS_PER_WRITE) / localSeconds },
    },
    lag: { writes: LAG_WRITES, perReplica: lag, ipcFloorP50Ms: pct(floor, 0.5) },
    search,
  };
  mkdirSync(`${ROOT}bench/results`, { recursive: true });
  writeFileSync(`${ROOT}bench/results/replica.json`, `${JSON.stringify(result, null, 2)}\n`);

  const f = (x: number, d = 0) => x.toFixed(d);
  console.log(`replica benchmark: 3 replica processes (1 thread each), glove-100d, ${availableParallelism()} cores (load ${f(loadavg()[0]!, 1)}), ${count} documents\n`);
  console.log(`| writes of ${DOCS_PER_WRITE} docs, ${WINDOW} in flight | writes/s | docs/s |`);
  console.log('|---|---|---|');
  console.log(`| through the log (acknowledged after the writer applied it) | ${f(result.writes.throughLog.writesPerSecond)} | ${f(result.writes.throughLog.docsPerSecond)} |`);
  console.log(`| local pool, no log | ${f(result.writes.localPool.writesPerSecond)} | ${f(result.writes.localPool.docsPerSecond)} |`);
  console.log(`\n| replication lag (log ack to applied), ${LAG_WRITES} writes one at a time | p50 ms | p99 ms | max ms |`);
  console.log('|---|---|---|---|');
  for (const l of lag) console.log(`| ${l.replica} | ${f(l.p50Ms, 2)} | ${f(l.p99Ms, 2)} | ${f(l.maxMs, 1)} |`);
  console.log(`(a wait for a position already applied, the measuring floor: ${f(pct(floor, 0.5), 2)} ms p50)`);
  console.log('\n| replicas answering | searches/s (hybrid, k 10) |');
  console.log('|---|---|');
  for (const s of search) console.log(`| ${s.replicas} | ${f(s.searchesPerSecond)} |`);
  console.log('wrote bench/results/replica.json');
} finally {
  await Promise.all(nodes.map((n) => n.call('close').catch(() => undefined)));
  await redis.stop();
  for (const s of stores) rmSync(s, { recursive: true, force: true });
}
