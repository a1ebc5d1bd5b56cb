/**
 * Error bodies tell the client what failed (a stable code and a message) without the server's
 * file-system paths or process ids; the full message goes to the server's log, on stderr, only
 * when a log level is set. Real stores: a collection whose write-ahead log is damaged on disk,
 * and a store whose lock another process holds.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChild, tempStore } from './collections-helpers.js';
import { ROOT, createPool, type WarmPool } from './helpers.js';
import { getJson, postJson, resolveServerOptions, slowClient, startServer, type RunningServer } from './server-helpers.js';

const damaged = tempStore(); // 'notes' has a damaged write-ahead log
const damagedCopy = tempStore(); // the same files, for the CLI server (a store has one owner)
const locked = tempStore(); // held by another process
let pool: WarmPool | undefined;
let lockedPool: WarmPool | undefined;
let server: RunningServer | undefined;
let lockedServer: RunningServer | undefined;
let holder: ReturnType<typeof runChild> | undefined;

/**
 * Flips 8 bytes in the middle of the records of each non-empty write-ahead log segment of `dir`,
 * and of its snapshot, so that opening it must read the damaged log (a log a good snapshot covers
 * is not read); returns the damaged segments' paths.
 */
function damageWal(dir: string): string[] {
  const flip = (file: string): boolean => {
    const bytes = readFileSync(file);
    // The middle of its records (a segment is allocated ahead: zeros follow the records).
    let end = bytes.length;
    while (end > 0 && bytes[end - 1] === 0) end--;
    if (end < 64) return false;
    const middle = end >> 1;
    for (let i = middle; i < middle + 8; i++) bytes[i] = bytes[i]! ^ 0xff;
    writeFileSync(file, bytes);
    return true;
  };
  const files = readdirSync(dir).map((f) => join(dir, f));
  for (const snapshot of files.filter((f) => /snapshot-.*\.bin$/.test(f))) flip(snapshot);
  return files.filter((f) => /wal-.*\.log$/.test(f) && flip(f));
}

/**
 * Nothing in the body `text` that describes the server: not the store's path, nor any segment of
 * it (the temp folder's name, `tmp`), nor a file name of the store (`LOCK`, `wal-...log`), nor the
 * given pids. The error code itself (`ERR_WARMPOOL_COLLECTION_LOCKED` holds "LOCK") is left out.
 */
function expectNoServerDetails(body: string, store: string, pids: number[], what: string): void {
  const text = body.replace(/"?ERR_WARMPOOL_[A-Z_]+"?/g, '');
  expect(text, what).not.toContain(store);
  for (const segment of store.split(sep).filter(Boolean)) expect(text, `${what}: segment ${segment}`).not.toContain(segment);
  for (const word of ['LOCK', 'wal-', '.log', 'snapshot', 'meta.json', 'process ', 'pid']) expect(text, `${what}: ${word}`).not.toContain(word);
  for (const pid of pids) expect(text, `${what}: pid ${pid}`).not.toMatch(new RegExp(`\\b${pid}\\b`));
}

async function send(method: string, url: string, body?: unknown) {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) as any };
}

let walFiles: string[] = [];

beforeAll(async () => {
  // A collection written and closed cleanly, then damaged on disk.
  const writer = createPool({ threads: 1, storePath: damaged.dir, env: false });
  await writer.index(
    ['a guitar on stage', 'the river flooded the valley', 'investors sold shares', 'a cat on the mat'].map((text, i) => ({ id: `d${i}`, text })),
    { collection: 'notes' },
  );
  await writer.close();
  walFiles = damageWal(join(damaged.dir, 'notes'));
  expect(walFiles.length).toBeGreaterThan(0);
  cpSync(damaged.dir, damagedCopy.dir, { recursive: true });

  pool = createPool({ threads: 1, storePath: damaged.dir, env: false });
  await pool.ready();
  server = await startServer(pool, { port: 0, env: false });

  // Another process holds the second store's lock.
  holder = runChild([locked.dir, 'hold']);
  await holder.until((line) => line === 'holding');
  lockedPool = createPool({ threads: 1, storePath: locked.dir, env: false });
  await lockedPool.ready();
  lockedServer = await startServer(lockedPool, { port: 0, env: false });
});

afterAll(async () => {
  await lockedServer?.close();
  await server?.close();
  await lockedPool?.close();
  await pool?.close();
  holder?.child.kill('SIGKILL');
  if (holder) await holder.exited;
  for (const store of [damaged, damagedCopy, locked]) store.cleanup();
});

describe('error bodies carry a code and a message, not the server’s paths or pids', () => {
  it('a damaged collection: 500 with ERR_WARMPOOL_COLLECTION_CORRUPT and no file name', async () => {
    // The library's own error names the damaged file: that is what the body must not show.
    const direct = await pool!.count({ collection: 'notes' }).catch((e: Error) => e);
    expect(direct).toMatchObject({ code: 'ERR_WARMPOOL_COLLECTION_CORRUPT' });
    expect((direct as Error).message).toContain(damaged.dir);

    const url = `${server!.url}/v1/collections`;
    const answers = [
      await send('GET', `${url}/notes`),
      await send('GET', `${url}/notes/count`),
      await send('POST', `${url}/notes/search`, { query: 'a guitar' }),
      await send('POST', `${url}/notes/documents`, { documents: [{ id: 'x', text: 'more' }] }),
      await send('POST', `${url}/notes/documents/get`, { ids: ['d0'] }),
      await send('GET', url),
    ];
    for (const [i, r] of answers.entries()) {
      expect(r.status, `case ${i}: ${r.text}`).toBe(500);
      expect(r.json.error, `case ${i}`).toMatchObject({ code: 'ERR_WARMPOOL_COLLECTION_CORRUPT', type: 'server_error' });
      expectNoServerDetails(r.text, damaged.dir, [process.pid], `case ${i}`);
      expect(r.json.error.message, `case ${i}`).toMatch(/damaged/);
    }
  });

  it('a store locked by another process: 423 with ERR_WARMPOOL_COLLECTION_LOCKED, no path, no pid, no lock file', async () => {
    const direct = await lockedPool!.count({ collection: 'docs' }).catch((e: Error) => e);
    expect(direct).toMatchObject({ code: 'ERR_WARMPOOL_COLLECTION_LOCKED' });
    expect((direct as Error).message).toContain(locked.dir);

    const url = `${lockedServer!.url}/v1/collections`;
    const answers = [
      await send('GET', `${url}/docs/count`),
      await send('POST', url, { name: 'fresh' }),
      await send('GET', url),
      await send('POST', `${url}/docs/search`, { query: 'a guitar' }),
      await send('DELETE', `${url}/docs/documents`, { ids: ['a'] }),
    ];
    for (const [i, r] of answers.entries()) {
      expect(r.status, `case ${i}: ${r.text}`).toBe(423);
      expect(r.json.error, `case ${i}`).toMatchObject({ code: 'ERR_WARMPOOL_COLLECTION_LOCKED' });
      expectNoServerDetails(r.text, locked.dir, [holder!.child.pid!, process.pid], `case ${i}`);
      expect(r.json.error.message, `case ${i}`).toMatch(/in use by another process/);
    }
    // The embedding routes do not need the store.
    expect((await postJson(`${lockedServer!.url}/embed`, { inputs: 'still serving' })).status).toBe(200);
  });

  it('a model that fails to load: 503 with ERR_WARMPOOL_MODEL_LOAD and no model path, in both error shapes', async () => {
    const missing = join(damaged.dir, 'no-such-model');
    const broken = createPool({ threads: 1, model: missing, env: false });
    const s = await startServer(broken, { port: 0, env: false });
    try {
      const openai = await postJson(`${s.url}/v1/embeddings`, { input: 'hello' });
      expect(openai.status, openai.text).toBe(503);
      expect(openai.json.error.code).toBe('ERR_WARMPOOL_MODEL_LOAD');
      expectNoServerDetails(openai.text, missing, [process.pid], 'openai');
      const tei = await postJson(`${s.url}/embed`, { inputs: 'hello' });
      expect(tei.status, tei.text).toBe(503);
      expect(tei.json).toMatchObject({ error_type: 'Unhealthy', code: 'ERR_WARMPOOL_MODEL_LOAD' });
      expectNoServerDetails(tei.text, missing, [process.pid], 'tei');
    } finally {
      await s.close();
      await broken.close().catch(() => {});
    }
  });

  it('still answers a missing collection with its name, and bad input with the reason', async () => {
    const ghost = await getJson(`${server!.url}/v1/collections/ghost/count`);
    expect([ghost.status, ghost.json.error.code, ghost.json.error.message]).toEqual([404, 'ERR_WARMPOOL_COLLECTION_NOT_FOUND', 'no collection named "ghost"']);
    expectNoServerDetails(ghost.text, damaged.dir, [], 'ghost');
    const bad = await postJson(`${server!.url}/v1/embeddings`, { input: ['ok', ''] });
    expect(bad.json.error).toMatchObject({ code: 'ERR_WARMPOOL_INVALID_INPUT', message: expect.stringContaining('input[1] is empty') });
  });
});

/** `warmpool serve` on `store`; resolves once it is ready, with its URL and what it wrote. */
function serve(store: string, args: string[], env: Record<string, string> = {}) {
  const child: ChildProcess = spawn(process.execPath, ['dist/src/cli.js', 'serve', '--port', '0', '--threads', '1', '--store', store, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = new Promise<string>((resolve, reject) => {
    let found = '';
    createInterface({ input: child.stdout! }).on('line', (line) => {
      stdout += `${line}\n`;
      const m = /^listening on (\S+)/.exec(line);
      if (m) found = m[1]!;
      if (line.startsWith('ready')) resolve(found);
    });
    void exited.then((code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  url.catch(() => {});
  return { child, url, exited, stdout: () => stdout, stderr: () => stderr };
}

describe('warmpool serve: the details go to the log, on stderr, only when asked', () => {
  it('logLevel: silent by default, from WARMPOOL_LOG_LEVEL or the option, one of the pino levels', () => {
    expect(resolveServerOptions({ env: false }).logLevel).toBe('silent');
    expect(resolveServerOptions({ env: { WARMPOOL_LOG_LEVEL: 'warn' } }).logLevel).toBe('warn');
    expect(resolveServerOptions({ env: { WARMPOOL_LOG_LEVEL: 'warn' }, logLevel: 'error' }).logLevel).toBe('error');
    expect(() => resolveServerOptions({ env: { WARMPOOL_LOG_LEVEL: 'loud' } })).toThrow(
      /WARMPOOL_LOG_LEVEL must be one of 'silent', 'fatal', 'error', 'warn', 'info', 'debug', 'trace', received "loud"/,
    );
    // A string that is not a level is out of range, as every option's is; anything else is the wrong type.
    expect(() => resolveServerOptions({ env: false, logLevel: 'loud' as never })).toThrow(RangeError);
    expect(() => resolveServerOptions({ env: false, logLevel: 5 as never })).toThrow(TypeError);
  });

  it('with --log-level warn, logs the full message to stderr and answers without it; timeouts from flags and env', async () => {
    const s = serve(damagedCopy.dir, ['--log-level', 'warn', '--headers-timeout', '500', '--keep-alive-timeout', '500'], { WARMPOOL_REQUEST_TIMEOUT: '1000' });
    try {
      const url = await s.url;
      const r = await send('GET', `${url}/v1/collections/notes/count`);
      expect(r.status, r.text).toBe(500);
      expect(r.json.error.code).toBe('ERR_WARMPOOL_COLLECTION_CORRUPT');
      expectNoServerDetails(r.text, damagedCopy.dir, [s.child.pid!], 'cli');

      // The log line: JSON, level 50 (error), with the damaged file's full path and the code.
      await expect.poll(() => s.stderr(), { timeout: 5000 }).toContain('"level":50');
      const line = s.stderr().split('\n').find((l) => l.includes('"level":50'))!;
      const entry = JSON.parse(line) as { msg: string; code: string; status: number };
      expect(entry).toMatchObject({ code: 'ERR_WARMPOOL_COLLECTION_CORRUPT', status: 500 });
      expect(entry.msg).toContain(join(damagedCopy.dir, 'notes'));
      // Nothing but the CLI's own two lines on stdout.
      expect(s.stdout().trim().split('\n').map((l) => l.split(' ')[0])).toEqual(['listening', 'ready:']);

      // The timeouts came through: a body that never comes is cut at about 1 s (env), an idle
      // keep-alive connection at about 0.5 s (+1 s that Node adds) after its answer.
      const port = Number(new URL(url).port);
      const noBody = slowClient(port, { head: 'POST /embed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n', deadlineMs: 5000 });
      const idle = slowClient(port, { head: 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', deadlineMs: 5000 });
      const noBodyMs = await noBody.closed;
      expect(noBodyMs).toBeGreaterThanOrEqual(900);
      expect(noBodyMs).toBeLessThanOrEqual(1000 + 250 + 1500);
      expect(noBody.received()).toMatch(/^HTTP\/1\.1 408 /);
      const idleMs = (await idle.closed) - idle.firstAnswerAt()!;
      expect(idleMs).toBeGreaterThanOrEqual(400);
      expect(idleMs).toBeLessThanOrEqual(500 + 1000 + 1500);
    } finally {
      s.child.kill('SIGTERM');
      expect(await s.exited).toBe(0);
    }
  });

  it('without a log level, writes nothing about the error anywhere', async () => {
    const s = serve(damagedCopy.dir, [], { WARMPOOL_LOG_LEVEL: '' });
    try {
      const url = await s.url;
      const r = await send('GET', `${url}/v1/collections/notes/count`);
      expect(r.status).toBe(500);
      expectNoServerDetails(r.text, damagedCopy.dir, [s.child.pid!], 'cli');
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(s.stderr()).toBe('');
      expect(s.stdout().trim().split('\n')).toHaveLength(2);
    } finally {
      s.child.kill('SIGTERM');
      expect(await s.exited).toBe(0);
    }
  });
});
