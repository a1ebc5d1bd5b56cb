/**
 * Runs one benchmark in this process: prints its tables and writes `<out>/<name>.json`.
 * The suite (run.ts) starts one process per benchmark, so pools and threads of one never
 * disturb the next.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { BENCHMARKS, NAMES } from './benchmarks.js';
import { parseArgs } from './lib/args.js';
import { machineInfo } from './lib/machine.js';
import { textTable } from './lib/table.js';
import type { BenchContext, BenchResult } from './lib/types.js';

const args = parseArgs(process.argv.slice(2), NAMES);
if (args.names.length !== 1) throw new Error('run-one.ts runs exactly one benchmark');
const name = args.names[0]!;
const bench = await BENCHMARKS[name]!();
const mode = args.tiny ? 'tiny' : args.quick ? 'quick' : 'full';
// Quick and tiny runs are smoke runs: their pools skip the run at the largest batch at load
// (preallocate), which only costs start-up time there. Full runs measure the defaults.
if (mode !== 'full' && process.env.WARMPOOL_PREALLOCATE === undefined) process.env.WARMPOOL_PREALLOCATE = 'false';
const ctx: BenchContext = {
  quick: args.quick,
  tiny: args.tiny,
  cores: availableParallelism(),
  pick: (full, quick, tiny) => (args.tiny ? (tiny ?? quick) : args.quick ? quick : full),
};
const machine = machineInfo();
const began = performance.now();
const body = await bench.run(ctx);
const result: BenchResult = {
  schema: 1,
  name,
  title: bench.title,
  description: bench.description,
  mode,
  date: new Date().toISOString(),
  durationMs: Math.round(performance.now() - began),
  machine,
  // WARMPOOL_* variables in effect: they change the defaults of every pool that reads them.
  poolEnv: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('WARMPOOL_'))),
  ...body,
};
console.log(`\n== ${bench.title} (${mode}, ${(result.durationMs / 1000).toFixed(1)} s) ==`);
if (!body.available) console.log(`NOT AVAILABLE IN THIS BUILD: ${body.unavailableReason ?? ''}`);
for (const table of body.tables) console.log(`\n${textTable(table)}`);
if (body.targets.length) {
  console.log('');
  for (const t of body.targets) console.log(`target ${t.met === null ? 'n/a ' : t.met ? 'MET ' : 'MISS'}  ${t.description} ${t.target}: ${t.margin}`);
}
mkdirSync(args.outDir, { recursive: true });
writeFileSync(`${args.outDir}${name}.json`, `${JSON.stringify(result, null, 2)}\n`);
// Pools are closed by the benchmark; anything left (a stray timer) must not hold the suite.
process.exit(0);
