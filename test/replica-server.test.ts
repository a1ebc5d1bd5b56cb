import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';
import { resolveServerOptions } from './server-helpers.js';
import { startRedis, type RedisServer } from './redis-server.js';

interface Served {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
}

/** `warmpool serve --replica-of <redis>` in a process of its own, one worker, its own store. */
async function serve(redis: string, store: string): Promise<Served> {
  const child = spawn(process.execPath, ['dist/src/cli.js', 'serve', '--port', '0', '--threads', '1', '--store', store, '--replica-of', redis, '--replica-log', 'http'], {
    cwd: ROOT,
    env: { ...process.env, WARMPOOL_LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let found = '';
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^listening on (\S+)/.exec(line);
      if (m) found = m[1]!;
      if (line.startsWith('ready')) resolve(found);
    });
    void exited.then((code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  return { child, url, exited };
}

async function call(method: string, url: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : { text } };
}

describe('server options replicaOf and replicaLog', () => {
  it('take a redis URL and a log name, from the options or WARMPOOL_REPLICA_OF / WARMPOOL_REPLICA_LOG', () => {
    expect(resolveServerOptions({ env: false })).toMatchObject({ replicaOf: undefined, replicaLog: 'default' });
    expect(resolveServerOptions({ env: { WARMPOOL_REPLICA_OF: 'redis://10.0.0.5:6379', WARMPOOL_REPLICA_LOG: 'shop' } })).toMatchObject({ replicaOf: 'redis://10.0.0.5:6379', replicaLog: 'shop' });
    expect(() => resolveServerOptions({ env: false, replicaOf: 'http://x' })).toThrow(/replicaOf must be a redis:\/\/ or rediss:\/\/ URL, received "http:\/\/x"/);
    expect(() => resolveServerOptions({ env: false, replicaLog: 'a/b' })).toThrow(TypeError);
  });
});

describe('warmpool serve --replica-of', () => {
  let redis: RedisServer;
  const servers: Served[] = [];
  const stores: string[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    for (let i = 0; i < 2; i++) stores.push(mkdtempSync(join(tmpdir(), 'warmpool-replica-http-')));
    servers.push(...(await Promise.all(stores.map((s) => serve(redis.url, s)))));
  });

  afterAll(async () => {
    for (const s of servers) s.child.kill('SIGTERM');
    await Promise.all(servers.map((s) => s.exited));
    await redis?.stop();
    for (const s of stores) rmSync(s, { recursive: true, force: true });
  });

  it('writes through one server are read on the other (read-your-writes with "after"), and both report their lag', async () => {
    const [a, b] = servers as [Served, Served];
    // "ready" is printed once the replica has joined the log: a write made now is taken.
    for (const s of [a, b]) expect((await call('GET', `${s.url}/ready`)).json).toMatchObject({ status: 'ready', replica: 'joined' });
    const created = await call('POST', `${a.url}/v1/collections`, { name: 'notes', metric: 'cosine' });
    expect(created.status).toBe(201);
    expect(created.json.position).toBe(1);
    // The collection exists on the other server once it applied that position.
    await expect.poll(async () => (await call('GET', `${b.url}/v1/collections/notes`)).status, { timeout: 10_000 }).toBe(200);
    const indexed = await call('POST', `${b.url}/v1/collections/notes/documents`, {
      documents: [
        { id: 'n1', text: 'the harbour lighthouse at dawn', metadata: { tag: 'sea' } },
        { id: 'n2', text: 'a recipe for walnut bread' },
      ],
    });
    expect(indexed.status).toBe(200);
    const at = indexed.json.position as number;
    const hits = await call('POST', `${a.url}/v1/collections/notes/search`, { query: 'lighthouse', k: 1, after: at, waitMs: 10_000 });
    expect(hits.status).toBe(200);
    expect((hits.json.hits as { id: string }[])[0]!.id).toBe('n1');
    const deleted = await call('DELETE', `${a.url}/v1/collections/notes/documents`, { ids: ['n2'] });
    expect(deleted.json.deleted).toBe(1);
    const count = await call('GET', `${b.url}/v1/collections/notes/count?after=${deleted.json.position as number}`);
    expect(count.json.count).toBe(1);
    const late = await call('POST', `${b.url}/v1/collections/notes/search`, { query: 'bread', after: 10_000, waitMs: 100 });
    expect(late.status).toBe(504);
    // A re-embed migration would run on one replica's copy, outside the log: refused.
    const migrate = await call('POST', `${a.url}/v1/collections/notes/migrate`, {});
    expect(migrate.status).toBe(409);
    expect(JSON.stringify(migrate.json)).toMatch(/replicated/);

    for (const s of servers) {
      const health = await call('GET', `${s.url}/health`);
      expect(health.json.replica).toMatchObject({ log: 'http', state: 'following', applied: deleted.json.position, behind: 0 });
      const metrics = (await call('GET', `${s.url}/metrics`)).json.text as string;
      expect(metrics).toMatch(/^warmpool_replica_behind_entries 0$/m);
      expect(metrics).toMatch(/^warmpool_replica_seconds_since_heard \d/m);
    }
  });

  it('while Redis is down, writes are answered 503 and searches still 200', async () => {
    const [a] = servers as [Served];
    await redis.kill();
    const write = await call('POST', `${a.url}/v1/collections/notes/documents`, { documents: [{ id: 'n3', text: 'written while Redis is down' }] });
    expect(write.status).toBe(503);
    expect(JSON.stringify(write.json)).toContain('ERR_WARMPOOL_REPLICA_UNAVAILABLE');
    const hits = await call('POST', `${a.url}/v1/collections/notes/search`, { query: 'lighthouse', k: 1 });
    expect(hits.status).toBe(200);
    expect((hits.json.hits as { id: string }[])[0]!.id).toBe('n1');
    expect(((await call('GET', `${a.url}/health`)).json.replica as { state: string }).state).toBe('unreachable');
  });
});
