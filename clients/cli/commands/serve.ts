import { parseFlags, requiredFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { CliInputError } from '../errors.ts';

type Role = 'primary' | 'follower' | 'router';

const OPTIONS = {
  config: { type: 'string' },
  rebuild: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * `meridian primary|follower|router --config FILE`: starts a node with its role forced,
 * prints its URL, and on SIGINT/SIGTERM stops it gracefully (in-flight requests finish,
 * consumers drain, the catalog closes) and exits 0.
 */
export function serveCommand(role: Role): Command {
  return {
    name: role,
    help: `Usage: meridian ${role} --config FILE

Starts a ${role} from FILE (JSON, see services/config.ts) with role forced to "${role}".
MERIDIAN_* environment variables override the file. Prints the URL it listens on;
Ctrl-C (SIGINT) or SIGTERM stops it gracefully.

Options:
  --config FILE    configuration file (required)
  --rebuild        set a damaged catalog.db aside and rebuild it from the streams
  -h, --help       show this help`,

    async run(argv, ctx) {
      const { flags } = parseFlags(role, argv, OPTIONS, 0);
      if (flags.help) {
        ctx.stdout.write(`${this.help}\n`);
        return 0;
      }
      const file = requiredFlag(role, flags, 'config');
      // The server is loaded only by the commands that run one (client commands start faster).
      const { loadConfig, startNode } = await import('../../../services/index.ts');
      const { closeIndexWorkers } = await import('../../../index/index.ts');
      let config;
      try {
        config = loadConfig({ file, env: ctx.env, overrides: { role } });
      } catch (err) {
        throw new CliInputError((err as Error).message, { cause: err });
      }
      const signal = ctx.untilSignal();
      // A signal during start-up stops the start cleanly (exit 0), e.g. while it loads segments.
      const abort = new AbortController();
      void signal.then(() => abort.abort());
      let node;
      try {
        node = await startNode(config, { signal: abort.signal, rebuild: flags.rebuild === true });
      } catch (err) {
        if (!abort.signal.aborted) throw err;
        ctx.stderr.write(`${await signal}: stopped ${role} ${config.node} during start-up\n`);
        await closeIndexWorkers();
        return 0;
      }
      ctx.stdout.write(
        `meridian ${role} ${config.region}/${config.node} listening on ${node.url}\n`,
      );
      const name = await signal;
      ctx.stderr.write(`${name}: stopping ${role} ${config.node}\n`);
      await node.stop();
      await closeIndexWorkers();
      ctx.stderr.write(`stopped\n`);
      return 0;
    },
  };
}
