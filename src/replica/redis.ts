/**
 * The Redis side of a replicated store: its keys, its two connections and the scripts that keep
 * every change of the log atomic.
 *
 * Keys (one hash tag, so a Redis Cluster keeps them on one shard): `warmpool:{<log>}:log` the
 * stream; `:epoch` the log's epoch; `:seq` the last sequence number given; `:snapshot` the newest
 * snapshot (JSON) and `:snapn` its sequence number.
 */
import type { Redis } from 'ioredis';
import { loadIORedis } from '../queue/connection.js';

export interface LogKeys {
  log: string;
  epoch: string;
  seq: string;
  snapshot: string;
  snapn: string;
  /** Held (with an expiry) by the replica taking the periodic snapshot, so the others do not. */
  snaplock: string;
}

export function logKeys(name: string): LogKeys {
  const base = `warmpool:{${name}}`;
  return { log: `${base}:log`, epoch: `${base}:epoch`, seq: `${base}:seq`, snapshot: `${base}:snapshot`, snapn: `${base}:snapn`, snaplock: `${base}:snaplock` };
}

/**
 * Appends one entry if the log's epoch is still the writer's: the sequence number and the stream
 * entry are made together, so the log never has a gap or a number twice.
 * KEYS: epoch, seq, log. ARGV: epoch, field, value, ... Returns [stream id, n].
 */
const APPEND = `
local epoch = redis.call('GET', KEYS[1])
if epoch ~= ARGV[1] then return redis.error_reply('EPOCH the log is at epoch ' .. tostring(epoch)) end
local n = redis.call('INCR', KEYS[2])
local args = {KEYS[3], '*', 'n', tostring(n)}
for i = 2, #ARGV do args[#args + 1] = ARGV[i] end
local id = redis.call('XADD', unpack(args))
return {id, n}
`;

/**
 * Starts a new epoch when there is none (a new log, or a Redis that lost its data): the stream is
 * emptied, the sequence continues from the seeding replica's, and its snapshot (if any) becomes the
 * one new replicas start from. KEYS: epoch, seq, snapshot, snapn, log. ARGV: epoch, n, snapshot JSON
 * or ''. Returns 1 if this call seeded, 0 if an epoch was there.
 */
const SEED = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[5], KEYS[3], KEYS[4])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[3], ARGV[3])
  redis.call('SET', KEYS[4], ARGV[2])
end
return 1
`;

/**
 * Stores a snapshot if it is newer than the stored one and of the current epoch, then trims the
 * log behind it: entries before its position are gone, so a replica behind it starts from it.
 * KEYS: epoch, snapshot, snapn, log. ARGV: epoch, n, JSON, last stream id. Returns 1, 0 (an
 * as new one is there) or -1 (another epoch).
 */
const SNAPSHOT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local current = tonumber(redis.call('GET', KEYS[3]) or '-1')
if tonumber(ARGV[2]) <= current then return 0 end
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SET', KEYS[3], ARGV[2])
if ARGV[4] ~= '0-0' then redis.call('XTRIM', KEYS[4], 'MINID', ARGV[4]) end
return 1
`;

export interface LogRedis extends Redis {
  wpAppend(epochKey: string, seqKey: string, logKey: string, epoch: string, ...fields: string[]): Promise<[string, number]>;
  wpSeed(epochKey: string, seqKey: string, snapKey: string, snapnKey: string, logKey: string, epoch: string, n: string, json: string): Promise<number>;
  wpSnapshot(epochKey: string, snapKey: string, snapnKey: string, logKey: string, epoch: string, n: string, json: string, last: string): Promise<number>;
}

/**
 * A connection that retries (100 ms, 200 ms, ... up to 1 s apart) until `closed()` says stop.
 * `blocking`: for XREAD BLOCK, whose commands wait for a reconnection; otherwise commands fail at
 * once while Redis is unreachable (writes must fail fast, not wait in a queue).
 */
export function connect(url: string, blocking: boolean, closed: () => boolean): LogRedis {
  const IORedis = loadIORedis();
  const client = new IORedis(url, {
    retryStrategy: (times: number) => (closed() ? null : Math.min(100 * times, 1000)),
    enableOfflineQueue: blocking,
    maxRetriesPerRequest: blocking ? null : 0,
    lazyConnect: false,
  }) as unknown as LogRedis;
  // Failures reach the replica through its commands; without a listener ioredis prints them.
  client.on('error', () => {});
  client.defineCommand('wpAppend', { numberOfKeys: 3, lua: APPEND });
  client.defineCommand('wpSeed', { numberOfKeys: 5, lua: SEED });
  client.defineCommand('wpSnapshot', { numberOfKeys: 4, lua: SNAPSHOT });
  return client;
}

/** The stream's `max-deleted-entry-id` (entries up to it were trimmed), or '0-0' when there is no stream. */
export async function maxDeletedId(client: Redis, key: string): Promise<string> {
  let info: unknown[];
  try {
    info = (await client.xinfo('STREAM', key)) as unknown[];
  } catch (error) {
    if (/no such key/i.test((error as Error).message)) return '0-0';
    throw error;
  }
  for (let i = 0; i + 1 < info.length; i += 2) if (info[i] === 'max-deleted-entry-id') return String(info[i + 1]);
  return '0-0';
}
