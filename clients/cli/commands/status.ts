import type { RegionsResponse } from '../../types.ts';
import { CONNECTION_OPTIONS, parseFlags } from '../args.ts';
import type { Command } from '../command.ts';
import { CONNECTION_HELP, clientFrom } from '../context.ts';
import { renderTable } from '../table.ts';

const NAME = 'status';
const OPTIONS = { ...CONNECTION_OPTIONS, json: { type: 'boolean' } } as const;

/** `meridian status`: the router's view of every replica (`GET /v1/regions`) as a table. */
export const statusCommand: Command = {
  name: NAME,
  help: `Usage: meridian status [--url URL] [--key KEY] [--json]

Asks a router for GET /v1/regions and prints one row per replica: region, node, role,
healthy, RTT ms, appliedSeq, staleness ms, and per collection generation it serves: its
state when not active (staging, retired), applied manifest version and points.

Options:
  --json           print the raw JSON answer
${CONNECTION_HELP}`,

  async run(argv, ctx) {
    const { flags } = parseFlags(NAME, argv, OPTIONS, 0);
    if (flags.help) {
      ctx.stdout.write(`${this.help}\n`);
      return 0;
    }
    const res = await clientFrom(NAME, flags, ctx).regions();
    ctx.stdout.write(flags.json ? `${JSON.stringify(res, null, 2)}\n` : render(res));
    return 0;
  },
};

function render(res: RegionsResponse): string {
  const p = res.primary;
  const head = p
    ? `router region ${res.region}; primary ${p.region}/${p.node} at seq ${p.lastSeq}, heard ${p.heardAgoMs} ms ago\n`
    : `router region ${res.region}; primary not heard from\n`;
  if (res.replicas.length === 0) return `${head}(no replicas heard from)\n`;
  const rows = [...res.replicas]
    .sort((a, b) => a.region.localeCompare(b.region) || a.node.localeCompare(b.node))
    .map((r) => [
      r.region,
      r.node,
      r.role,
      r.healthy,
      r.rttMs,
      r.appliedSeq,
      // -1 on the wire: the primary has been silent, staleness is unbounded
      r.stalenessMs < 0 ? '∞' : r.stalenessMs,
      r.versions
        .map(
          (v) =>
            `${v.collection}:${v.generation}` +
            (v.state && v.state !== 'active' ? ` [${v.state}]` : '') +
            ` v${v.version} ${v.points} pts${v.error ? ' (error)' : ''}`,
        )
        .join(', ') || null,
    ]);
  return (
    head +
    renderTable(
      ['region', 'node', 'role', 'healthy', 'RTT ms', 'appliedSeq', 'staleness ms', 'versions'],
      rows,
    )
  );
}
