import { createRequire } from 'node:module';
import type { ConnectionOptions } from 'bullmq';

type Bullmq = typeof import('bullmq');
type IORedis = typeof import('ioredis').Redis;
let bullmq: Bullmq | undefined;
let ioredis: IORedis | undefined;

const require = createRequire(import.meta.url);

/**
 * BullMQ (with ioredis) takes ~0.3 s to import: load it on the first queue client or worker, so
 * programs that only use a local pool never pay for it. It is CommonJS, so `require` keeps the
 * constructors synchronous.
 */
export function loadBullmq(): Bullmq {
  return (bullmq ??= require('bullmq') as Bullmq);
}

export function loadIORedis(): IORedis {
  if (!ioredis) {
    const mod = require('ioredis') as IORedis & { default?: IORedis };
    ioredis = mod.default ?? mod;
  }
  return ioredis;
}

type RetryStrategy = (times: number) => number | void | null;

/** The part of an ioredis `Redis` (or `Cluster`) that closing needs. */
interface Client {
  status: string;
  isCluster?: boolean;
  stream?: { destroyed: boolean; destroy(): void };
  options: { retryStrategy?: RetryStrategy };
  disconnect(reconnect?: boolean): void;
  quit(): Promise<unknown>;
  duplicate(...args: unknown[]): Client;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** An ioredis instance (what BullMQ also takes for one): it has these methods. */
const isInstance = (c: unknown): c is Client =>
  typeof c === 'object' && c !== null && ['connect', 'disconnect', 'duplicate'].every((k) => typeof (c as Record<string, unknown>)[k] === 'function');

/** Resolves `true` if `promise` settles within `ms`, else `false`; the timer never outlives it. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Ends one connection at once, whatever Redis does: no QUIT, no waiting for replies. Commands still
 * queued on it reject ("Connection is closed"), and it emits 'end', so BullMQ code awaiting either
 * moves on.
 */
function forceEnd(client: Client): void {
  client.disconnect();
  // disconnect() half-closes the socket and destroys it only after `disconnectTimeout` (2 s) if
  // Redis does not answer (a paused server never does): destroy it now.
  if (client.stream && !client.stream.destroyed) client.stream.destroy();
}

/**
 * Makes `disconnect()` of an ioredis `Redis` end it in every state. Between two connection attempts
 * (the socket already gone), ioredis 6's disconnect() only clears the retry timer: the client stays
 * 'reconnecting' for ever, its queued commands never settle and it never emits 'end' (BullMQ notes
 * this as #4585), so a BullMQ close that awaits either hangs. In 'wait', disconnect() runs ioredis'
 * own close path at once instead: status 'end', queued commands rejected, 'end' emitted. And on a
 * client already ended, disconnect() would only arm a 2 s timer to destroy a socket that is gone.
 */
function endableDisconnect(client: Client): void {
  if (client.isCluster) return;
  const disconnect = client.disconnect.bind(client);
  client.disconnect = (reconnect = false) => {
    if (!reconnect) {
      if (client.status === 'end') return;
      if (client.status === 'reconnecting' || client.status === 'close') client.status = 'wait';
    }
    disconnect(reconnect);
  };
}

/** How long close() lets BullMQ unwind (clear its timers) once every connection was ended by force. */
const UNWIND_MS = 250;

/**
 * Every Redis connection of one queue client or worker, opened and owned here so that closing can
 * end each of them whatever Redis does (up, down, paused, restarted).
 *
 * {@link RedisConnections.connection} is what BullMQ gets: it uses that instance as it is where it
 * needs a plain connection (a Queue's, a Worker's main one) and duplicates it for each blocking one
 * (a Worker's, a QueueEvents'); the copies are owned here too. Each connection retries (1 s, 2 s, ...
 * up to 5 s apart, or the caller's own `retryStrategy`) until closing starts, then gives up, so no
 * reconnect timer outlives close().
 */
export class RedisConnections {
  /** An ioredis instance to give BullMQ as `connection`. */
  readonly connection: ConnectionOptions;
  readonly #clients = new Set<Client>();
  #closed = false;

  /**
   * @param options BullMQ connection options (`url` or host/port and ioredis options), or an ioredis
   * instance, which is only a template: its options are copied, and it is neither used nor closed.
   */
  constructor(options: ConnectionOptions) {
    const stoppable = (inner: RetryStrategy | undefined): RetryStrategy => (times) =>
      this.#closed ? null : inner ? inner(times) : Math.min(1000 * times, 5000);
    let base: Client;
    if (isInstance(options)) {
      base = options.isCluster ? options.duplicate() : options.duplicate({ retryStrategy: stoppable(options.options.retryStrategy) });
    } else {
      // As BullMQ builds a connection from options: its host and port defaults, then `url` if any.
      const { url, ...rest } = options as Record<string, unknown> & { url?: string; retryStrategy?: RetryStrategy };
      const o = { port: 6379, host: '127.0.0.1', ...rest, retryStrategy: stoppable(rest.retryStrategy) };
      const Redis = loadIORedis();
      base = (url !== undefined ? new Redis(url, o) : new Redis(o)) as unknown as Client;
    }
    const duplicate = base.duplicate.bind(base);
    // BullMQ's blocking connections are copies of this one; they must not limit retries per command.
    base.duplicate = (...args: unknown[]) =>
      this.#own(duplicate(...(base.isCluster ? args : [{ ...(args[0] as object | undefined), maxRetriesPerRequest: null }])));
    this.connection = this.#own(base) as unknown as ConnectionOptions;
  }

  #own(client: Client): Client {
    // Errors reach the caller through BullMQ's 'error' events; without a listener of its own, a
    // connection that BullMQ stopped listening to (closing) would print them to stderr.
    client.on('error', () => {});
    endableDisconnect(client);
    this.#clients.add(client);
    return client;
  }

  /**
   * Closes every connection within `timeout` ms whatever Redis does. `graceful` is the BullMQ
   * objects' own close (`reachable` false: Redis was unreachable when closing started, so it should
   * not wait for anything); after it, each connection still open sends QUIT. If Redis is
   * unreachable, or all that has not finished after `timeout` ms, every connection is ended by force
   * (ioredis `disconnect()`, socket destroyed), which makes whatever BullMQ still awaits fail, and
   * close returns at most {@link UNWIND_MS} ms later. Resolves to how it ended: `'quit'`
   * (gracefully), `'timeout'` (forced after `timeout`) or `'unreachable'` (forced at once).
   */
  async close(graceful: (reachable: boolean) => Promise<unknown>, timeout: number): Promise<'quit' | 'timeout' | 'unreachable'> {
    this.#closed = true;
    const reachable = [...this.#clients].some((c) => c.status === 'ready');
    const done = (async () => {
      await graceful(reachable).catch(() => {});
      await Promise.allSettled(
        [...this.#clients].filter((c) => c.status !== 'end').map((c) => (c.status === 'wait' ? forceEnd(c) : c.quit())),
      );
    })();
    if (reachable && (await settlesWithin(done, timeout))) return 'quit';
    for (const c of this.#clients) forceEnd(c);
    await settlesWithin(done, UNWIND_MS);
    return reachable ? 'timeout' : 'unreachable';
  }
}
