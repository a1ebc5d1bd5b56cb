import { createRequire } from 'node:module';
import type { ConnectionOptions } from 'bullmq';

type Bullmq = typeof import('bullmq');
let bullmq: Bullmq | undefined;

/**
 * BullMQ (with ioredis) takes ~0.3 s to import: load it on the first queue client or worker, so
 * programs that only use a local pool never pay for it. It is CommonJS, so `require` keeps the
 * constructors synchronous.
 */
export function loadBullmq(): Bullmq {
  return (bullmq ??= createRequire(import.meta.url)('bullmq') as Bullmq);
}

/**
 * Reconnects (1 s, 2 s, ... up to 5 s apart) until closed, then gives up, so that close() returns
 * and no reconnect timer keeps the process alive even while Redis is unreachable.
 */
export function stoppable(connection: ConnectionOptions, closed: () => boolean): ConnectionOptions {
  const c = connection as Record<string, unknown>;
  // A client instance (it has methods) or options with their own strategy stay as given.
  if (typeof c.duplicate === 'function' || typeof c.connect === 'function' || c.retryStrategy !== undefined) return connection;
  return { ...c, retryStrategy: (times: number) => (closed() ? null : Math.min(1000 * times, 5000)) } as ConnectionOptions;
}
