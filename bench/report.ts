/** Rewrites REPORT.md and the charts from saved JSON results: `tsx bench/report.ts [DIR]`. */
import { NAMES } from './benchmarks.js';
import { DEFAULT_RESULTS } from './lib/paths.js';
import { writeReport } from './lib/report.js';

let dir = process.argv[2] ?? DEFAULT_RESULTS;
if (!dir.endsWith('/')) dir += '/';
console.log(writeReport(dir, NAMES));
