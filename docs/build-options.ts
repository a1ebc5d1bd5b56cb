/**
 * Writes docs/options.md, the options reference, from the option tables (`src/options.ts`,
 * `src/server/options.ts`, `src/queue/queue-options.ts`) of the built package:
 *
 *   npm run docs:options
 *
 * `test/unit/options-reference.test.ts` fails while the file is behind the tables.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OptionRow, OptionTable } from '../dist/src/option-table.js';
import { POOL_OPTIONS } from '../dist/src/options.js';
import { QUEUE_CLIENT_OPTIONS, QUEUE_WORKER_OPTIONS } from '../dist/src/queue/queue-options.js';
import { SERVER_OPTIONS } from '../dist/src/server/options.js';

export const REFERENCE = fileURLToPath(new URL('options.md', import.meta.url));

interface Section {
  title: string;
  intro: string;
  table: OptionTable;
}

const SECTIONS: Section[] = [
  {
    title: 'Pool: `createPool(options)`',
    intro:
      'Every command of the CLI that starts a pool takes the flags shown. An explicit option (or flag) wins over its environment variable; ' +
      '`env: false` ignores the environment, or pass your own object as `env`. A rolling `pool.reload()` may change the options marked *reload*.',
    table: POOL_OPTIONS,
  },
  {
    title: 'HTTP server: `createServer(pool, options)`, `warmpool serve`',
    intro: 'An explicit option (or flag) wins over its environment variable; `env: false` ignores the environment.',
    table: SERVER_OPTIONS,
  },
  {
    title: 'Queue client: `createQueueClient(options)`',
    intro: 'No environment variables: the client is configured in code.',
    table: QUEUE_CLIENT_OPTIONS,
  },
  {
    title: 'Queue worker: `createQueueWorker(options)`, `warmpool worker`',
    intro:
      '`runQueueWorker()` takes the same options (and `signals`), with `pool` as the options of the pool it starts (and closes); `warmpool worker` takes the pool flags too.',
    table: QUEUE_WORKER_OPTIONS,
  },
];

const MIB = 1024 * 1024;

/** How a fixed default reads: as it would be written in code. */
function literal(value: unknown): string {
  if (typeof value === 'string') return `\`'${value}'\``;
  if (typeof value === 'number' && Number.isFinite(value) && value >= MIB && value % MIB === 0) return `\`${value}\` (${value / MIB} MiB)`;
  if (Array.isArray(value)) return `\`[${value.map(String).join(', ')}]\``;
  return `\`${String(value)}\``;
}

export function showDefault(row: OptionRow): string {
  if (row.required) return 'required';
  if (row.none !== undefined) return row.none;
  if (row.computed) return row.computed.doc;
  return row.default === undefined ? 'none' : literal(row.default);
}

/** A table cell: one line, its pipes escaped (GitHub's tables split on them, even inside code). */
const cell = (text: string): string => text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|');

const code = (text: string | undefined): string => (text === undefined ? '' : `\`${text}\``);

/** One row per option; the env and flag columns only where the family has any. */
function renderTable(table: OptionTable): string {
  const rows = Object.entries(table);
  const columns: [string, (key: string, row: OptionRow) => string][] = [
    ['option', (key, row) => row.name ?? code(key)],
    ['env variable', (_key, row) => code(row.env)],
    ['CLI flag', (_key, row) => code(row.flag)],
    ['default', (_key, row) => showDefault(row)],
    ['accepts', (_key, row) => row.parse.takes],
    ['meaning', (_key, row) => (row.reload ? `${row.doc} *reload*` : row.doc)],
  ];
  const shown = columns.filter(([, value]) => rows.some(([key, row]) => value(key, row) !== ''));
  const lines = [`| ${shown.map(([title]) => title).join(' | ')} |`, `|${shown.map(() => '---|').join('')}`];
  for (const [key, row] of rows) lines.push(`| ${shown.map(([, value]) => cell(value(key, row))).join(' | ')} |`);
  return lines.join('\n');
}

/** The whole reference, as `docs/options.md` must hold it. */
export function renderOptionsReference(): string {
  const parts = [
    '# Options reference',
    '',
    '<!-- Generated from the option tables by `npm run docs:options` (docs/build-options.ts): edit the tables, not this file. -->',
    '',
    'Every option of warmpool, one table per family, generated from the tables in `src/options.ts`, ' +
      '`src/server/options.ts` and `src/queue/queue-options.ts`. Each option is validated once, when the ' +
      'pool, server, client or worker is made: a value of the wrong type is a `TypeError`, a value out of ' +
      'range a `RangeError`, and the message shows the value received. Options that arm a timer take at most ' +
      '2147483647 ms (about 24.8 days, exported as `MAX_TIMER_MS`): Node fires a longer timer after 1 ms.',
  ];
  for (const section of SECTIONS) parts.push('', `## ${section.title}`, '', section.intro, '', renderTable(section.table));
  return `${parts.join('\n')}\n`;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(REFERENCE, renderOptionsReference());
  console.log(`wrote ${REFERENCE}`);
}
