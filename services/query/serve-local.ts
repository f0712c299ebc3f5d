import type { ClusterState, Replica, ServedGeneration } from '../../sync/index.ts';
import type {
  ConsistencyLevel,
  GetPointsBody,
  GetPointsResponse,
  QueryBody,
  QueryResponse,
} from '../api.ts';
import { until } from '../../lib/wait.ts';
import { assertPlacedIn } from './answers.ts';
import { ApiError } from '../http/errors.ts';
import type { TokenCodec } from '../tokens.ts';

/** Everything a node needs to answer a query from its own replica. */
export interface LocalQueryContext {
  replica: Replica;
  state: ClusterState;
  tokens: TokenCodec;
  /** The WAL position this node's answers reflect (the primary's is its commit position). */
  readSeq: () => number;
  /** Asks the primary for its last committed seq (read-index for `strong`). */
  commitSeq: () => Promise<number>;
  /** Default time a query may wait for this replica to catch up (ms). */
  defaultWaitMs: number;
}

/**
 * A query as a replica serves it: `minSeq` is a position a router in this process already
 * resolved; `readIndex`, the same from a router elsewhere, signed (see LocalQueryBody).
 */
export type LocalQuery = QueryBody & { minSeq?: number; readIndex?: string };

/** What a read needs to say about where and how fresh it was served. */
export type ReadFreshness = Pick<
  QueryBody,
  'consistency' | 'maxStalenessMs' | 'token' | 'waitMs' | 'model'
> & { minSeq?: number; readIndex?: string };

/** A read admitted by {@link admit}: the generation to read, and what its answer reports. */
interface Admitted {
  served: ServedGeneration;
  /** Everything the answer reports, read when the read was admitted. */
  report: Omit<QueryResponse, 'results'>;
}

/**
 * Admits a read on this node's replica if — and only if — it is fresh enough for the
 * requested level; otherwise a 503 (`no_replica`) that says why, never older data.
 * strong: applied ≥ the primary's commit seq; session: applied ≥ the token's seq;
 * bounded: staleness ≤ maxStalenessMs; eventual: always. Each may wait up to `waitMs`.
 * The view read right after reflects at least the position the answer reports.
 */
async function admit(
  ctx: LocalQueryContext,
  collection: string,
  q: ReadFreshness,
  verifiedTokenSeq?: number,
): Promise<Admitted> {
  const served = resolveServed(ctx, collection, q.model);
  // A replica outside the placement holds the definition (an empty view), never the data:
  // answering from it would be an empty result served from a region the collection is not in.
  assertPlacedIn(collection, served.settings.placement, ctx.replica.region);
  const tokenSeq = verifiedTokenSeq ?? (q.token ? ctx.tokens.decode(q.token) : 0);
  const level: ConsistencyLevel = q.consistency;
  const waitMs = q.waitMs ?? ctx.defaultWaitMs;
  const bound = q.maxStalenessMs ?? served.settings.maxStalenessMs;

  const resolved = q.minSeq ?? (q.readIndex ? ctx.tokens.decode(q.readIndex) : undefined);
  let needSeq = resolved ?? 0;
  if (level === 'strong' && resolved === undefined) needSeq = await ctx.commitSeq();
  if (level === 'session') needSeq = Math.max(needSeq, tokenSeq);
  if (needSeq > 0)
    await waitFor(
      ctx,
      () => ctx.readSeq() >= needSeq,
      waitMs,
      () => `applied seq ${ctx.readSeq()} < required ${needSeq}`,
    );
  // The staleness a bounded read was admitted at is the one it reports: measured again
  // after the search, the clock may have moved it past the bound.
  let admitted: number | null = null;
  if (level === 'bounded') {
    await waitFor(
      ctx,
      () => (admitted = stalenessOf(ctx)) <= bound,
      waitMs,
      () => `staleness ${fmt(stalenessOf(ctx))} ms > bound ${bound} ms`,
    );
  }

  // Everything the answer reports is read when the read is asked: the view's answer
  // reflects this state (or a newer one), and the manifest may change while it runs on a thread.
  const applied = ctx.readSeq();
  // Which generation is active is part of that state (issue 14): chosen again now, after
  // the wait, so a read admitted past an activation's seq is served by its generation.
  // Regression: it was chosen on arrival, and a strong read asked right after a rollback
  // waited for the rollback's seq, then searched the generation it had just retired.
  const chosen =
    q.model || served.generation.state === 'active' ? served : resolveServed(ctx, collection);
  return {
    served: chosen,
    report: {
      region: ctx.replica.region,
      node: ctx.replica.node,
      generation: chosen.generation.model,
      version: chosen.version,
      appliedSeq: applied,
      stalenessMs: Math.round(Math.min(admitted ?? stalenessOf(ctx), 86_400_000)),
      consistency: level,
      token: ctx.tokens.encode(Math.max(tokenSeq, applied)),
    },
  };
}

/**
 * Answers a query from this node's replica if — and only if — it is fresh enough for the
 * requested level (see {@link admit}); otherwise a 503 that says why, never older data.
 */
export async function serveLocal(
  ctx: LocalQueryContext,
  collection: string,
  q: LocalQuery,
  /** The seq in `q.token`, when a router in this process has already verified it. */
  verifiedTokenSeq?: number,
): Promise<QueryResponse> {
  const { served, report } = await admit(ctx, collection, q, verifiedTokenSeq);
  const results = await served.view.search(q.vector, {
    k: q.k,
    ...(q.ef !== undefined ? { ef: q.ef } : {}),
    ...(q.filter ? { filter: q.filter } : {}),
  });
  return { results, ...report };
}

/**
 * Reads points by id from this node's replica, at a consistency level (the same rules as
 * a query): each id's live copy, or its id in `missing` when it is absent or deleted.
 */
export async function getLocal(
  ctx: LocalQueryContext,
  collection: string,
  q: GetPointsBody,
): Promise<GetPointsResponse> {
  const { served, report } = await admit(ctx, collection, q);
  const found = await served.view.get(q.ids);
  const points: GetPointsResponse['points'] = [];
  const missing: string[] = [];
  found.forEach((p, i) => {
    if (!p) missing.push(q.ids[i]!);
    else
      points.push({
        id: p.id,
        metadata: p.metadata,
        ...(q.withVector ? { vector: Array.from(p.vector) } : {}),
        sealed: p.sealed,
      });
  });
  return { points, missing, ...report };
}

function stalenessOf(ctx: LocalQueryContext): number {
  const applied = ctx.readSeq();
  // The primary's own answers reflect its commit position: never stale while it is serving.
  return ctx.state.staleness.stalenessMs(applied);
}

function fmt(ms: number): string {
  return Number.isFinite(ms) ? String(Math.round(ms)) : 'unknown';
}

/** The generation to serve, or the precise reason there is none (404/409). */
export function resolveServed(
  ctx: { replica: Replica },
  collection: string,
  model?: string,
): ServedGeneration {
  const served = ctx.replica.served(collection, model);
  if (served) return served;
  const settings = ctx.replica.catalog.getCollection(collection);
  if (!settings) throw new ApiError('not_found', `no collection named ${collection}`);
  assertPlacedIn(collection, settings.placement, ctx.replica.region);
  if (model) {
    const models = ctx.replica.catalog.listGenerations(collection).map((g) => g.model);
    throw new ApiError(
      'model_mismatch',
      `collection ${collection} has no generation ${model} here (has: ${models.join(', ')})`,
      {
        models,
      },
    );
  }
  throw new ApiError('not_found', `collection ${collection} has no active generation`);
}

async function waitFor(
  ctx: LocalQueryContext,
  ok: () => boolean,
  waitMs: number,
  why: () => string,
): Promise<void> {
  if (ok()) return;
  const onChange = [
    (wake: () => void) => ctx.replica.onChange(wake),
    (wake: () => void) => ctx.state.onChange(wake),
  ];
  if (waitMs > 0 && (await until(ok, { timeoutMs: waitMs, onChange }))) return;
  throw new ApiError(
    'no_replica',
    `${ctx.replica.region}/${ctx.replica.node} is not fresh enough: ${why()}`,
    {
      region: ctx.replica.region,
      node: ctx.replica.node,
    },
  );
}
