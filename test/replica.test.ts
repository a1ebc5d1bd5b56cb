import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';
import { encodeEntry } from '../dist/src/replica/entry.js';
import { startRedis, type RedisServer } from './redis-server.js';

type IORedis = typeof import('ioredis').Redis;
const require = createRequire(import.meta.url);
const Redis = require('ioredis') as IORedis;

interface Reply {
  ok: boolean;
  result?: unknown;
  error?: { name: string; code: string; message: string };
}

interface Health {
  state: string;
  applied: number;
  head: number;
  behind: number;
  secondsSinceHeard: number | null;
  halted?: { entry: string; message: string };
}

/** A replica process (test/fixtures/replica-node.mjs): a pool with its own store following the log. */
class Node {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  stderr = '';
  #next = 0;
  readonly #pending = new Map<number, (r: Reply) => void>();

  constructor(readonly store: string, url: string, snapshotEvery = 0) {
    this.child = spawn(process.execPath, ['test/fixtures/replica-node.mjs', store, url, 'test', String(snapshotEvery)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    let ready!: () => void;
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`replica not ready in 60 s: ${this.stderr}`)), 60_000);
      ready = () => {
        clearTimeout(timer);
        resolve();
      };
      void this.exited.then(() => reject(new Error(`replica exited before it was ready: ${this.stderr}`)));
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as Reply & { id?: number; ready?: boolean };
      if (msg.ready) return ready();
      this.#pending.get(msg.id!)?.(msg);
      this.#pending.delete(msg.id!);
    });
  }

  call(op: string, args: Record<string, unknown> = {}): Promise<Reply> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, resolve);
      void this.exited.then(() => reject(new Error(`replica exited during ${op}`)));
      this.child.stdin!.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  /** The call's result; throws with the error's code when it failed. */
  async ok<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const r = await this.call(op, args);
    if (!r.ok) throw Object.assign(new Error(`${op}: ${r.error!.code} ${r.error!.message}`), { code: r.error!.code });
    return r.result as T;
  }

  health(): Promise<Health> {
    return this.ok<Health>('health');
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
}

const docsOf = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, text: `${prefix} item ${i} about rivers and mountains`, metadata: { prefix, i } }));

async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('replicated collections: three replica processes following one log in Redis', () => {
  let redis: RedisServer;
  const stores: string[] = [];
  const nodes: Node[] = [];
  /** Every id acknowledged and not deleted since, and the highest position acknowledged. */
  const expected = new Set<string>();
  let head = 0;

  const start = (store?: string, snapshotEvery = 0): Node => {
    if (!store) {
      store = mkdtempSync(join(tmpdir(), 'warmpool-replica-'));
      stores.push(store);
    }
    const node = new Node(store, redis.url, snapshotEvery);
    nodes.push(node);
    return node;
  };
  const live = (): Node[] => nodes.filter((n) => n.alive);

  /** Every live replica at `head`, with the same content hash and every expected id. */
  async function converged(): Promise<string> {
    const hashes = await Promise.all(
      live().map(async (n) => {
        await n.ok('wait', { position: head, waitMs: 30_000 });
        const found = await n.ok<(unknown | null)[]>('get', { collection: 'docs', ids: [...expected] });
        expect(found.filter((d) => d === null)).toHaveLength(0);
        expect(await n.ok<number>('count', { collection: 'docs' })).toBe(expected.size);
        return n.ok<string>('hash');
      }),
    );
    expect(new Set(hashes).size).toBe(1);
    return hashes[0]!;
  }

  async function write(node: Node, prefix: string, n = 5): Promise<number> {
    const r = await node.ok<{ position: number; ids: string[] }>('index', { collection: 'docs', docs: docsOf(prefix, n) });
    for (const id of r.ids) expected.add(id);
    head = Math.max(head, r.position);
    return r.position;
  }

  beforeAll(async () => {
    redis = await startRedis();
    start();
    start();
    start();
    await Promise.all(nodes.map((n) => n.ready));
  });

  afterAll(async () => {
    await Promise.all(live().map((n) => n.call('close').catch(() => undefined)));
    for (const n of nodes) if (n.alive) n.child.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.exited));
    await redis?.stop();
    for (const s of stores) rmSync(s, { recursive: true, force: true });
  });

  it('applies writes from every replica in one order: every acknowledged write on every replica, the same content hash', async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    await Promise.all([a, b, c].flatMap((n, w) => [0, 1, 2, 3].map((i) => write(n, `w${w}-${i}`, 4))));
    // An upsert of existing ids from another replica, and a delete: applied in the log's order everywhere.
    await write(c, 'w0-0', 4);
    const del = await b.ok<{ position: number; deleted: number }>('delete', { collection: 'docs', ids: ['w1-1-0', 'w1-1-1'] });
    expect(del.deleted).toBe(2);
    expected.delete('w1-1-0');
    expected.delete('w1-1-1');
    head = Math.max(head, del.position);
    await converged();
  });

  it('read-your-writes: a search after a position waits for it; one that cannot be reached is a typed timeout', async () => {
    const [a, b] = nodes as [Node, Node];
    const position = await write(a, 'zebra-quartz', 1);
    const hits = await b.ok<{ id: string }[]>('search', { collection: 'docs', q: 'zebra-quartz', mode: 'keyword', after: position, waitMs: 10_000 });
    expect(hits[0]?.id).toBe('zebra-quartz-0');
    const late = await b.call('search', { collection: 'docs', q: 'rivers', after: position + 1000, waitMs: 200 });
    expect(late.error?.code).toBe('ERR_WARMPOOL_REPLICA_TIMEOUT');
  });

  it('a replica killed with SIGKILL mid-stream catches up from where it stopped after a restart', async () => {
    const [a, b] = nodes as [Node, Node];
    const writing = (async () => {
      for (let i = 0; i < 30; i++) await write(a, `kill-${i}`, 5);
    })();
    await until('writes to be flowing', async () => head > 25);
    b.child.kill('SIGKILL');
    await b.exited;
    await writing;
    const again = start(b.store);
    await again.ready;
    const h = await again.health();
    expect(h.applied).toBeGreaterThan(0);
    await converged();
  });

  it('while Redis is down, writes fail typed and searches answer; after it comes back (empty), replication resumes', async () => {
    const [a] = live() as [Node, Node, Node];
    const before = await converged();
    await redis.kill();
    const failed = await a.call('index', { collection: 'docs', docs: docsOf('down', 2) });
    expect(failed.error?.code).toBe('ERR_WARMPOOL_REPLICA_UNAVAILABLE');
    for (const n of live()) {
      const hits = await n.ok<unknown[]>('search', { collection: 'docs', q: 'rivers and mountains', k: 3 });
      expect(hits).toHaveLength(3);
    }
    await new Promise((r) => setTimeout(r, 1200));
    const stale = await a.health();
    expect(stale.state).toBe('unreachable');
    expect(stale.secondsSinceHeard).toBeGreaterThan(1);
    // Nothing of the failed write was applied anywhere.
    expect(await Promise.all(live().map((n) => n.ok<string>('hash')))).toEqual(live().map(() => before));

    await redis.restart();
    // The log was lost with Redis' data: the first replica back seeds a new epoch from its copy.
    await until('a write to succeed again', async () => (await a.call('index', { collection: 'docs', docs: docsOf('back', 3) })).ok);
    for (const id of docsOf('back', 3).map((d) => d.id)) expected.add(id);
    head = (await a.health()).applied;
    await write(live()[1]!, 'after-restart', 3);
    await converged();
    for (const n of live()) expect((await n.health()).state).toBe('following');
  });

  it('a new replica with an empty store starts from the uploaded snapshot and the trimmed log tail', async () => {
    const [a, b] = live() as [Node, Node, Node];
    await write(a, 'pre-snapshot', 3);
    await converged();
    const at = await a.ok<number>('snapshot');
    expect(at).toBe(head);
    await write(b, 'post-snapshot', 3);
    // The log was trimmed behind the snapshot: entries before it are gone.
    const client = new Redis(redis.url);
    try {
      expect(await client.xlen('warmpool:{test}:log')).toBeLessThanOrEqual(2);
    } finally {
      client.disconnect();
    }
    const fresh = start();
    await fresh.ready;
    await converged();
  });

  it('a replica with snapshotEvery uploads a snapshot by itself once that many entries were applied, and trims the log', async () => {
    const client = new Redis(redis.url);
    try {
      const before = Number(await client.get('warmpool:{test}:snapn'));
      // Three replicas from here on (the fourth, started from the snapshot, has made its point).
      const extra = live()[1]!;
      await extra.call('close');
      await extra.exited;
      // Restarted with snapshotEvery 3: it resumes from its position and counts from the last snapshot.
      const old = live().at(-1)!;
      await old.call('close');
      await old.exited;
      const periodic = start(old.store, 3);
      await periodic.ready;
      for (let i = 0; i < 3; i++) await write(periodic, `periodic-${i}`, 2);
      await until('a periodic snapshot', async () => Number(await client.get('warmpool:{test}:snapn')) >= before + 3);
      expect(await client.xlen('warmpool:{test}:log')).toBeLessThanOrEqual(2);
      await converged();
    } finally {
      client.disconnect();
    }
  });

  it('a malformed log entry stops every replica at that same entry, reported in health; writes then fail typed', async () => {
    const client = new Redis(redis.url);
    let bad: string;
    try {
      const n = await client.incr('warmpool:{test}:seq');
      bad = (await client.xadd('warmpool:{test}:log', '*', 'n', String(n), 'v', '1', 'op', 'upsert', 'c', 'docs', 'create', '{}', 'docs', '[["x","y"]]', 'dims', '384', 'vec', 'AAAA'))!;
    } finally {
      client.disconnect();
    }
    await until('every replica to halt', async () => (await Promise.all(live().map((n) => n.health()))).every((h) => h.state === 'halted'));
    for (const n of live()) {
      const h = await n.health();
      expect(h.halted!.entry).toBe(bad);
      expect(h.halted!.message).toMatch(/vectors hold 3 bytes/);
    }
    const refused = await live()[0]!.call('index', { collection: 'docs', docs: docsOf('refused', 1) });
    expect(refused.error?.code).toBe('ERR_WARMPOOL_REPLICA_LOG');
    // Searches still answer from the local copy.
    expect(await live()[0]!.ok<unknown[]>('search', { collection: 'docs', q: 'rivers', k: 2 })).toHaveLength(2);

    // The way out: delete the entry, restart the replicas; they go on from where they stopped.
    const admin = new Redis(redis.url);
    try {
      expect(await admin.xdel('warmpool:{test}:log', bad)).toBe(1);
    } finally {
      admin.disconnect();
    }
    const stopped = live();
    await Promise.all(stopped.map((n) => n.call('close')));
    await Promise.all(stopped.map((n) => n.exited));
    const restarted = stopped.map((n) => start(n.store));
    await Promise.all(restarted.map((n) => n.ready));
    await write(restarted[0]!, 'after-repair', 2);
    await converged();
  });

  it('an entry the collection refuses (vectors of another dimension) stops every replica at it, the good upserts of the same batch applied', async () => {
    const { dims } = await live()[0]!.ok<{ dims: number }>('info', { collection: 'docs' });
    const create = { dims };
    const vectors = (n: number, d: number) => Float32Array.from({ length: n * d }, (_, i) => Math.sin(i + 1));
    const good = (id: string) => encodeEntry({ op: 'upsert', collection: 'docs', create, dims, docs: [{ id, text: `${id} about rivers` }], vectors: vectors(1, dims) });
    const wrong = encodeEntry({ op: 'upsert', collection: 'docs', create: { dims: 3 }, dims: 3, docs: [{ id: 'wrong-dims', text: 'three numbers' }], vectors: vectors(1, 3) });
    const client = new Redis(redis.url);
    let ids: string[];
    try {
      // One transaction: the replicas read the three entries in one batch.
      const multi = client.multi();
      for (const fields of [good('injected-1'), good('injected-2'), wrong]) {
        multi.eval("local n = redis.call('INCR', KEYS[1]); return redis.call('XADD', KEYS[2], '*', 'n', tostring(n), unpack(ARGV))", 2, 'warmpool:{test}:seq', 'warmpool:{test}:log', ...fields);
      }
      ids = ((await multi.exec()) ?? []).map(([error, id]) => {
        if (error) throw error;
        return id as string;
      });
    } finally {
      client.disconnect();
    }
    await until('every replica to halt', async () => (await Promise.all(live().map((n) => n.health()))).every((h) => h.state === 'halted'));
    for (const n of live()) {
      const h = await n.health();
      expect(h.halted!.entry).toBe(ids[2]);
      expect(h.halted!.message).toMatch(/cannot be applied: .*dimension 3/);
      const found = await n.ok<({ id: string } | null)[]>('get', { collection: 'docs', ids: ['injected-1', 'injected-2', 'wrong-dims'] });
      expect(found.map((d) => d?.id ?? null)).toEqual(['injected-1', 'injected-2', null]);
    }
    expect(new Set(await Promise.all(live().map((n) => n.ok<string>('hash')))).size).toBe(1);
  });
});
