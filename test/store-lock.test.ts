import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChild, tempStore, withStore } from './collections-helpers.js';
import { createPool, ROOT } from './helpers.js';

const RACER = join(ROOT, 'test/fixtures/lock-racer.mjs');
const LOCK_MODULE = join(ROOT, 'dist/src/collections/lock.js');

type Answer = { ready?: true; got?: boolean; error?: string; released?: true };
const next = (c: ChildProcess): Promise<Answer> => new Promise((resolve) => c.once('message', (m) => resolve(m as Answer)));

/** A pid that no process has now: a lock file naming it is what a killed process leaves behind. */
const deadPid = (): number => spawnSync('true').pid!;

describe('store lock', () => {
  const racers: ChildProcess[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 8; i++) racers.push(fork(RACER, [LOCK_MODULE], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }));
    await Promise.all(racers.map(next));
  });
  afterAll(() => {
    for (const r of racers) r.kill('SIGKILL');
  });

  /** One trial: `n` processes take the lock at the same instant; resolves to how many got it. */
  async function race(n: number, staleLock: boolean): Promise<{ holders: number; refused: string[] }> {
    const store = tempStore();
    try {
      if (staleLock) writeFileSync(join(store.dir, 'LOCK'), `${deadPid()}\n`);
      const at = Date.now() + 25;
      const answers = await Promise.all(
        racers.slice(0, n).map((r) => {
          const answer = next(r);
          r.send({ op: 'take', dir: store.dir, at });
          return answer;
        }),
      );
      await Promise.all(
        racers.slice(0, n).map((r) => {
          const answer = next(r);
          r.send({ op: 'release' });
          return answer;
        }),
      );
      return { holders: answers.filter((a) => a.got).length, refused: answers.filter((a) => !a.got).map((a) => a.error!) };
    } finally {
      store.cleanup();
    }
  }

  for (const staleLock of [false, true]) {
    it(`gives the lock to exactly one of 2 to 8 processes racing for it, ${staleLock ? 'over a stale lock file' : 'with no lock file'} (120 trials)`, async () => {
      const outcomes: string[] = [];
      for (const n of [2, 3, 4, 6, 8]) {
        for (let trial = 0; trial < 24; trial++) {
          const { holders, refused } = await race(n, staleLock);
          outcomes.push(`${n}:${holders}`);
          expect(refused.every((code) => code === 'ERR_WARMPOOL_COLLECTION_LOCKED')).toBe(true);
        }
      }
      expect(outcomes.filter((o) => !o.endsWith(':1'))).toEqual([]);
    });
  }

  it('is free the moment its holder is killed with SIGKILL', async () => {
    await withStore(async (store) => {
      const holder = fork(RACER, [LOCK_MODULE], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      await next(holder);
      const got = next(holder);
      holder.send({ op: 'take', dir: store.dir, at: 0 });
      expect((await got).got).toBe(true);
      const other = racers[0]!;
      let answer = next(other);
      other.send({ op: 'take', dir: store.dir, at: 0 });
      expect(await answer).toMatchObject({ got: false, error: 'ERR_WARMPOOL_COLLECTION_LOCKED' });
      expect(readFileSync(join(store.dir, 'LOCK'), 'utf8')).toBe(`${holder.pid}\n`);
      const exited = new Promise((resolve) => holder.once('exit', resolve));
      holder.kill('SIGKILL');
      await exited;
      answer = next(other);
      other.send({ op: 'take', dir: store.dir, at: 0 });
      expect((await answer).got).toBe(true);
      answer = next(other);
      other.send({ op: 'release' });
      await answer;
    });
  });

  it('lets one of two pools racing to index into one store write, and loses nothing it acknowledged (4 trials)', async () => {
    const outcomes: string[] = [];
    for (let trial = 0; trial < 4; trial++) {
      await withStore(async (store) => {
        if (trial % 2 === 1) writeFileSync(join(store.dir, 'LOCK'), `${deadPid()}\n`);
        const at = String(Date.now() + 6_000);
        const runs = [runChild([store.dir, 'race', at]), runChild([store.dir, 'race', at])];
        const exits = await Promise.all(runs.map((r) => r.exited));
        expect(exits.map((e) => e.code)).toEqual([0, 0]);
        const results = runs.map((r) => r.lines.find((l) => /^(acked|locked|error) /.test(l)) ?? 'nothing');
        // A pool that came late (its model still loading at the agreed instant) writes after the
        // other closed: then both acknowledge, one after the other, and both writes must be there.
        for (const r of results) expect(['acked 300', 'locked 0']).toContain(r);
        outcomes.push(results.sort().join(' + '));
        const acked = results.filter((r) => r === 'acked 300').length * 300;
        const pool = createPool({ threads: 1, storePath: store.dir, env: false });
        try {
          expect(await pool.count({ collection: 'docs' })).toBe(acked);
        } finally {
          await pool.close();
        }
      });
    }
    // The pools did meet at the lock (a pool still loading its model at the agreed instant on a
    // loaded machine comes after the other, which the checks above cover too).
    expect(outcomes.filter((o) => o === 'acked 300 + locked 0').length).toBeGreaterThanOrEqual(1);
  });
});
