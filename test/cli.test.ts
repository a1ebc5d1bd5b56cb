import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT, cosine } from './helpers.js';

const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['dist/src/cli.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, WARMPOOL_THREADS: '1' } });

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

  it('demo matches each query to its sentence', () => {
    const r = cli('demo');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Someone plays an instrument.\n  -> A man is playing a guitar.');
    expect(r.stdout).toContain('Shares dropped on Wall Street.\n  -> The stock market fell sharply today.');
    expect(r.stdout).toContain('The patient was given medicine.\n  -> The doctor prescribed antibiotics for the infection.');
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
