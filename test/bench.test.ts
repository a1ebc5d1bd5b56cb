import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';

const run = promisify(execFile);
const out = mkdtempSync(join(tmpdir(), 'warmpool-bench-'));

afterAll(() => rmSync(out, { recursive: true, force: true }));

// Keeps the benchmark suite from rotting: one benchmark, at its smallest settings, end to end.
describe('bench suite', () => {
  it('runs the overhead benchmark in --tiny mode and writes its JSON, report and charts', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/run.ts', 'overhead', '--tiny', '--out', out], {
      cwd: ROOT,
      timeout: 90_000,
    });
    expect(stdout).toContain('Pool overhead');

    const result = JSON.parse(readFileSync(join(out, 'overhead.json'), 'utf8'));
    expect(result).toMatchObject({ schema: 1, name: 'overhead', mode: 'tiny', model: 'glove-100d', dtype: 'fp32', available: true });
    expect(Number.isNaN(Date.parse(result.date))).toBe(false);
    expect(result.machine.cores).toBeGreaterThan(0);
    expect(typeof result.machine.cpuModel).toBe('string');
    expect(result.machine.node).toBe(process.version);
    expect(result.machine.packages['onnxruntime-node']).toMatch(/^\d+\.\d+\.\d+/);

    expect(result.targets.length).toBeGreaterThan(0);
    for (const t of result.targets) {
      expect(typeof t.value).toBe('number');
      expect([true, false, null]).toContain(t.met);
      expect(typeof t.margin).toBe('string');
    }
    const table = result.tables[0];
    expect(table.rows.length).toBe(5); // warmpool (repeated and distinct texts), Piscina x2, bare worker (tiny mode skips the other pools)
    for (const row of table.rows) {
      expect(row).toHaveLength(table.columns.length);
      expect(row[1]).toBeGreaterThan(0); // calls per second
    }

    const report = readFileSync(join(out, 'REPORT.md'), 'utf8');
    expect(report).toContain('## 1. Pool overhead');
    for (const chart of result.charts) {
      const svg = join(out, `overhead-${chart.id}.svg`);
      expect(existsSync(svg)).toBe(true);
      expect(readFileSync(svg, 'utf8')).toMatch(/^<svg [^>]*>[\s\S]*<\/svg>\n$/);
      expect(report).toContain(`(overhead-${chart.id}.svg)`);
    }
  }, 120_000);

  it('runs the models benchmark in --tiny mode (small GloVe models) and reports all three comparisons', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/run.ts', 'models', '--tiny', '--out', out], {
      cwd: ROOT,
      timeout: 150_000,
    });
    expect(stdout).toContain('Several models in one pool');

    const result = JSON.parse(readFileSync(join(out, 'models.json'), 'utf8'));
    expect(result).toMatchObject({ schema: 1, name: 'models', mode: 'tiny', available: true, models: { embed: 'glove-100d', rerank: 'glove-rerank' } });
    expect(result.targets.map((t: { id: string }) => t.id)).toEqual(['rerank-vs-raw', 'ready-two-models', 'idle-model-cost']);
    for (const t of result.targets) expect(Number.isFinite(t.value)).toBe(true);
    expect(result.tables).toHaveLength(4);
    expect(result.tables[0].rows).toHaveLength(5); // the pool, onnxruntime sorted / unsorted, transformers.js batched / one run
    for (const row of result.tables[0].rows) expect(row[1]).toBeGreaterThan(0);
    const memory = result.data.memory.samples;
    for (const subject of ['baseline', 'embed', 'rerank', 'one-pool', 'two-pools']) {
      expect(memory[subject][0].afterReady.pssMiB).toBeGreaterThan(0);
      expect(memory[subject][0].afterReady.rssMiB).toBeGreaterThanOrEqual(memory[subject][0].afterReady.pssMiB);
    }
    expect(readFileSync(join(out, 'REPORT.md'), 'utf8')).toContain('Several models in one pool');
  }, 180_000);

  it('runs the idle benchmark in --tiny mode (glove-100d): start-up, memory and lanes', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/run.ts', 'idle', '--tiny', '--out', out], {
      cwd: ROOT,
      timeout: 150_000,
    });
    expect(stdout).toContain('Start-up, memory at rest, priority lanes');

    const result = JSON.parse(readFileSync(join(out, 'idle.json'), 'utf8'));
    expect(result).toMatchObject({ schema: 1, name: 'idle', mode: 'tiny', model: 'glove-100d', available: true });
    expect(result.targets.map((t: { id: string }) => t.id)).toEqual(['ready-vs-pipeline', 'rest-vs-piscina', 'peak-vs-piscina', 'lanes-p99-t2', 'lanes-bulk-t2']);
    for (const t of result.targets) expect(Number.isFinite(t.value)).toBe(true);
    expect(result.tables).toHaveLength(3);
    const samples = result.data.processes.samples;
    for (const subject of ['warmpool', 'piscina', 'pipeline-default', 'pipeline-1']) {
      expect(samples[subject][0].readyMs).toBeGreaterThan(0);
      expect(samples[subject][0].rest.rssMiB).toBeGreaterThanOrEqual(samples[subject][0].rest.pssMiB);
    }
    expect(samples.warmpool[0].burstPeak.pssMiB).toBeGreaterThan(0);
    expect(samples.warmpool[0].unloadWorkers).toBe(0);
    expect(samples['warmpool-zero'][0].zeroWorkers).toBe(0);
    expect(new Set(samples.piscina[0].warmThreads).size).toBe(2);
    expect(readFileSync(join(out, 'REPORT.md'), 'utf8')).toContain('Start-up, memory at rest, priority lanes');
  }, 180_000);
});
