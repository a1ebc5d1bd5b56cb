/**
 * The suite: `npm run bench -- [name ...] [--quick] [--tiny] [--out DIR] [--no-report]`.
 * Each benchmark runs in its own process (run-one.ts); then REPORT.md and its SVG charts are
 * written from all the JSON results in the output folder.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { NAMES } from './benchmarks.js';
import { parseArgs } from './lib/args.js';
import { ROOT } from './lib/paths.js';
import { writeReport } from './lib/report.js';

let args;
try {
  args = parseArgs(process.argv.slice(2), NAMES);
} catch (error) {
  console.error((error as Error).message);
  process.exit(2);
}
if (!existsSync(`${ROOT}dist/src/index.js`)) {
  console.error('dist/ is missing: benchmarks run against the built package; run `npm run build` first');
  process.exit(1);
}
if (!existsSync(`${ROOT}models/minilm-shape/onnx/model.onnx`)) {
  console.log('models/minilm-shape is missing; generating it (npm run models:minilm-shape)');
  spawnSync(process.execPath, ['--import', 'tsx', 'models/build-minilm-shape.ts'], { cwd: ROOT, stdio: 'inherit' });
}
// The models benchmark's cross-encoder (its --tiny mode uses the bundled GloVe models instead).
if (args.names.includes('models') && !args.tiny && !existsSync(`${ROOT}models/minilm-cross-shape/onnx/model.onnx`)) {
  console.log('models/minilm-cross-shape is missing; generating it (npm run models:minilm-cross-shape)');
  spawnSync(process.execPath, ['--import', 'tsx', 'models/build-minilm-cross-shape.ts'], { cwd: ROOT, stdio: 'inherit' });
}

const began = performance.now();
const flags = [...(args.tiny ? ['--tiny'] : args.quick ? ['--quick'] : []), '--out', args.outDir];
const failed: string[] = [];
for (const name of args.names) {
  const run = spawnSync(process.execPath, ['--import', 'tsx', `${ROOT}bench/run-one.ts`, name, ...flags], { cwd: ROOT, stdio: 'inherit' });
  if (run.status !== 0) failed.push(name);
}
if (args.report) {
  const path = writeReport(args.outDir, NAMES);
  console.log(`\nreport: ${path}`);
}
console.log(`suite: ${args.names.length} benchmark(s) in ${((performance.now() - began) / 1000).toFixed(1)} s${failed.length ? `; FAILED: ${failed.join(', ')}` : ''}`);
process.exit(failed.length ? 1 : 0);
