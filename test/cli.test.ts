import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, cosine } from './helpers.js';

const store = mkdtempSync(join(tmpdir(), 'warmpool-cli-'));
afterAll(() => rmSync(store, { recursive: true, force: true }));

const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['dist/src/cli.js', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, WARMPOOL_THREADS: '1', WARMPOOL_STORE_PATH: store },
  });

describe('warmpool CLI', () => {
  it('embed prints one JSON line per text', () => {
    const r = cli('embed', 'A man is playing a guitar.', 'Someone plays an instrument.');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { text: string; dims: number; embedding: number[] });
    expect(lines.map((l) => l.text)).toEqual(['A man is playing a guitar.', 'Someone plays an instrument.']);
    expect(lines[0]!.dims).toBe(100);
    expect(cosine(Float32Array.from(lines[0]!.embedding), Float32Array.from(lines[1]!.embedding))).toBeGreaterThan(0.5);
  });

  it('embed - reads lines from stdin', () => {
    const r = spawnSync(process.execPath, ['dist/src/cli.js', 'embed', '-'], { cwd: ROOT, encoding: 'utf8', input: 'one\n\ntwo\n' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(2);
  });

  it('demo indexes samples/ into the store and finds the right passage for each question', () => {
    const r = cli('demo');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/indexed \d+ passages from 20 files in samples\//);
    expect(r.stdout).toMatch(/How do bees tell each other where the flowers are\?.*\n  1\. [\d.]+  honeybees\.md#/);
    expect(r.stdout).toMatch(/What makes the dough rise\?.*\n  1\. [\d.]+  bread\.md#/);
    expect(r.stdout).toMatch(/How do runners train for a marathon\?.*\n  1\. [\d.]+  marathon\.md#/);
  });

  it('index <folder> then search <question> over the on-disk collection', () => {
    const folder = mkdtempSync(join(tmpdir(), 'warmpool-corpus-'));
    try {
      mkdirSync(join(folder, 'sub'));
      writeFileSync(join(folder, 'a.md'), '# Guitars\n\nA man is playing a guitar on a stage in front of a crowd.\n\nThe drummer keeps the beat.');
      writeFileSync(join(folder, 'sub', 'b.txt'), 'The stock market fell sharply today as investors sold shares.');
      writeFileSync(join(folder, 'ignored.json'), '{"not": "indexed"}');
      const indexed = cli('index', folder, '--collection', 'cli');
      expect(indexed.status).toBe(0);
      expect(indexed.stdout).toMatch(/indexed 2 passages from 2 files into collection "cli"/);
      expect(indexed.stderr).toMatch(/indexed 2 passages/);
      const found = cli('search', 'shares dropped on wall street', '--collection', 'cli', '-k', '1');
      expect(found.status).toBe(0);
      expect(found.stdout).toMatch(/^  1\. [\d.]+  sub\/b\.txt#0\n     The stock market fell sharply/);
      const missing = cli('search', 'anything', '--collection', 'nothing-here');
      expect(missing.status).toBe(1);
      expect(missing.stderr).toMatch(/CollectionNotFoundError \[ERR_WARMPOOL_COLLECTION_NOT_FOUND\]/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('reports a missing model with its typed error and exit code 1', () => {
    const r = cli('embed', '--model', '/no/such/model', 'x');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ModelLoadError \[ERR_WARMPOOL_MODEL_LOAD\]: model folder not found: \/no\/such\/model/);
  });

  it('shows usage and exit code 2 for an unknown command', () => {
    const r = cli('frobnicate');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('usage: warmpool');
  });
});
