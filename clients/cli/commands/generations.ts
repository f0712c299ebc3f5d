import {
  CONNECTION_OPTIONS,
  choiceFlag,
  intFlag,
  parseFlags,
  requiredFlag,
  stringFlag,
} from '../args.ts';
import type { Activation, GroupActivation } from '../../types.ts';
import type { MeridianClient } from '../../client.ts';
import { ActivationProgress } from '../activation-progress.ts';
import type { Command } from '../command.ts';
import type { CliContext } from '../context.ts';
import { CONNECTION_HELP, clientFrom } from '../context.ts';
import { UsageError } from '../errors.ts';
import { renderTable } from '../table.ts';

const NAME = 'generations';
const OPTIONS = {
  ...CONNECTION_OPTIONS,
  collection: { type: 'string', short: 'c' },
  model: { type: 'string', short: 'm' },
  dim: { type: 'string' },
  policy: { type: 'string' },
  'timeout-ms': { type: 'string' },
  'min-coverage': { type: 'string' },
  json: { type: 'boolean' },
} as const;
const ACTIONS = ['list', 'stage', 'activate', 'drop', 'cutover'] as const;

/**
 * `meridian generations list|stage|activate|drop`: the embedding-model generations of a
 * collection (issue 14). `activate` waits up to --timeout-ms for the regions the policy
 * names, and prints each region's progress when it is refused.
 */
export const generationsCommand: Command = {
  name: NAME,
  help: `Usage: meridian generations <list|stage|activate|drop> --collection C [options]

  list                       each generation: state, dim, version, points and coverage
                             of the active one's ids (missing / only in it)
  stage --model M --dim D    a staging generation beside the active one
  activate --model M         make M active once the regions have everything written
                             before the call (rollback: activate the retired one)
      --policy all|quorum|primary   which regions must be there (default all)
      --timeout-ms MS               how long to wait for them (default 30000)
      --min-coverage R              share of the active ids M must hold (0-1, default 1)
  drop --model M             drop a staging or retired generation
  cutover C=M [C=M ...]      a commit group: activate model M of each collection C so
                             that every region shows all of them flipped or none
                             (no --collection; same --policy, --timeout-ms, --min-coverage)

Options:
  -c, --collection C
  -m, --model M
  --json           print the raw JSON answer
${CONNECTION_HELP}`,

  async run(argv, ctx) {
    const { flags, positionals } = parseFlags(NAME, argv, OPTIONS, 65);
    if (flags.help) {
      ctx.stdout.write(`${this.help}\n`);
      return 0;
    }
    const action = positionals[0];
    if (!action || !(ACTIONS as readonly string[]).includes(action)) {
      throw new UsageError(
        `expected one of ${ACTIONS.join(', ')}, got ${action ?? 'nothing'}`,
        NAME,
      );
    }
    if (action !== 'cutover' && positionals.length > 1) {
      throw new UsageError(`unexpected argument: ${positionals.slice(1).join(' ')}`, NAME);
    }
    const print = (answer: unknown, text: string) =>
      ctx.stdout.write(flags.json ? `${JSON.stringify(answer, null, 2)}\n` : text);
    const gate = () => {
      const policy = choiceFlag(NAME, flags, 'policy', ['all', 'quorum', 'primary'] as const);
      const timeoutMs = intFlag(NAME, flags, 'timeout-ms', {
        min: 0,
        max: 600_000,
        fallback: 30_000,
      });
      const minCoverage = ratioFlag(stringFlag(flags, 'min-coverage'));
      return {
        ...(policy ? { policy } : {}),
        timeoutMs,
        ...(minCoverage !== undefined ? { minCoverage } : {}),
      };
    };
    if (action === 'cutover') {
      const members = positionals.slice(1).map(member);
      if (members.length === 0)
        throw new UsageError('cutover needs at least one COLLECTION=MODEL', NAME);
      const client = clientFrom(NAME, flags, ctx);
      const label = members.map((m) => `${m.collection}=${m.model}`).join(' ');
      const id = await client.startCutover(members, gate());
      const done = (await follow(client, id, label, ctx)) as GroupActivation;
      print(
        done,
        done.members
          .map(
            (m) =>
              `${m.collection}: ${m.activated} is active` +
              (m.retired ? ` (${m.retired} retired)` : ''),
          )
          .join('\n') + `\nflipped together from WAL seq ${done.seq} (group ${done.group})\n`,
      );
      return 0;
    }
    const collection = requiredFlag(NAME, flags, 'collection');
    const client = clientFrom(NAME, flags, ctx);
    if (action === 'list') {
      const info = await client.getCollection(collection);
      if (!info) throw new UsageError(`no collection named ${collection}`, NAME);
      const rows = info.generations.map((g) => [
        g.model,
        g.state,
        g.dim,
        g.version,
        g.points,
        g.coverage
          ? `${(g.coverage.ratio * 100).toFixed(1)} % (${g.coverage.missing} missing, ${g.coverage.extra} only here)`
          : '-',
      ]);
      print(
        info.generations,
        renderTable(['model', 'state', 'dim', 'version', 'points', 'coverage'], rows),
      );
      return 0;
    }
    const model = requiredFlag(NAME, flags, 'model');
    if (action === 'stage') {
      const dim = intFlag(NAME, flags, 'dim', { min: 1, max: 4096 });
      if (dim === undefined) throw new UsageError('--dim is required', NAME);
      const g = await client.stageGeneration(collection, model, dim);
      print(g, `staged ${collection}/${g.model} (dim ${g.dim})\n`);
      return 0;
    }
    if (action === 'drop') {
      await client.dropGeneration(collection, model);
      print({ collection, dropped: model }, `dropped ${collection}/${model}\n`);
      return 0;
    }
    const id = await client.startActivation(collection, model, gate());
    const done = (await follow(client, id, `${collection}/${model}`, ctx)) as Activation;
    print(
      done,
      `${collection}: ${done.activated} is active from WAL seq ${done.seq}` +
        (done.retired ? ` (${done.retired} retired, queryable by name)` : '') +
        `\n`,
    );
    return 0;
  },
};

function ratioFlag(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1)
    throw new UsageError(`--min-coverage must be a number from 0 to 1, got ${raw}`, NAME);
  return n;
}

/** `COLLECTION=MODEL` of a cutover. */
function member(arg: string): { collection: string; model: string } {
  const at = arg.indexOf('=');
  if (at <= 0 || at === arg.length - 1)
    throw new UsageError(`expected COLLECTION=MODEL, got ${arg}`, NAME);
  return { collection: arg.slice(0, at), model: arg.slice(at + 1) };
}

/** Follows an activation to its end, drawing each region's progress on stderr. */
async function follow(
  client: MeridianClient,
  id: string,
  label: string,
  ctx: CliContext,
): Promise<unknown> {
  const progress = new ActivationProgress(ctx.stderr, label);
  try {
    return (await client.followActivation(id, (s) => progress.update(s))).result;
  } finally {
    progress.finish();
  }
}
