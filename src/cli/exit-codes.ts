/** Exit codes of the `warmpool` command; scripts may rely on them. */
export const EXIT = {
  /** Done. */
  OK: 0,
  /** A runtime failure: the model did not load, a call failed, a server answered an error... */
  RUNTIME: 1,
  /** The command line is wrong: unknown command or flag, a bad or missing value. */
  USAGE: 2,
} as const;

/** A mistake in the command line, found after commander parsed it (exit code 2). */
export class UsageError extends Error {
  override get name(): string {
    return 'UsageError';
  }
}
