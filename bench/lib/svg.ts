/**
 * A small SVG chart writer: line charts (numeric x) and grouped bar charts (categories), linear
 * or log y axis. Plain strings, no dependency: the report wants a picture, not a plotting library.
 */

export interface ChartSeries {
  name: string;
  /** One value per x (line) or per category (bar); null leaves a gap. */
  values: (number | null)[];
}

export interface ChartSpec {
  /** File-name part: the chart is written as `<benchmark>-<id>.svg`. */
  id: string;
  title: string;
  type: 'line' | 'bar';
  xLabel: string;
  yLabel: string;
  /** x values (line) or category labels (bar). */
  x: (number | string)[];
  series: ChartSeries[];
  yScale?: 'linear' | 'log';
  /** Horizontal reference lines, e.g. a target. */
  guides?: { label: string; value: number }[];
}

const W = 780;
const H = 400;
const M = { top: 44, right: 220, bottom: 66, left: 76 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f'];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Short human number for tick labels. */
export function fmt(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a >= 100) return String(Math.round(v));
  return String(+v.toPrecision(3));
}

function niceStep(span: number, ticks: number): number {
  const raw = span / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

interface Axis {
  map: (v: number) => number;
  ticks: number[];
}

function yAxis(values: number[], scale: 'linear' | 'log'): Axis {
  const top = M.top;
  const bottom = H - M.bottom;
  if (scale === 'log') {
    const pos = values.filter((v) => v > 0);
    const lo = Math.floor(Math.log10(pos.length ? Math.min(...pos) : 1));
    const hi = Math.max(lo + 1, Math.ceil(Math.log10(pos.length ? Math.max(...pos) : 10)));
    const ticks: number[] = [];
    for (let e = lo; e <= hi; e++) ticks.push(10 ** e);
    return { map: (v) => bottom - ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * (bottom - top), ticks };
  }
  const max = Math.max(...values, 0);
  const step = niceStep(max || 1, 5);
  const hi = Math.max(step, Math.ceil(max / step) * step);
  const ticks: number[] = [];
  for (let v = 0; v <= hi + step / 2; v += step) ticks.push(v);
  return { map: (v) => bottom - (v / hi) * (bottom - top), ticks };
}

/** Renders a chart as a standalone SVG document. */
export function renderChart(spec: ChartSpec): string {
  const scale = spec.yScale ?? 'linear';
  const all = spec.series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  for (const g of spec.guides ?? []) all.push(g.value);
  const y = yAxis(all, scale);
  const left = M.left;
  const right = W - M.right;
  const bottom = H - M.bottom;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${W / 2 - M.right / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(spec.title)}</text>`);
  for (const t of y.ticks) {
    const py = y.map(t).toFixed(1);
    out.push(`<line x1="${left}" x2="${right}" y1="${py}" y2="${py}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`);
  }
  out.push(`<line x1="${left}" x2="${left}" y1="${M.top}" y2="${bottom}" stroke="#333"/>`);
  out.push(`<line x1="${left}" x2="${right}" y1="${bottom}" y2="${bottom}" stroke="#333"/>`);
  out.push(`<text x="${(left + right) / 2}" y="${H - 8}" text-anchor="middle">${esc(spec.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${(M.top + bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}${scale === 'log' ? ' (log scale)' : ''}</text>`);

  if (spec.type === 'line') {
    // x values spanning more than 16x (callers 1, 8, 64) are spread on a log scale.
    const raw = spec.x.map(Number);
    const logX = raw.every((v) => v > 0) && Math.max(...raw) / Math.min(...raw) > 16;
    const xs = logX ? raw.map(Math.log10) : raw;
    const lo = Math.min(...xs);
    const hi = Math.max(...xs);
    const mapX = (v: number): number => (hi === lo ? (left + right) / 2 : left + 10 + ((v - lo) / (hi - lo)) * (right - left - 20));
    // Every point is drawn; with many, only every few are labelled, so labels stay apart.
    const labelEvery = Math.max(1, Math.ceil((xs.length * 36) / (right - left)));
    xs.forEach((v, j) => {
      if (j % labelEvery !== 0) return;
      out.push(`<text x="${mapX(v).toFixed(1)}" y="${bottom + 18}" text-anchor="middle">${fmt(raw[j]!)}</text>`);
    });
    spec.series.forEach((s, i) => {
      const color = COLORS[i % COLORS.length]!;
      const pts = s.values.map((v, j) => (v === null || !Number.isFinite(v) ? null : [mapX(xs[j]!), y.map(v)] as const));
      let d = '';
      let pen = false;
      for (const p of pts) {
        if (!p) {
          pen = false;
          continue;
        }
        d += `${pen ? 'L' : 'M'}${p[0].toFixed(1)} ${p[1].toFixed(1)} `;
        pen = true;
      }
      out.push(`<path d="${d.trim()}" fill="none" stroke="${color}" stroke-width="2"/>`);
      for (const p of pts) if (p) out.push(`<circle cx="${p[0].toFixed(1)}" cy="${p[1].toFixed(1)}" r="3.5" fill="${color}"/>`);
    });
  } else {
    const groups = spec.x.length;
    const n = spec.series.length;
    const gw = (right - left) / Math.max(groups, 1);
    const bw = Math.min(40, (gw * 0.8) / Math.max(n, 1));
    spec.x.forEach((label, g) => {
      const cx = left + gw * (g + 0.5);
      const text = String(label);
      const space = text.indexOf(' ');
      // Long labels in narrow groups break at their first space onto a second line.
      if (space > 0 && text.length * 6.5 > gw) {
        out.push(`<text x="${cx.toFixed(1)}" y="${bottom + 16}" text-anchor="middle" font-size="11">${esc(text.slice(0, space))}` +
          `<tspan x="${cx.toFixed(1)}" dy="13">${esc(text.slice(space + 1))}</tspan></text>`);
      } else {
        out.push(`<text x="${cx.toFixed(1)}" y="${bottom + 18}" text-anchor="middle">${esc(text)}</text>`);
      }
      spec.series.forEach((s, i) => {
        const v = s.values[g];
        if (v === null || v === undefined || !Number.isFinite(v)) return;
        const x0 = cx - (bw * n) / 2 + i * bw;
        const py = y.map(v);
        out.push(`<rect x="${x0.toFixed(1)}" y="${py.toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${Math.max(0, bottom - py).toFixed(1)}" fill="${COLORS[i % COLORS.length]}"><title>${esc(`${s.name}: ${fmt(v)}`)}</title></rect>`);
        out.push(`<text x="${(x0 + bw / 2 - 1).toFixed(1)}" y="${(py - 4).toFixed(1)}" text-anchor="middle" font-size="10">${fmt(v)}</text>`);
      });
    });
  }
  for (const g of spec.guides ?? []) {
    const py = y.map(g.value).toFixed(1);
    out.push(`<line x1="${left}" x2="${right}" y1="${py}" y2="${py}" stroke="#555" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${left + 4}" y="${Number(py) - 5}" fill="#555">${esc(g.label)}</text>`);
  }
  // Legend entries too long for the right margin (about 26 characters) go on two lines, broken at
  // the last space that fits.
  let ly = M.top + 8;
  spec.series.forEach((s, i) => {
    out.push(`<rect x="${right + 14}" y="${ly - 6}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`);
    const cut = s.name.length > 26 ? s.name.lastIndexOf(' ', 26) : -1;
    if (cut > 0) {
      out.push(`<text x="${right + 32}" y="${ly}" dominant-baseline="middle">${esc(s.name.slice(0, cut))}` +
        `<tspan x="${right + 32}" dy="15">${esc(s.name.slice(cut + 1))}</tspan></text>`);
      ly += 15;
    } else {
      out.push(`<text x="${right + 32}" y="${ly}" dominant-baseline="middle">${esc(s.name)}</text>`);
    }
    ly += 20;
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
