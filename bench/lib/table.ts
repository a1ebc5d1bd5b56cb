import type { Table } from './types.js';

const cell = (v: string | number | null): string => (v === null || (typeof v === 'number' && !Number.isFinite(v)) ? '-' : typeof v === 'number' ? v.toLocaleString('en-US', { maximumSignificantDigits: 4 }) : v);

/** A table as aligned plain text, for the terminal. */
export function textTable(table: Table): string {
  const rows = [table.columns, ...table.rows.map((r) => r.map(cell))];
  const widths = table.columns.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]): string => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  ');
  return [table.title, line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** The same table as GitHub markdown, for the report. */
export function markdownTable(table: Table): string {
  const rows = table.rows.map((r) => `| ${r.map(cell).join(' | ')} |`);
  return [`| ${table.columns.join(' | ')} |`, `|${table.columns.map((_, c) => (c === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...rows].join('\n');
}
