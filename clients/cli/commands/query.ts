import type { MeridianClient } from '../../client.ts';
import { CONSISTENCY_LEVELS } from '../../media-types.ts';
import type { Filter, QueryResponse } from '../../types.ts';
import {
  CONNECTION_OPTIONS,
  choiceFlag,
  intFlag,
  jsonFlag,
  parseFlags,
  requiredFlag,
  stringFlag,
} from '../args.ts';
import type { Flags } from '../args.ts';
import type { Command } from '../command.ts';
import { CONNECTION_HELP, clientFrom } from '../context.ts';
import { UsageError } from '../errors.ts';
import { renderTable, truncate } from '../table.ts';

const NAME = 'query';

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  collection: { type: 'string', short: 'c' },
  vector: { type: 'string' },
  'id-of-row': { type: 'string' },
  file: { type: 'string' },
  k: { type: 'string' },
  ef: { type: 'string' },
  consistency: { type: 'string' },
  'max-staleness-ms': { type: 'string' },
  'wait-ms': { type: 'string' },
  token: { type: 'string' },
  model: { type: 'string' },
  filter: { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** `meridian query`: nearest neighbours of a vector, printed as a table with where they were served. */
export const queryCommand: Command = {
  name: NAME,
  help: `Usage: meridian query --collection C (--vector JSON | --id-of-row N --file F) [options]

Prints the results (id, score, metadata) and where the answer was served: region, node,
generation, version, appliedSeq, stalenessMs.

Options:
  -c, --collection C       collection to query (required)
  --vector '[0.1, ...]'    the query vector as a JSON array
  --id-of-row N --file F   use row N of F (.arrow, .fvecs, .npy or .jsonl) as the query vector
  --k N                    results (default 10)
  --ef N                   HNSW search breadth
  --consistency L          strong | bounded | session | eventual (default eventual;
                           session with --token)
  --max-staleness-ms N     bound for bounded reads
  --wait-ms N              how long a replica may wait to become fresh enough
  --token T                session token (e.g. printed by push) to read after
  --model M                query a specific generation
  --filter '{"k": "v"}'    metadata filter: equality or {"$in": [...]}
  --json                   print the raw JSON answer
${CONNECTION_HELP}`,

  async run(argv, ctx) {
    const { flags } = parseFlags(NAME, argv, OPTIONS, 0);
    if (flags.help) {
      ctx.stdout.write(`${this.help}\n`);
      return 0;
    }
    const collection = requiredFlag(NAME, flags, 'collection');
    const client = clientFrom(NAME, flags, ctx);
    const vector = await queryVector(client, collection, flags);
    const filter = jsonFlag(NAME, flags, 'filter');
    if (
      filter !== undefined &&
      (filter === null || typeof filter !== 'object' || Array.isArray(filter))
    )
      throw new UsageError('--filter must be a JSON object', NAME);
    const consistency = choiceFlag(NAME, flags, 'consistency', CONSISTENCY_LEVELS);
    const token = stringFlag(flags, 'token');
    const k = intFlag(NAME, flags, 'k', { min: 1, max: 1000, fallback: 10 });
    const ef = intFlag(NAME, flags, 'ef', { min: 1, max: 4096 });
    const maxStalenessMs = intFlag(NAME, flags, 'max-staleness-ms', { min: 0, max: 86_400_000 });
    const waitMs = intFlag(NAME, flags, 'wait-ms', { min: 0, max: 60_000 });
    const model = stringFlag(flags, 'model');
    const res = await client.query(collection, {
      vector,
      k,
      ...(ef !== undefined ? { ef } : {}),
      ...(filter !== undefined ? { filter: filter as Filter } : {}),
      ...(consistency ? { consistency } : {}),
      ...(maxStalenessMs !== undefined ? { maxStalenessMs } : {}),
      ...(waitMs !== undefined ? { waitMs } : {}),
      ...(token ? { token } : {}),
      ...(model ? { model } : {}),
    });
    ctx.stdout.write(
      flags.json ? `${JSON.stringify(res, null, 2)}\n` : render(res, ctx.stdout.columns),
    );
    return 0;
  },
};

async function queryVector(
  client: MeridianClient,
  collection: string,
  flags: Flags,
): Promise<number[] | Float32Array> {
  const row = intFlag(NAME, flags, 'id-of-row', { min: 0, max: Number.MAX_SAFE_INTEGER });
  const file = stringFlag(flags, 'file');
  if (flags.vector !== undefined) {
    if (row !== undefined || file !== undefined)
      throw new UsageError('give either --vector or --id-of-row with --file, not both', NAME);
    const v = jsonFlag(NAME, flags, 'vector');
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'number'))
      throw new UsageError('--vector must be a non-empty JSON array of numbers', NAME);
    return v as number[];
  }
  if (row === undefined || file === undefined)
    throw new UsageError(
      'a query vector is required: --vector JSON, or --id-of-row N --file F',
      NAME,
    );
  // Loaded only here: the file readers pull in index/ (Arrow), which --vector does not need.
  const { formatOf, readPointFile, rowVector } = await import('../point-files.ts');
  let arrowDim: number | undefined;
  if (formatOf(file) === 'arrow') {
    const info = await client.getCollection(collection);
    if (!info) throw new UsageError(`collection ${collection} does not exist`, NAME);
    arrowDim = info.dim;
  }
  const points = await readPointFile(file, {
    idPrefix: '',
    ...(arrowDim !== undefined ? { arrowDim } : {}),
  });
  return rowVector(points, row);
}

function render(res: QueryResponse, columns: number | undefined): string {
  const metaWidth = Math.max(20, (columns ?? 100) - 40);
  const table =
    res.results.length === 0
      ? '(no results)\n'
      : renderTable(
          ['#', 'id', 'score', 'metadata'],
          res.results.map((h, i) => [
            i + 1,
            h.id,
            Number(h.score.toFixed(6)),
            h.metadata === null ? null : truncate(JSON.stringify(h.metadata), metaWidth),
          ]),
        );
  return (
    table +
    `served by ${res.region}/${res.node}  generation ${res.generation} v${res.version}  ` +
    `appliedSeq ${res.appliedSeq}  stalenessMs ${res.stalenessMs}  consistency ${res.consistency}\n` +
    `token ${res.token}\n`
  );
}
