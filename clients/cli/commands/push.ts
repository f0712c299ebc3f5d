import { MeridianError } from '../../errors.ts';
import type { MeridianClient } from '../../client.ts';
import type { WriteResponse } from '../../types.ts';
import {
  CONNECTION_OPTIONS,
  choiceFlag,
  intFlag,
  parseFlags,
  requiredFlag,
  stringFlag,
} from '../args.ts';
import type { Flags } from '../args.ts';
import type { Command } from '../command.ts';
import { CONNECTION_HELP, clientFrom } from '../context.ts';
import type { CliContext } from '../context.ts';
import { CliInputError, UsageError } from '../errors.ts';
import { encodeBatch, formatOf, readPointFile } from '../point-files.ts';
import type { PointRows } from '../point-files.ts';
import { Progress } from '../progress.ts';

const NAME = 'push';
const ACKS = ['async', 'semi-sync', 'sync'] as const;
const METRICS = ['cosine', 'l2', 'ip'] as const;

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  collection: { type: 'string', short: 'c' },
  batch: { type: 'string' },
  ack: { type: 'string' },
  'id-prefix': { type: 'string' },
  create: { type: 'boolean' },
  metric: { type: 'string' },
  model: { type: 'string' },
  dim: { type: 'string' },
  'source-seq': { type: 'string' },
} as const;

/**
 * `meridian push FILE --collection C`: uploads a vector file in Arrow batches, with a
 * progress bar, optionally creating the collection first. Every batch carries its own
 * requestId, so a retried batch is stored once; re-running the whole push upserts the same
 * ids again (same result, new WAL entries).
 */
export const pushCommand: Command = {
  name: NAME,
  help: `Usage: meridian push FILE --collection C [options]

Uploads the points of FILE in batches (sent as Arrow IPC streams), with a progress bar on
stderr, then prints a summary: points, batches, seconds, last seq.

FILE formats (by extension):
  .arrow   Arrow IPC stream: id utf8, vector FixedSizeList<Float32>[dim], metadata utf8 JSON
  .fvecs   TEXMEX float vectors; ids are <id-prefix><row>
  .npy     2-D float NumPy array; ids are <id-prefix><row>
  .jsonl   one {"id", "vector", "metadata"} object per line (id defaults to <id-prefix><line>)

Options:
  -c, --collection C   target collection (required)
  --batch N            points per request (default 1000)
  --ack MODE           async | semi-sync | sync (default: the collection's)
  --id-prefix P        prefix of generated ids (default "")
  --create             create the collection first (dim from the file), then push
  --metric M           with --create: cosine | l2 | ip (default cosine)
  --model M            the generation (embedding model) to write, e.g. minilm@2 for a
                       backfill of a staging generation (default: the active one); with
                       --create, the collection's first model (required then)
  --source-seq S       a backfill: the active generation's WAL position the vectors were
                       embedded from; points changed or deleted since are skipped and counted
  --dim N              dim of an .arrow file when the collection does not exist yet
${CONNECTION_HELP}`,

  async run(argv, ctx) {
    const { flags, positionals } = parseFlags(NAME, argv, OPTIONS, 1);
    if (flags.help) {
      ctx.stdout.write(`${this.help}\n`);
      return 0;
    }
    const file = positionals[0];
    if (!file) throw new UsageError('FILE is required', NAME);
    const plan = planFrom(flags, file);
    const client = clientFrom(NAME, flags, ctx);
    const points = await readPointFile(file, {
      idPrefix: plan.idPrefix,
      ...(formatOf(file) === 'arrow' ? { arrowDim: await arrowDim(client, plan, flags) } : {}),
    });
    if (points.count === 0) throw new CliInputError(`${file} holds no points`);
    if (plan.create) {
      await client.createCollection(plan.collection, {
        dim: points.dim,
        metric: plan.create.metric,
        model: plan.create.model,
      });
      ctx.stderr.write(
        `collection ${plan.collection}: dim ${points.dim}, ${plan.create.metric}, ${plan.create.model}\n`,
      );
    }
    const summary = await upload(client, points, plan, ctx);
    ctx.stdout.write(
      `pushed ${summary.points} points in ${plural(summary.batches, 'batch', 'batches')}, ` +
        `${summary.seconds.toFixed(2)} s (${Math.round(summary.points / Math.max(summary.seconds, 1e-3))} points/s), ` +
        `last seq ${summary.last.seq}\n` +
        (summary.timedOut > 0
          ? `${plural(summary.timedOut, 'batch is', 'batches are')} durable but not yet replicated (ack timed out)\n`
          : '') +
        (summary.skipped > 0
          ? `${plural(summary.skipped, 'point was', 'points were')} skipped: changed or deleted in the active generation after --source-seq\n`
          : '') +
        `token ${summary.last.token}\n`,
    );
    return 0;
  },
};

interface Plan {
  collection: string;
  batch: number;
  idPrefix: string;
  ack: (typeof ACKS)[number] | undefined;
  create: { metric: (typeof METRICS)[number]; model: string } | null;
  /** The generation written (a backfill), when --model names one without --create. */
  model: string | undefined;
  sourceSeq: number | undefined;
}

function planFrom(flags: Flags, file: string): Plan {
  if (!formatOf(file))
    throw new UsageError(
      `${file}: unknown file type; expected .arrow, .fvecs, .npy or .jsonl`,
      NAME,
    );
  const create = flags.create === true;
  if (!create && flags.metric !== undefined)
    throw new UsageError('--metric only applies with --create', NAME);
  const sourceSeq = intFlag(NAME, flags, 'source-seq', { min: 0, max: Number.MAX_SAFE_INTEGER });
  return {
    model: create ? undefined : stringFlag(flags, 'model'),
    sourceSeq,
    collection: requiredFlag(NAME, flags, 'collection'),
    batch: intFlag(NAME, flags, 'batch', { min: 1, max: 10_000, fallback: 1000 }),
    idPrefix: stringFlag(flags, 'id-prefix') ?? '',
    ack: choiceFlag(NAME, flags, 'ack', ACKS),
    create: create
      ? {
          metric: choiceFlag(NAME, flags, 'metric', METRICS) ?? 'cosine',
          model: requiredFlag(NAME, flags, 'model'),
        }
      : null,
  };
}

/** An Arrow file's dim: `--dim`, else the existing collection's. */
async function arrowDim(client: MeridianClient, plan: Plan, flags: Flags): Promise<number> {
  const given = intFlag(NAME, flags, 'dim', { min: 1, max: 4096 });
  if (given !== undefined) return given;
  const info = await client.getCollection(plan.collection);
  const g = plan.model ? info?.generations.find((x) => x.model === plan.model) : undefined;
  if (g) return g.dim;
  if (info) return info.dim;
  throw new UsageError(
    `collection ${plan.collection} does not exist yet: give --dim N to read an .arrow file`,
    NAME,
  );
}

async function upload(client: MeridianClient, p: PointRows, plan: Plan, ctx: CliContext) {
  const progress = new Progress(ctx.stderr, p.count, `push ${plan.collection}`);
  const started = performance.now();
  let last: WriteResponse | null = null;
  let batches = 0;
  let timedOut = 0;
  let skipped = 0;
  try {
    for (let start = 0; start < p.count; start += plan.batch) {
      const end = Math.min(p.count, start + plan.batch);
      try {
        last = await client.upsertArrow(plan.collection, encodeBatch(p, start, end), {
          ...(plan.ack ? { ack: plan.ack } : {}),
          ...(plan.model ? { model: plan.model } : {}),
          ...(plan.sourceSeq !== undefined ? { sourceSeq: plan.sourceSeq } : {}),
        });
      } catch (err) {
        if (err instanceof MeridianError)
          err.message = `batch of rows ${start}..${end - 1}: ${err.message} (rows before ${start} are stored)`;
        throw err;
      }
      batches++;
      if (last.ack.timedOut) timedOut++;
      skipped += last.skipped?.count ?? 0;
      progress.tick(end - start);
    }
  } finally {
    progress.finish();
  }
  return {
    points: p.count,
    batches,
    timedOut,
    skipped,
    seconds: (performance.now() - started) / 1000,
    last: last!,
  };
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
