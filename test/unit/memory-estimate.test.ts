// The per-worker memory estimate of stats().memory (src/memory.ts), from samples given by hand:
// which samples it keeps, and when it answers 'marginal' or 'average'.
import { describe, expect, it } from 'vitest';
import { MemoryTracker, type Census } from '../../dist/src/memory.js';

const MB = 2 ** 20;

/** A tracker over a census and a Pss set by the test. */
function tracker(): { t: MemoryTracker; set(models: Record<string, number>, pssMb: number, loading?: string): void } {
  let census: Census = new Map();
  let pss = 0;
  const t = new MemoryTracker(
    () => census,
    () => ({ rssBytes: pss * 2, pssBytes: pss }),
  );
  return {
    t,
    set(models, pssMb, loading) {
      census = new Map(Object.entries(models).map(([name, warm]) => [name, { warm, loading: name === loading }]));
      pss = pssMb * MB;
    },
  };
}
const now = (pssMb: number) => ({ rssBytes: pssMb * 2 * MB, pssBytes: pssMb * MB });

describe('MemoryTracker', () => {
  it('has no estimate before a worker was ready, then the average over the baseline', () => {
    const { t, set } = tracker();
    set({ a: 0 }, 100);
    t.settled();
    expect(t.snapshot('a', now(100))).toEqual({ rssBytes: 200 * MB, pssBytes: 100 * MB, baselineBytes: 100 * MB });
    set({ a: 4 }, 300);
    t.settled();
    // (320 - 100) / 4 workers: Pss now, not at the sample.
    expect(t.snapshot('a', now(320))).toMatchObject({ baselineBytes: 100 * MB, perWorkerBytes: 55 * MB, perWorkerEstimate: 'average' });
  });

  it('answers the marginal step once two counts of the model\'s workers were sampled', () => {
    const { t, set } = tracker();
    set({ a: 0 }, 100);
    t.settled();
    set({ a: 1 }, 200);
    t.settled();
    set({ a: 3 }, 260);
    t.settled();
    expect(t.snapshot('a', now(270))).toMatchObject({ perWorkerBytes: 30 * MB, perWorkerEstimate: 'marginal' });
  });

  it('takes no sample while a worker of any model is loading', () => {
    const { t, set } = tracker();
    set({ a: 0, b: 0 }, 100);
    t.settled();
    set({ a: 1, b: 0 }, 150);
    t.settled();
    set({ a: 2, b: 0 }, 900, 'b'); // b loading: its memory would count as a's
    t.settled();
    // No step from 1 to 2 workers of a: (150 - 100) / the 2 warm now.
    expect(t.snapshot('a', now(150))).toMatchObject({ perWorkerBytes: 25 * MB, perWorkerEstimate: 'average' });
  });

  it('compares only samples where the other models had the same workers, and averages over every model\'s workers', () => {
    const { t, set } = tracker();
    set({ a: 0, b: 0 }, 100);
    t.settled();
    set({ a: 1, b: 0 }, 200);
    t.settled();
    set({ a: 2, b: 1 }, 400);
    t.settled();
    // a went 1 -> 2 while b went 0 -> 1: no marginal step for a; (400 - 100) / 3 workers.
    expect(t.snapshot('a', now(400))).toMatchObject({ perWorkerBytes: 100 * MB, perWorkerEstimate: 'average' });
    set({ a: 2, b: 3 }, 440);
    t.settled();
    expect(t.snapshot('b', now(440))).toMatchObject({ perWorkerBytes: 20 * MB, perWorkerEstimate: 'marginal' });
  });

  it('keeps the last estimate while the model has no worker (unloaded, scaled to zero), and ignores a negative step', () => {
    const { t, set } = tracker();
    set({ a: 0 }, 100);
    t.settled();
    set({ a: 2 }, 180);
    t.settled();
    expect(t.snapshot('a', now(180))).toMatchObject({ perWorkerBytes: 40 * MB, perWorkerEstimate: 'average' });
    set({ a: 0 }, 120);
    expect(t.snapshot('a', now(120))).toMatchObject({ perWorkerBytes: 40 * MB, perWorkerEstimate: 'average' });
    set({ a: 3 }, 170); // memory returned between the samples: a step below zero
    t.settled();
    expect(t.snapshot('a', now(170))).toMatchObject({ perWorkerEstimate: 'average' });
  });

  it('uses RSS where there is no Pss', () => {
    let census: Census = new Map([['a', { warm: 0, loading: false }]]);
    const t = new MemoryTracker(
      () => census,
      () => ({ rssBytes: 50 * MB, pssBytes: undefined }),
    );
    t.settled();
    census = new Map([['a', { warm: 1, loading: false }]]);
    expect(t.snapshot('a', { rssBytes: 80 * MB, pssBytes: undefined })).toMatchObject({ baselineBytes: 50 * MB, perWorkerBytes: 30 * MB, perWorkerEstimate: 'average' });
  });
});
