/**
 * The option tables themselves, with no workers: every row can resolve, the names are unique, and
 * the hand-written public interfaces (their TSDoc is what an editor shows) agree with the tables.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import ts from 'typescript';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { ReloadOptions } from '../../dist/src/index.js';
import { buildProgram } from '../../dist/src/cli/program.js';
import { knownKeysOf, type OptionRow, type OptionTable } from '../../dist/src/option-table.js';
import { POOL_OPTIONS, POOL_OPTION_KEYS, RELOADABLE_OPTIONS, DEFAULTS, ENV_VARS, resolveOptions } from '../../dist/src/options.js';
import { QUEUE_CLIENT_OPTIONS, QUEUE_DEFAULTS, QUEUE_WORKER_OPTIONS } from '../../dist/src/queue/queue-options.js';
import { SERVER_OPTIONS, SERVER_OPTION_KEYS, SERVER_ENV_VARS } from '../../dist/src/server/options.js';
import { TEST_HOOKS_ENV } from '../../dist/src/test-hooks.js';
import { showDefault } from '../../docs/build-options.js';
import { ROOT } from '../helpers.js';

interface FamilyCase {
  name: string;
  table: OptionTable;
  /** The hand-written interface: file and name. */
  source: string;
  iface: string;
  /** Keys its options object takes besides the rows' own (`env`). */
  extra: string[];
}

const FAMILIES: FamilyCase[] = [
  { name: 'pool', table: POOL_OPTIONS, source: 'src/options.ts', iface: 'PoolOptions', extra: ['env'] },
  { name: 'server', table: SERVER_OPTIONS, source: 'src/server/options.ts', iface: 'ServerOptions', extra: ['env'] },
  { name: 'queue client', table: QUEUE_CLIENT_OPTIONS, source: 'src/queue/queue-options.ts', iface: 'QueueClientOptions', extra: [] },
  { name: 'queue worker', table: QUEUE_WORKER_OPTIONS, source: 'src/queue/queue-options.ts', iface: 'QueueWorkerOptions', extra: [] },
];

const rows = (table: OptionTable): [string, OptionRow][] => Object.entries(table);

interface Member {
  optional: boolean;
  /** The TSDoc text, tags included. */
  text: string;
  default: string | undefined;
}

/** The members of an interface, with their TSDoc, read from the source with the TypeScript parser. */
function members(file: string, name: string): Map<string, Member> {
  const source = ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true);
  const out = new Map<string, Member>();
  const visit = (node: ts.Node): void => {
    if (ts.isInterfaceDeclaration(node) && node.name.text === name) {
      for (const m of node.members) {
        if (!ts.isPropertySignature(m)) continue;
        const docs = (m as unknown as { jsDoc?: ts.JSDoc[] }).jsDoc ?? [];
        const text = docs.map((d) => d.getText()).join('\n');
        const tag = docs.flatMap((d) => d.tags ?? []).find((t) => t.tagName.text === 'default');
        out.set(m.name.getText(), {
          optional: m.questionToken !== undefined,
          text,
          default: tag ? ts.getTextOfJSDocComment(tag.comment)?.trim() : undefined,
        });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  if (out.size === 0) throw new Error(`no interface ${name} in ${file}`);
  return out;
}

/** Backticks and `{@link X}` aside, the two texts say the same, or one adds a remark after the other: `Infinity (never)`. */
const agree = (a: string, b: string): boolean => {
  const plain = (s: string) => s.replace(/\{@link (\w+)\}/g, '$1').replace(/`/g, '').trim();
  const [x, y] = [plain(a), plain(b)];
  return x === y || x.startsWith(`${y} `) || y.startsWith(`${x} `);
};

describe.each(FAMILIES)('the $name table', ({ table, source, iface, extra }) => {
  it.each(rows(table))('%s has a parser that says what it takes, and a doc', (_key, row) => {
    expect(typeof row.parse).toBe('function');
    expect(row.parse.takes).toMatch(/\w/);
    expect(row.doc).toMatch(/\w.*\.$/);
  });

  it.each(rows(table).filter(([, row]) => row.default !== undefined))('%s: its own parser accepts its default', (key, row) => {
    const parsed = row.parse({ from: `the default of ${key}`, value: row.default, fromEnv: false });
    if (key === 'storePath') expect(isAbsolute(parsed as string)).toBe(true);
    else expect(parsed).toEqual(row.default);
  });

  it.each(rows(table).filter(([, row]) => row.env !== undefined))('%s: its parser accepts its default spelled in the environment', (key, row) => {
    if (row.default === undefined || typeof row.default === 'object') return;
    const parsed = row.parse({ from: `environment variable ${row.env!}`, value: String(row.default), fromEnv: true });
    if (key !== 'storePath') expect(parsed).toEqual(row.default);
  });

  it('has each option once in the interface, and the interface nothing else', () => {
    const keys = new Set(rows(table).map(([key, row]) => row.option ?? key));
    expect([...members(source, iface).keys()].sort()).toEqual([...keys, ...extra].sort());
  });

  it.each(rows(table))('%s: the interface agrees on its default, its variable and whether it is required', (key, row) => {
    const member = members(source, iface).get(row.option ?? key)!;
    expect(member.optional).toBe(!row.required);
    // Rows that share a key (threads) share the member: its default is the first row's.
    const first = rows(table).find(([k, r]) => (r.option ?? k) === (row.option ?? key))![1];
    if (first === row) {
      if (row.required) expect(member.default).toBeUndefined();
      else {
        expect(member.default, `${iface}.${key} has no @default`).toBeDefined();
        const expected = showDefault(row).replace(/ \(\d+ MiB\)$/, '');
        const ok = agree(member.default!, expected) || (row.default === undefined && ['none', 'undefined'].includes(member.default!));
        expect(ok, `${iface}.${key}: TSDoc @default ${member.default}, table ${expected}`).toBe(true);
      }
    }
    if (row.env) expect(member.text, `${iface}.${key} names its variable`).toContain(`\`${row.env}\``);
    else if (key !== 'env') expect(member.text).not.toMatch(/Env: `WARMPOOL_/);
  });
});

describe('environment variables', () => {
  const all = [...rows(POOL_OPTIONS), ...rows(SERVER_OPTIONS), ...rows(QUEUE_CLIENT_OPTIONS), ...rows(QUEUE_WORKER_OPTIONS)]
    .map(([, row]) => row.env)
    .filter((name): name is string => name !== undefined);

  it('are unique across every family, all WARMPOOL_*, none the test hooks', () => {
    expect(new Set(all).size).toBe(all.length);
    for (const name of all) expect(name).toMatch(/^WARMPOOL_[A-Z_]+$/);
    expect(all).not.toContain(TEST_HOOKS_ENV);
  });

  it('are derived from the tables', () => {
    expect(Object.values(ENV_VARS)).toEqual(rows(POOL_OPTIONS).flatMap(([, row]) => row.env ?? []));
    expect(Object.values(SERVER_ENV_VARS)).toEqual(rows(SERVER_OPTIONS).flatMap(([, row]) => row.env ?? []));
  });
});

describe('derived from the tables', () => {
  it('the known keys, in table order', () => {
    expect(POOL_OPTION_KEYS).toEqual(knownKeysOf({ table: POOL_OPTIONS, label: 'options', env: true }));
    expect(POOL_OPTION_KEYS).toContain('threads');
    expect(POOL_OPTION_KEYS).not.toContain('maxThreads');
    expect(SERVER_OPTION_KEYS.at(-1)).toBe('env');
  });

  it('the defaults, frozen', () => {
    expect(Object.isFrozen(DEFAULTS)).toBe(true);
    expect(Object.keys(DEFAULTS)).toEqual(rows(POOL_OPTIONS).filter(([, row]) => row.default !== undefined).map(([key]) => key));
    expect(QUEUE_DEFAULTS).toEqual({
      maxWaiting: 10_000,
      timeout: Infinity,
      attempts: 3,
      reconcileInterval: 1000,
      keepFinishedFor: 600,
      lockDuration: 5000,
      stalledInterval: 2000,
      maxStalledCount: 2,
      clientCloseTimeout: 2000,
      workerCloseTimeout: 10_000,
    });
  });

  it('the reloadable keys: known pool options, the same as ReloadOptions', () => {
    expect(RELOADABLE_OPTIONS).toEqual(['model', 'dtype', 'allowRemoteModels', 'cacheDir']);
    for (const key of RELOADABLE_OPTIONS) expect(POOL_OPTION_KEYS).toContain(key);
    expectTypeOf<keyof ReloadOptions>().toEqualTypeOf<(typeof RELOADABLE_OPTIONS)[number]>();
  });

  it('computed defaults that their own parsers accept, on any machine', () => {
    for (const cores of [1, 2, 3, 4, 8, 64, 256]) {
      const resolved = resolveOptions({ env: false }, cores) as unknown as Record<string, unknown>;
      for (const [key, row] of rows(POOL_OPTIONS).filter(([, r]) => r.computed)) {
        expect(row.parse({ from: key, value: resolved[key], fromEnv: false })).toBe(resolved[key]);
      }
    }
  });
});

describe('CLI flags', () => {
  const program = buildProgram();
  const flagsOf = (name: string): string[] => program.commands.find((c) => c.name() === name)!.options.map((o) => o.flags).filter((f) => !f.startsWith('-h'));
  const tableFlags = (...tables: OptionTable[]): string[] => tables.flatMap((t) => rows(t).flatMap(([, row]) => row.flag ?? []));

  it.each([
    ['serve', [POOL_OPTIONS, SERVER_OPTIONS]],
    ['worker', [POOL_OPTIONS, QUEUE_WORKER_OPTIONS]],
    ['embed', [POOL_OPTIONS]],
  ] as const)('of %s are the flags its tables name, each once', (command, tables) => {
    const expected = tableFlags(...tables);
    const actual = flagsOf(command);
    for (const flag of expected) expect(actual, `warmpool ${command} has ${flag}`).toContain(flag);
    if (command !== 'embed') expect(actual.sort()).toEqual([...expected].sort());
  });
});
