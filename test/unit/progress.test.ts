/** The CLI's progress lines (`warmpool index`, `warmpool embed`): pure formatting, no workers. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuration, formatProgressLine, formatRate, Pace, progressColumns, type ProgressFigures } from '../../dist/src/cli/progress.js';

const indexing = (over: Partial<ProgressFigures> = {}): ProgressFigures => ({
  label: 'indexing',
  done: 37,
  total: 200,
  unit: 'files',
  extra: '2176 passages',
  rate: '1313 passages/s',
  etaSeconds: 8.2,
  ...over,
});

/** Columns taken on a terminal: every character here is one column wide. */
const width = (line: string): number => [...line].length;

describe('formatProgressLine', () => {
  it('fits 80 columns with the bar, the count, passages, rate and ETA', () => {
    const line = formatProgressLine(indexing(), 80);
    expect(width(line)).toBeLessThanOrEqual(80);
    expect(line).toMatch(/^indexing \[[█░]{10,}\]  37\/200 files \| 2176 passages \| 1313 passages\/s \| ETA 9s$/);
  });

  it('shrinks the bar before it lets go of the rate or the ETA, and drops the bar before them', () => {
    const big = indexing({ done: 123456, total: 999999, extra: '98765432 passages', rate: '123456 passages/s', etaSeconds: 7322 });
    for (const columns of [80, 72, 60]) {
      const line = formatProgressLine(big, columns);
      expect(width(line), `${columns}: ${line}`).toBeLessThanOrEqual(columns);
      expect(line).toContain('123456 passages/s');
      expect(line).toContain('ETA 2h03m');
    }
    expect(formatProgressLine(big, 80)).not.toContain('[');
    // A wide terminal gets a bar no wider than 40 columns.
    expect(formatProgressLine(indexing(), 300)).toMatch(/\[[█░]{40}\]/);
  });

  it('shows no ETA, and no rate, before there is one', () => {
    const line = formatProgressLine(indexing({ done: 0, rate: undefined, etaSeconds: undefined, extra: '0 passages' }), 80);
    expect(line).toMatch(/^indexing \[░+\]   0\/200 files \| 0 passages$/);
    expect(line).not.toContain('ETA');
  });

  it('never exceeds the columns, and keeps rate and ETA wherever count, rate and ETA fit', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 10_000_000 }),
        fc.nat({ max: 10_000_000 }),
        fc.option(fc.nat({ max: 100_000_000 }), { nil: undefined }),
        fc.option(fc.double({ min: 0.01, max: 1e7, noNaN: true }), { nil: undefined }),
        fc.option(fc.double({ min: 0, max: 1e7, noNaN: true }), { nil: undefined }),
        fc.integer({ min: 1, max: 250 }),
        (a, b, passages, perSecond, etaSeconds, columns) => {
          const rate = formatRate(perSecond, 'passages');
          const figures = indexing({
            done: Math.min(a, b),
            total: Math.max(a, b),
            extra: passages === undefined ? undefined : `${passages} passages`,
            rate,
            etaSeconds,
          });
          const line = formatProgressLine(figures, columns);
          expect(width(line)).toBeLessThanOrEqual(columns);
          const count = `${String(figures.done).padStart(String(figures.total).length)}/${figures.total} files`;
          const eta = etaSeconds === undefined ? [] : [`ETA ${formatDuration(etaSeconds)}`];
          const essentials = [count, ...(rate === undefined ? [] : [rate]), ...eta].join(' | ');
          if (essentials.length <= columns) {
            if (rate !== undefined) expect(line).toContain(rate);
            for (const e of eta) expect(line).toContain(e);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('formatDuration and formatRate', () => {
  it('words durations in seconds, minutes or hours, rounding up', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(0.2)).toBe('1s');
    expect(formatDuration(59)).toBe('59s');
    expect(formatDuration(60)).toBe('1m00s');
    expect(formatDuration(185)).toBe('3m05s');
    expect(formatDuration(3600)).toBe('1h00m');
    expect(formatDuration(7322)).toBe('2h03m');
  });

  it('words a rate with its unit, and none when there is no rate', () => {
    expect(formatRate(1313.4, 'passages')).toBe('1313 passages/s');
    expect(formatRate(3.46, 'texts')).toBe('3.5 texts/s');
    expect(formatRate(undefined, 'texts')).toBeUndefined();
    expect(formatRate(0, 'texts')).toBeUndefined();
    expect(formatRate(Infinity, 'texts')).toBeUndefined();
  });
});

describe('Pace', () => {
  it('has no rate and no time left before the count has moved', () => {
    const pace = new Pace();
    expect(pace.perSecond()).toBeUndefined();
    expect(pace.secondsLeft(100)).toBeUndefined();
    pace.add(500, 0);
    expect(pace.perSecond()).toBeUndefined();
    expect(pace.secondsLeft(100)).toBeUndefined();
  });

  it('counts from the start with one sample, then from its first sample (the first includes the wait for the first batch)', () => {
    const pace = new Pace();
    pace.add(2000, 10); // a slow first batch
    expect(pace.perSecond()).toBe(5);
    expect(pace.secondsLeft(100)).toBe(18);
    pace.add(2100, 20);
    pace.add(2200, 30);
    expect(pace.perSecond()).toBeCloseTo(100);
    expect(pace.secondsLeft(100)).toBeCloseTo(0.7);
  });

  it('follows the recent pace over its window, and has 0 s left once the count reaches the total', () => {
    const pace = new Pace(3);
    pace.add(1000, 100); // 100/s
    pace.add(2000, 200);
    pace.add(3000, 210); // 10/s from here
    pace.add(4000, 220);
    expect(pace.perSecond()).toBeCloseTo(10);
    pace.add(5000, 1000);
    expect(pace.secondsLeft(1000)).toBe(0);
  });
});

describe('progressColumns', () => {
  it("is a terminal's width, and 80 where stderr is not a terminal or does not say", () => {
    expect(progressColumns({ isTTY: true, columns: 132 })).toBe(132);
    expect(progressColumns({ isTTY: true, columns: 0 })).toBe(80);
    expect(progressColumns({ isTTY: true })).toBe(80);
    expect(progressColumns({ isTTY: false, columns: 200 })).toBe(80);
    expect(progressColumns({})).toBe(80);
  });
});
