import { describe, expect, it } from 'vitest';
import { compareIds, decodeEntry, encodeEntry, type EntryBody } from '../../dist/src/replica/entry.js';
import { createReplica } from '../../dist/src/replica/index.js';

const upsert: EntryBody = {
  op: 'upsert',
  collection: 'docs',
  create: { dims: 2, metric: 'cosine', index: 'auto', autoThreshold: 20000, hnsw: { connectivity: 32, expansionAdd: 128, expansionSearch: 128 } },
  dims: 2,
  docs: [{ id: 'a', text: 'first', metadata: { k: [1, 'x'] } }, { id: 'b', text: '' }],
  vectors: new Float32Array([0.5, -1, 3.25, 0]),
};

/** The stream fields of `body` as Redis gives them back, with the sequence number, and `change` applied. */
function fields(body: EntryBody, change: Record<string, string | undefined> = {}): string[] {
  const map = new Map<string, string>([['n', '7']]);
  const flat = encodeEntry(body);
  for (let i = 0; i < flat.length; i += 2) map.set(flat[i]!, flat[i + 1]!);
  for (const [k, v] of Object.entries(change)) if (v === undefined) map.delete(k); else map.set(k, v);
  return [...map].flat();
}

describe('log entries', () => {
  it('round-trip: ids, texts, metadata and the exact vector bits', () => {
    const e = decodeEntry('5-1', fields(upsert));
    expect(e).toMatchObject({ id: '5-1', n: 7, op: 'upsert', collection: 'docs', dims: 2, docs: upsert.docs });
    expect(e.op === 'upsert' && [...e.vectors]).toEqual([0.5, -1, 3.25, 0]);
    expect(decodeEntry('5-2', fields({ op: 'delete', collection: 'docs', ids: ['a'] }))).toMatchObject({ op: 'delete', ids: ['a'] });
    expect(decodeEntry('5-3', fields({ op: 'drop', collection: 'docs' }))).toMatchObject({ op: 'drop', collection: 'docs' });
    expect(decodeEntry('5-4', fields({ op: 'create', collection: 'c2', create: { dims: 3 } }))).toMatchObject({ op: 'create', create: { dims: 3 } });
  });

  it.each([
    ['no sequence number', { n: undefined }, /sequence number/],
    ['an unknown format', { v: '9' }, /format "9"/],
    ['an unknown op', { op: 'merge' }, /op "merge"/],
    ['a bad collection name', { c: '../etc' }, /collection must be/],
    ['docs that are not JSON', { docs: '[[' }, /'docs' is not JSON/],
    ['a doc without text', { docs: '[["a"],["b","x"]]' }, /docs\[0\] is not \[id, text, metadata\?\]/],
    ['too few vector bytes', { vec: 'AAAA' }, /vectors hold 3 bytes, expected 16/],
    ['a vector that is not finite', { vec: Buffer.from(new Float32Array([1, NaN, 0, 0]).buffer).toString('base64') }, /not finite/],
    ['dims out of range', { dims: '0' }, /dims "0"/],
    ['bad settings', { create: '{"metric":"manhattan"}' }, /not valid collection settings: metric must be one of/],
    ['a ttl', { create: '{"ttl":5}' }, /no ttl/],
  ])('refuses an entry with %s, naming the entry', (_what, change, message) => {
    let error: unknown;
    try {
      decodeEntry('9-0', fields(upsert, change));
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ name: 'ReplicaLogError', code: 'ERR_WARMPOOL_REPLICA_LOG' });
    expect((error as Error).message).toMatch(/^log entry 9-0: /);
    expect((error as Error).message).toMatch(message);
  });

  it('orders stream ids numerically', () => {
    expect(compareIds('10-0', '9-5')).toBe(1);
    expect(compareIds('9-10', '9-9')).toBe(1);
    expect(compareIds('0-0', '0-0')).toBe(0);
    expect(compareIds('1700000000000-3', '1700000000001-0')).toBe(-1);
  });
});

describe('createReplica options', () => {
  const pool = { options: { storePath: '/nonexistent' } } as never;
  it('take a redis URL, a log name and non-negative integers, each checked at once', () => {
    expect(() => createReplica(pool, { redis: 'http://localhost' })).toThrow(/redis must be a redis:\/\/ or rediss:\/\/ URL, received "http:\/\/localhost"/);
    expect(() => createReplica(pool, { redis: 'redis://x', log: 'a b' })).toThrow(TypeError);
    expect(() => createReplica(pool, { redis: 'redis://x', waitMs: -1 })).toThrow(RangeError);
    expect(() => createReplica(pool, { redis: 'redis://x', snapshotEvery: 1.5 })).toThrow(/snapshotEvery must be a non-negative integer/);
  });
});
