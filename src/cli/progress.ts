/**
 * Progress lines on stderr that fit the terminal: `indexing [███░░░] 3/20 files | 57 passages |
 * 24 passages/s | ETA 12s`. The bar shrinks to make room (and goes, on a narrow terminal) before
 * the rate and the ETA do; there is no ETA until there is a rate to estimate it from.
 */
import cliProgress from 'cli-progress';

export interface ProgressFigures {
  /** What is going on: `indexing`, `embedding`. */
  label: string;
  /** Units done and in all; `unit` names them (`files`, `texts`). */
  done: number;
  total: number;
  unit: string;
  /** Another figure, shown after the count (`57 passages`). */
  extra?: string;
  /** Units per second, already worded (`24 passages/s`); absent until measured. */
  rate?: string;
  /** Seconds left; absent until there is a rate. */
  etaSeconds?: number;
}

const BAR_MIN = 10;
const BAR_MAX = 40;
const COMPLETE = '\u2588';
const INCOMPLETE = '\u2591';

/** The width progress lines are made for: the terminal's, or 80 columns when stderr is not one. */
export function progressColumns(stream: { isTTY?: boolean; columns?: number } = process.stderr): number {
  return stream.isTTY === true && typeof stream.columns === 'number' && stream.columns > 0 ? stream.columns : 80;
}

/** `7s`, `3m05s`, `1h02m`: rounded up, in the last unit shown. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  const m = Math.ceil(s / 60);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** A rate worded with its unit (`24 passages/s`, `3.5 texts/s`); undefined when there is none. */
export function formatRate(perSecond: number | undefined, unit: string): string | undefined {
  if (perSecond === undefined || !(perSecond > 0) || !Number.isFinite(perSecond)) return undefined;
  return `${perSecond >= 10 ? Math.round(perSecond) : perSecond.toFixed(1)} ${unit}/s`;
}

/**
 * The recent pace of a count: over its last `window` samples, once there are two (the first
 * sample's time includes the model's load and the first batch's wait, which later batches do
 * not pay), and from the start before that.
 */
export class Pace {
  readonly #window: number;
  #recent: { ms: number; count: number }[] = [];

  constructor(window = 20) {
    this.#window = Math.max(2, window);
  }

  /** The count as of `elapsedMs` since the start. */
  add(elapsedMs: number, count: number): void {
    this.#recent.push({ ms: elapsedMs, count });
    if (this.#recent.length > this.#window) this.#recent.shift();
  }

  /** Units per second; undefined until the count has moved over some time. */
  perSecond(): number | undefined {
    const last = this.#recent.at(-1);
    if (!last) return undefined;
    const from = this.#recent.length >= 2 ? this.#recent[0]! : { ms: 0, count: 0 };
    const ms = last.ms - from.ms;
    const units = last.count - from.count;
    return ms > 0 && units > 0 ? (units * 1000) / ms : undefined;
  }

  /** Seconds left to reach `total` at this pace: 0 once there, undefined while there is no pace. */
  secondsLeft(total: number): number | undefined {
    const last = this.#recent.at(-1);
    if (last && last.count >= total) return 0;
    const rate = this.perSecond();
    return rate === undefined || !last ? undefined : (total - last.count) / rate;
  }
}

/** One progress line of at most `columns` characters (each character takes one column). */
export function formatProgressLine(figures: ProgressFigures, columns: number): string {
  const { label, done, total, unit } = figures;
  const count = `${String(done).padStart(String(total).length)}/${total} ${unit}`;
  const eta = figures.etaSeconds === undefined ? undefined : `ETA ${formatDuration(figures.etaSeconds)}`;
  const tails = [
    [count, figures.extra, figures.rate, eta],
    [count, figures.rate, eta],
    [count, eta],
  ].map((parts) => parts.filter((p): p is string => p !== undefined).join(' | '));
  const fill = total > 0 ? Math.min(1, Math.max(0, done / total)) : 1;
  const tail = tails[0]!;
  // `label [bar] tail`, the bar as wide as the room left, within BAR_MIN..BAR_MAX.
  const room = columns - label.length - 4 - tail.length;
  if (room >= BAR_MIN) {
    const width = Math.min(BAR_MAX, room);
    const complete = Math.round(fill * width);
    return `${label} [${COMPLETE.repeat(complete)}${INCOMPLETE.repeat(width - complete)}] ${tail}`;
  }
  for (const t of tails) {
    if (label.length + 1 + t.length <= columns) return `${label} ${t}`;
    if (t.length <= columns) return t;
  }
  return tails.at(-1)!.slice(0, Math.max(0, columns));
}

export interface ProgressBar {
  /** Redraws soon with the figures as they are now. */
  update(): void;
  /** Draws the last figures and ends the line. */
  stop(): void;
}

/**
 * A progress line on `stream`, redrawn in place on a terminal (cli-progress), or written as whole
 * lines every 2 s where it is not one. `figures` is read at every redraw; the width at every
 * redraw too, so a resized terminal gets lines of its new width.
 */
export function startProgressBar(figures: () => ProgressFigures, options: { stream?: NodeJS.WriteStream; hideCursor?: boolean } = {}): ProgressBar {
  const stream = options.stream ?? process.stderr;
  const bar = new cliProgress.SingleBar({
    stream,
    // The lines are already made to fit; cli-progress's own cut and its bar are not used.
    format: () => formatProgressLine(figures(), progressColumns(stream)),
    noTTYOutput: true,
    hideCursor: options.hideCursor ?? false,
  });
  bar.start(1, 0);
  return {
    update: () => bar.update({}),
    stop: () => bar.stop(),
  };
}
