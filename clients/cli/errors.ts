/**
 * Errors of the `meridian` CLI. A {@link UsageError} is the user's command line being
 * wrong (unknown flag, missing value, bad number): the CLI prints it with a hint and exits
 * with status 2. Everything else exits with status 1.
 */

/** Exit status of a command-line mistake. */
export const EXIT_USAGE = 2;
/** Exit status of a failure while running a well-formed command. */
export const EXIT_FAILURE = 1;

/** The command line is wrong; `command` names the subcommand whose help to point at. */
export class UsageError extends Error {
  readonly command: string | null;
  constructor(message: string, command: string | null = null) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

/** A well-formed command that cannot run on this input (unreadable file, no rows, ...). */
export class CliInputError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliInputError';
  }
}
