// Unit tests of pure pieces, with no worker threads and no model: the admission queue, the restart
// backoff, the store lock in one process, the log's record format, and recovery reports.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BATCH, CallQueue, INTERACTIVE } from '../../dist/src/call-queue.js';
import { decodeRecords, encodeDelete, encodeUpsert, Op } from '../../dist/src/collections/records.js';
import { RecoveryReport } from '../../dist/src/collections/recovery.js';
import { StoreLock } from '../../dist/src/collections/lock.js';
import { AbortError, CollectionLockedError, QueueFullError, QueueTimeoutError } from '../../dist/src/errors.js';
import { restartBackoff } from '../../dist/src/supervisor.js';

class Item {
  error: Error | undefined;
  constructor(readonly name: string) {}
  fail(error: Error): void {
    this.error = error;
  }
}

describe('CallQueue', () => {
  it('keeps FIFO order, refuses beyond maxQueue at once, and counts waiting calls and texts', () => {
    const deltas: number[] = [];
    const q = new CallQueue<Item>(2, (d) => deltas.push(d));
    q.push(new Item('a'), 3, undefined, Infinity);
    q.push(new Item('b'), 1, undefined, Infinity);
    expect(() => q.push(new Item('c'), 1, undefined, Infinity)).toThrow(QueueFullError);
    // Places that free workers take at the next dispatch do not count against maxQueue.
    q.push(new Item('c'), 1, undefined, Infinity, 1);
    expect([q.waiting, q.texts]).toEqual([3, 5]);
    expect(q.peek()!.name).toBe('a');
    // The first call is always taken, however large; then calls while they fit.
    expect(q.take(2, Infinity).map((i) => i.name)).toEqual(['a']);
    expect(q.take(10, 1).map((i) => i.name)).toEqual(['b']);
    expect(q.take(10, 10).map((i) => i.name)).toEqual(['c']);
    expect(q.take(10, 10)).toEqual([]);
    expect(deltas.reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('takes every waiting interactive call before any batch call, one lane per take, each lane bounded by maxQueue', () => {
    const lanes: [number, number][] = [];
    const q = new CallQueue<Item>(2, (d, lane) => lanes.push([d, lane]));
    q.push(new Item('b1'), 5, undefined, Infinity, 0, BATCH);
    q.push(new Item('b2'), 5, undefined, Infinity, 0, BATCH);
    expect(() => q.push(new Item('b3'), 1, undefined, Infinity, 0, BATCH)).toThrow(/batch lane/);
    // The batch lane being full does not refuse an interactive call.
    q.push(new Item('i1'), 1, undefined, Infinity, 0, INTERACTIVE);
    q.push(new Item('i2'), 1, undefined, Infinity);
    expect([q.waiting, q.waitingIn(BATCH), q.waitingIn(INTERACTIVE), q.next, q.texts]).toEqual([4, 2, 2, INTERACTIVE, 2]);
    expect(q.peek()!.name).toBe('i1');
    // One take never mixes lanes, however much room it has.
    expect(q.take(100, 100).map((i) => i.name)).toEqual(['i1', 'i2']);
    expect(q.next).toBe(BATCH);
    q.push(new Item('i3'), 1, undefined, Infinity);
    expect(q.take(100, 100).map((i) => i.name)).toEqual(['i3']);
    expect(q.take(100, 100).map((i) => i.name)).toEqual(['b1', 'b2']);
    expect(lanes.filter(([, lane]) => lane === BATCH).reduce((s, [d]) => s + d, 0)).toBe(0);
    expect(lanes.filter(([, lane]) => lane === BATCH).length).toBe(4);
  });

  it('fails a waiting call at its timeout or its abort, and never hands it out after', async () => {
    const q = new CallQueue<Item>(10, () => {});
    const late = new Item('late');
    const aborted = new Item('aborted');
    const controller = new AbortController();
    q.push(late, 1, undefined, 5);
    q.push(aborted, 1, controller.signal, Infinity);
    q.push(new Item('kept'), 1, undefined, Infinity);
    controller.abort(new Error('stop'));
    expect(aborted.error).toBeInstanceOf(AbortError);
    expect((aborted.error as Error & { cause: Error }).cause.message).toBe('stop');
    await new Promise((r) => setTimeout(r, 20));
    expect(late.error).toBeInstanceOf(QueueTimeoutError);
    expect(q.waiting).toBe(1);
    expect(q.take(10, 10).map((i) => i.name)).toEqual(['kept']);
  });

  it('rejects everything waiting with a fresh error each', () => {
    const q = new CallQueue<Item>(10, () => {});
    const items = [new Item('a'), new Item('b')];
    for (const item of items) q.push(item, 1, undefined, Infinity);
    q.rejectAll(() => new Error('closed'));
    expect(items.map((i) => i.error?.message)).toEqual(['closed', 'closed']);
    expect(items[0]!.error).not.toBe(items[1]!.error);
    expect(q.waiting).toBe(0);
  });
});

describe('restartBackoff', () => {
  it('doubles from 0.5 s to at most 30 s', () => {
    expect([0, 1, 2, 3, 4, 7, 8, 50].map(restartBackoff)).toEqual([500, 500, 1000, 2000, 4000, 30_000, 30_000, 30_000]);
  });
});

describe('StoreLock in one process', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is held by one holder at a time, names its pid, is released by release(), and leaves the file', () => {
    dir = mkdtempSync(join(tmpdir(), 'warmpool-lock-'));
    const a = new StoreLock(dir);
    const b = new StoreLock(dir);
    a.acquire();
    a.acquire(); // idempotent
    expect(a.held).toBe(true);
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe(`${process.pid}\n`);
    expect(() => b.acquire()).toThrow(CollectionLockedError);
    expect(() => b.acquire()).toThrow(/another pool in this process/);
    a.release();
    a.release(); // idempotent
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe('');
    b.acquire();
    expect(b.held).toBe(true);
    b.release();
  });
});

describe('log records', () => {
  it('round-trip, and a frame cut short at the end is a torn write, zeros after it included', () => {
    const vector = Float32Array.from([0.5, -1, 2]);
    const frames = [encodeUpsert(1, 'id-é', 'text ✓', '{"a":1}', vector), encodeUpsert(2, 'b', '', undefined, vector), encodeDelete(3, 'id-é')];
    const whole = Buffer.concat(frames);
    const decoded = decodeRecords(whole);
    expect(decoded.problem).toBeUndefined();
    expect(decoded.records.map((r) => [r.op, r.seq])).toEqual([[Op.upsert, 1], [Op.upsert, 2], [Op.delete, 3]]);
    expect(decoded.records[0]).toMatchObject({ id: 'id-é', text: 'text ✓', metadata: '{"a":1}', vector });
    // Allocated space after the records: zeros end the log cleanly.
    const allocated = Buffer.concat([whole, Buffer.alloc(4096)]);
    expect(decodeRecords(allocated)).toMatchObject({ validLength: whole.length, records: { length: 3 } });
    expect(decodeRecords(allocated).problem).toBeUndefined();
    // A record torn mid-write, zeros after: at the tail.
    const torn = Buffer.concat([whole, frames[0]!.subarray(0, 20), Buffer.alloc(100)]);
    expect(decodeRecords(torn).problem).toMatchObject({ offset: whole.length, atTail: true });
    // A flipped byte with records after it: damage, not a torn write.
    const flipped = Buffer.from(whole);
    flipped[frames[0]!.length + 20]! ^= 0xff;
    expect(decodeRecords(flipped).problem).toMatchObject({ offset: frames[0]!.length, atTail: false });
  });
});

describe('RecoveryReport', () => {
  it('is undefined when nothing was found, and adds up what was', () => {
    expect(new RecoveryReport().result()).toBeUndefined();
    const report = new RecoveryReport();
    report.dropped('a torn record', 40);
    report.lost('a segment cut short', 1000);
    report.kept('damaged/x.log');
    const r = report.result()!;
    expect(r).toMatchObject({ acknowledgedLoss: true, recordsDropped: 1, bytesDropped: 40, bytesMissing: 1000, keptAs: ['damaged/x.log'], problems: ['a torn record', 'a segment cut short'] });
    expect(r.message).toBe('a torn record; a segment cut short. Damaged files kept as found: damaged/x.log.');
  });
});
