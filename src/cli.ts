#!/usr/bin/env node
/** The `warmpool` command: each subcommand lives in its own file under `cli/`. */
import { main } from './cli/program.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`warmpool: ${String(error)}\n`);
    process.exitCode = 1;
  },
);
