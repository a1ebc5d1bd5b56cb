import { DEFAULT_RESULTS } from './paths.js';

export interface BenchArgs {
  names: string[];
  quick: boolean;
  tiny: boolean;
  /** Where JSON, SVG and REPORT.md go. */
  outDir: string;
  report: boolean;
}

const USAGE = 'usage: npm run bench -- [name ...] [--quick] [--tiny] [--out DIR] [--no-report]';

/** Parses the suite's command line; throws with the usage line on anything unknown. */
export function parseArgs(argv: string[], known: readonly string[]): BenchArgs {
  const args: BenchArgs = { names: [], quick: false, tiny: false, outDir: '', report: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') args.quick = true;
    else if (a === '--tiny') args.tiny = args.quick = true;
    else if (a === '--no-report') args.report = false;
    else if (a === '--out') args.outDir = argv[++i] ?? '';
    else if (a.startsWith('--out=')) args.outDir = a.slice(6);
    else if (a === '--help' || a === '-h') throw new Error(`${USAGE}\nbenchmarks: ${known.join(', ')}`);
    else if (known.includes(a)) args.names.push(a);
    else throw new Error(`unknown argument ${JSON.stringify(a)}\n${USAGE}\nbenchmarks: ${known.join(', ')}`);
  }
  if (args.names.length === 0) args.names = [...known];
  // A quick run never overwrites a full run's results.
  if (!args.outDir) args.outDir = args.quick ? `${DEFAULT_RESULTS}quick/` : DEFAULT_RESULTS;
  if (!args.outDir.endsWith('/')) args.outDir += '/';
  return args;
}
