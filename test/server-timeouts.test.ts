/**
 * Slow clients must not hold the server's connections: headers sent slowly, headers and then no
 * body, a body trickled byte by byte and an idle keep-alive connection are each closed by the
 * server within its timeout plus a margin, while normal requests keep being answered. Raw
 * sockets on 127.0.0.1, short configured timeouts, bounded loops.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type WarmPool } from './helpers.js';
import { createServer, postJson, resolveServerOptions, SERVER_DEFAULTS, slowClient, startServer, type RunningServer, type SlowClient } from './server-helpers.js';

const HEADERS_MS = 1000;
const REQUEST_MS = 2000;
const IDLE_MS = 1000;
/** Node checks for expired requests on a timer; the server sets it to a quarter of the shorter timeout. */
const CHECK_MS = 250;
/** Node keeps an idle keep-alive socket one second longer than it advertises (`Keep-Alive: timeout=`). */
const NODE_KEEP_ALIVE_BUFFER_MS = 1000;
/** Slack for a loaded machine. */
const MARGIN_MS = 1500;
/** A client still connected this long after its timeout is a failure (and is destroyed). */
const DEADLINE_MS = REQUEST_MS + CHECK_MS + MARGIN_MS + 2000;
/** Connections per kind of slow client. */
const PER_KIND = 3;

let pool: WarmPool;
let server: RunningServer;
let port: number;

beforeAll(async () => {
  pool = createPool({ threads: 1, env: false });
  await pool.ready();
  server = await startServer(pool, { port: 0, env: false, headersTimeout: HEADERS_MS, requestTimeout: REQUEST_MS, keepAliveTimeout: IDLE_MS });
  port = Number(new URL(server.url).port);
});

afterAll(async () => {
  await server?.close();
  await pool?.close();
});

const BODY = JSON.stringify({ inputs: 'a body that arrives too slowly' });
const head = (contentLength: number) => `POST /embed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${contentLength}\r\n\r\n`;

/** The server's 408 for a request it gave up on, in the OpenAI error shape. */
function expect408(client: SlowClient, what: string): void {
  const text = client.received();
  expect(text, what).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
  expect(text, what).toMatch(/\r\nconnection: close\r\n/i);
  const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { error: { code: string; type: string } };
  expect(body.error, what).toMatchObject({ code: 'request_timeout', type: 'invalid_request_error' });
}

describe('slow clients are disconnected', () => {
  it('closes slow headers, a missing body, a trickled body, an idle keep-alive and a silent connection in time, and keeps serving', async () => {
    const clients = {
      // (a) the request line, then the headers one byte every 100 ms: 8 s of headers at this pace.
      slowHeaders: Array.from({ length: PER_KIND }, () =>
        slowClient(port, { head: 'POST /embed HTTP/1.1\r\n', trickle: `Host: 127.0.0.1\r\nX-Padding: ${'p'.repeat(60)}\r\n\r\n`, everyMs: 100, deadlineMs: DEADLINE_MS }),
      ),
      // (b) complete headers announcing a body that never comes.
      noBody: Array.from({ length: PER_KIND }, () => slowClient(port, { head: head(BODY.length), deadlineMs: DEADLINE_MS })),
      // (c) complete headers, then the body one byte every 100 ms: 6 s of body at this pace.
      slowBody: Array.from({ length: PER_KIND }, () =>
        slowClient(port, { head: head(BODY.length + 20), trickle: BODY + ' '.repeat(20), everyMs: 100, deadlineMs: DEADLINE_MS }),
      ),
      // (d) one whole request, answered, then nothing: an idle keep-alive connection.
      idleKeepAlive: Array.from({ length: PER_KIND }, () =>
        slowClient(port, { head: 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', deadlineMs: DEADLINE_MS }),
      ),
      // (e) connects and never sends a byte.
      silent: Array.from({ length: PER_KIND }, () => slowClient(port, { deadlineMs: DEADLINE_MS })),
    };
    const all = Object.values(clients).flat();
    let settled = false;
    const allClosed = Promise.allSettled(all.map((c) => c.closed)).finally(() => (settled = true));

    // Normal requests meanwhile, on connections of their own: at most 40, one every 100 ms.
    const statuses: number[] = [];
    for (let i = 0; i < 40 && !settled; i++) {
      statuses.push((await postJson(`${server.url}/embed`, { inputs: `a normal request ${i}` })).status);
      await new Promise((r) => setTimeout(r, 100));
    }
    const outcomes = await allClosed;
    const failures = outcomes.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason));
    expect(failures).toEqual([]);
    expect(statuses.length).toBeGreaterThanOrEqual(5);
    expect(statuses.every((s) => s === 200), `statuses ${statuses.join(',')}`).toBe(true);

    const closedAt = async (list: SlowClient[]) => Promise.all(list.map((c) => c.closed));
    for (const [i, ms] of (await closedAt(clients.slowHeaders)).entries()) {
      expect(ms, `slow headers ${i}`).toBeGreaterThanOrEqual(HEADERS_MS - 100);
      expect(ms, `slow headers ${i}`).toBeLessThanOrEqual(HEADERS_MS + CHECK_MS + MARGIN_MS);
      expect408(clients.slowHeaders[i]!, `slow headers ${i}`);
    }
    for (const kind of ['noBody', 'slowBody'] as const) {
      for (const [i, ms] of (await closedAt(clients[kind])).entries()) {
        expect(ms, `${kind} ${i}`).toBeGreaterThanOrEqual(REQUEST_MS - 100);
        expect(ms, `${kind} ${i}`).toBeLessThanOrEqual(REQUEST_MS + CHECK_MS + MARGIN_MS);
        expect408(clients[kind][i]!, `${kind} ${i}`);
      }
    }
    for (const [i, ms] of (await closedAt(clients.silent)).entries()) {
      expect(ms, `silent ${i}`).toBeGreaterThanOrEqual(HEADERS_MS - 100);
      expect(ms, `silent ${i}`).toBeLessThanOrEqual(HEADERS_MS + CHECK_MS + MARGIN_MS);
      expect408(clients.silent[i]!, `silent ${i}`);
    }
    for (const [i, ms] of (await closedAt(clients.idleKeepAlive)).entries()) {
      const c = clients.idleKeepAlive[i]!;
      // Answered once, 200, and told how long the connection is kept; then closed without a word.
      expect(c.received(), `idle ${i}`).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(c.received(), `idle ${i}`).toMatch(/\r\nkeep-alive: timeout=1\r\n/i);
      expect(c.received().match(/HTTP\/1\.1/g), `idle ${i}`).toHaveLength(1);
      const idleFor = ms - c.firstAnswerAt()!;
      expect(idleFor, `idle ${i}`).toBeGreaterThanOrEqual(IDLE_MS - 100);
      expect(idleFor, `idle ${i}`).toBeLessThanOrEqual(IDLE_MS + NODE_KEEP_ALIVE_BUFFER_MS + MARGIN_MS);
    }
    // And the server still answers afterwards.
    expect((await postJson(`${server.url}/embed`, { inputs: 'after the slow clients' })).status).toBe(200);
  });

  it('lets a client that sends its request promptly through, body and all', async () => {
    const c = slowClient(port, { head: head(BODY.length) + BODY, deadlineMs: DEADLINE_MS });
    await expect.poll(() => c.received(), { timeout: 5000 }).toMatch(/\r\n\r\n\[\[/);
    expect(c.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    await c.closed; // then the idle keep-alive timeout closes it
  });
});

describe('timeout options', () => {
  it('defaults to 10 s for headers, 60 s for the whole request and 5 s of keep-alive idle, checked every second', async () => {
    expect(SERVER_DEFAULTS).toMatchObject({ headersTimeout: 10_000, requestTimeout: 60_000, keepAliveTimeout: 5_000 });
    const app = createServer(pool, { env: false });
    try {
      await app.ready();
      const raw = app.server as typeof app.server & { connectionsCheckingInterval: number };
      expect([raw.headersTimeout, raw.requestTimeout, raw.keepAliveTimeout, raw.connectionsCheckingInterval]).toEqual([10_000, 60_000, 5_000, 1000]);
    } finally {
      await app.close();
    }
  });

  it('reads WARMPOOL_HEADERS_TIMEOUT, WARMPOOL_REQUEST_TIMEOUT and WARMPOOL_KEEP_ALIVE_TIMEOUT; explicit options win', async () => {
    const env = { WARMPOOL_HEADERS_TIMEOUT: '3000', WARMPOOL_REQUEST_TIMEOUT: '7000', WARMPOOL_KEEP_ALIVE_TIMEOUT: '4000' };
    expect(resolveServerOptions({ env })).toMatchObject({ headersTimeout: 3000, requestTimeout: 7000, keepAliveTimeout: 4000 });
    expect(resolveServerOptions({ env, keepAliveTimeout: 9000 }).keepAliveTimeout).toBe(9000);
    const app = createServer(pool, { env });
    try {
      await app.ready();
      expect([app.server.headersTimeout, app.server.requestTimeout, app.server.keepAliveTimeout]).toEqual([3000, 7000, 4000]);
    } finally {
      await app.close();
    }
  });

  it('checks the values: integers in range, headers within the request, 0 turning the request limit off', () => {
    // A lower request timeout pulls the default headers timeout down with it.
    expect(resolveServerOptions({ env: false, requestTimeout: 4000 })).toMatchObject({ headersTimeout: 4000, requestTimeout: 4000 });
    expect(resolveServerOptions({ env: false, requestTimeout: 0 })).toMatchObject({ headersTimeout: 10_000, requestTimeout: 0 });
    expect(() => resolveServerOptions({ env: false, headersTimeout: 5000, requestTimeout: 4000 })).toThrow(RangeError);
    expect(() => resolveServerOptions({ env: false, keepAliveTimeout: 0 })).toThrow(/keepAliveTimeout must be an integer from 1/);
    expect(() => resolveServerOptions({ env: false, headersTimeout: 1.5 })).toThrow(RangeError);
    expect(() => resolveServerOptions({ env: { WARMPOOL_REQUEST_TIMEOUT: 'soon' } })).toThrow(/WARMPOOL_REQUEST_TIMEOUT must be a number/);
  });
});
