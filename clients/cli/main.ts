/**
 * The `meridian` command line: dispatches to one command per file under `commands/`,
 * prints help, and maps failures to exit statuses (2 for a wrong command line, 1 for
 * anything else). {@link main} takes everything it needs as arguments, so only the entry
 * point (`bin.mjs`) touches `process`.
 */
import { isMeridianError } from '../errors.ts';
import type { Command } from './command.ts';
import type { CliContext } from './context.ts';
import { EXIT_FAILURE, EXIT_USAGE, UsageError } from './errors.ts';

export type { CliContext } from './context.ts';

/** A command as the top level knows it: loaded only when it runs, so `--help` and small commands start fast. */
interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}

/** Every command, in the order help lists them. */
export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'push',
    summary: 'upload points from an .arrow, .fvecs, .npy or .jsonl file',
    load: async () => (await import('./commands/push.ts')).pushCommand,
  },
  {
    name: 'query',
    summary: 'nearest neighbours of a vector, with where and how fresh the answer was',
    load: async () => (await import('./commands/query.ts')).queryCommand,
  },
  {
    name: 'status',
    summary: "the router's view of every region: health, RTT, applied seq, staleness",
    load: async () => (await import('./commands/status.ts')).statusCommand,
  },
  {
    name: 'generations',
    summary: 'list, stage, activate (or roll back) and drop embedding-model generations',
    load: async () => (await import('./commands/generations.ts')).generationsCommand,
  },
  serveEntry('primary', 'run the primary: takes writes, owns the WAL and the segments'),
  serveEntry('follower', 'run a follower: a read replica in its region'),
  serveEntry(
    'router',
    'run a router: forwards writes, sends each query to the nearest fresh replica',
  ),
];

function serveEntry(role: 'primary' | 'follower' | 'router', summary: string): CommandEntry {
  return {
    name: role,
    summary,
    load: async () => (await import('./commands/serve.ts')).serveCommand(role),
  };
}

/** Top-level help. */
export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `Usage: meridian <command> [options]

Meridian: multi-region vector index replication.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run "meridian <command> --help" for a command's options.
Client commands read MERIDIAN_URL and MERIDIAN_API_KEY when --url/--key are not given.
`;
}

/** Runs the CLI on `argv` (the arguments after the program name); resolves with the exit status. */
export async function main(argv: string[], ctx: CliContext): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    const entry = topic === undefined ? undefined : COMMANDS.find((c) => c.name === topic);
    const text = entry ? `${(await entry.load()).help}\n` : mainHelp();
    (name === undefined ? ctx.stderr : ctx.stdout).write(text);
    return name === undefined ? EXIT_USAGE : 0;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  try {
    if (!entry)
      throw new UsageError(
        name.startsWith('-') ? `unknown option ${name}` : `unknown command ${name}`,
      );
    return await (await entry.load()).run(rest, ctx);
  } catch (err) {
    return report(err, ctx);
  }
}

function report(err: unknown, ctx: CliContext): number {
  if (err instanceof UsageError) {
    const help = err.command ? `meridian ${err.command} --help` : 'meridian --help';
    ctx.stderr.write(`meridian: ${err.message}\nRun "${help}" for usage.\n`);
    return EXIT_USAGE;
  }
  if (isMeridianError(err)) {
    const status = err.status === null ? '' : ` (HTTP ${err.status})`;
    ctx.stderr.write(`meridian: ${err.code}${status}: ${err.message}\n`);
    if (err.details !== undefined)
      ctx.stderr.write(`details: ${JSON.stringify(err.details, null, 2)}\n`);
    return EXIT_FAILURE;
  }
  ctx.stderr.write(`meridian: ${err instanceof Error ? err.message : String(err)}\n`);
  return EXIT_FAILURE;
}
