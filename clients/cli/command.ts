/**
 * The shape of one CLI subcommand: its name, help text, and `run`, which
 * gets the arguments after the subcommand's name and resolves with the exit status.
 */
import type { CliContext } from './context.ts';

export interface Command {
  name: string;
  /** Full `--help` text. */
  help: string;
  run(argv: string[], ctx: CliContext): Promise<number>;
}
