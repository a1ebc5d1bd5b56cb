import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { WarmpoolError } from '../errors.js';
import { COMMANDS } from './commands.js';
import { EXIT, UsageError } from './exit-codes.js';

function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
}

export function buildProgram(): Command {
  const program = new Command('warmpool')
    .description('Embedding models kept warm in a pool of worker threads.\nPool options come from WARMPOOL_* environment variables or the flags of each command.')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', '\nExit codes: 0 done, 1 runtime error (model, call or server failure), 2 usage error.\nRun "warmpool <command> --help" for the flags of a command.');
  for (const command of COMMANDS) command.register(program);
  // Commander would call process.exit itself; errors come back here to get the documented codes.
  program.exitOverride();
  for (const sub of program.commands) sub.exitOverride();
  return program;
}

const describeError = (error: unknown): string => {
  if (error instanceof WarmpoolError) return `${error.name} [${error.code}]: ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
};

/** Runs the command line and resolves to the exit code; messages go to stderr, results to stdout. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  if (argv.length === 0) {
    process.stderr.write(program.helpInformation());
    return EXIT.USAGE;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.OK;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    if (error instanceof UsageError) {
      process.stderr.write(`warmpool: ${error.message}\n(run with --help for usage)\n`);
      return EXIT.USAGE;
    }
    process.stderr.write(`warmpool: ${describeError(error)}\n`);
    return EXIT.RUNTIME;
  }
}
