/**
 * `warmpool bench`: runs the benchmark suite (`bench/run.ts`, through tsx) of a repository
 * checkout. The benchmarks are TypeScript sources that are not part of the published package,
 * so an installed copy answers with an error that says where to get them.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { UsageError } from './exit-codes.js';

interface BenchFlags {
  quick?: boolean;
  tiny?: boolean;
  out?: string;
  report: boolean;
  root?: string;
}

/** The checkout this command was built from: dist/src/cli/bench.js is three levels below it. */
const OWN_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

function runSuite(root: string, args: string[]): Promise<number> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/run.ts'), ...args], { cwd: root, stdio: 'inherit' });
    child.once('error', fail);
    child.once('exit', (code, signal) => done(code ?? (signal ? 1 : 0)));
  });
}

export function register(program: Command): void {
  program
    .command('bench')
    .description('run the benchmark suite of a repository checkout (all benchmarks, or the named ones); results and REPORT.md go to bench/results/')
    .argument('[names...]', 'benchmarks to run, e.g. warm-cold startup throughput overhead (default: all)')
    .option('--quick', 'shorter runs, written to bench/results/quick/')
    .option('--tiny', 'the shortest runs, a smoke test of the suite')
    .option('--out <dir>', 'folder for the JSON results, charts and REPORT.md (default: bench/results/ of the checkout)')
    .option('--no-report', 'skip writing REPORT.md and the charts')
    .option('--root <dir>', 'the repository checkout whose benchmarks to run (default: the one this command belongs to)')
    .action(async (names: string[], flags: BenchFlags) => {
      const root = resolve(flags.root ?? OWN_ROOT);
      if (!existsSync(join(root, 'bench/run.ts'))) {
        throw new Error(
          `no benchmark sources in ${root} (bench/run.ts is missing): the benchmarks ship with the repository, not with the installed package; run "warmpool bench" from a clone of the repository after "npm ci && npm run build"`,
        );
      }
      try {
        createRequire(join(root, 'package.json')).resolve('tsx');
      } catch {
        throw new Error(`tsx is not installed in ${root}: the benchmarks are TypeScript run through tsx; run "npm ci" there first`);
      }
      const args = [...names, ...(flags.tiny ? ['--tiny'] : flags.quick ? ['--quick'] : []), ...(flags.out ? ['--out', resolve(flags.out)] : []), ...(flags.report ? [] : ['--no-report'])];
      const code = await runSuite(root, args);
      // The suite exits 2 for an unknown benchmark or flag, after printing its usage.
      if (code === 2) throw new UsageError('the benchmark suite refused its arguments (see above)');
      if (code !== 0) throw new Error(`the benchmark suite exited with code ${code}`);
    });
}
