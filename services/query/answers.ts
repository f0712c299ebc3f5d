import type { QueryAnswer } from '../http/fast-query.ts';
import type { ServiceMetrics } from '../http/metrics.ts';
import { ApiError } from '../http/errors.ts';
import { parseLocalQueryBody } from './query-body.ts';
import { serveLocal } from './serve-local.ts';
import type { LocalQueryContext } from './serve-local.ts';

/**
 * Runs one query's answer and observes its latency once, labelled with its level, the
 * region that answered (`failedIn` when it failed: a node's own region, or `none` on a
 * router) and its outcome: the one latency wrapper of every query path.
 */
export async function observed(
  metrics: ServiceMetrics,
  started: number,
  level: string,
  failedIn: string,
  run: () => Promise<{ text: string; region: string }>,
): Promise<string> {
  let region = failedIn;
  let outcome = 'error';
  try {
    const answer = await run();
    region = answer.region;
    outcome = 'ok';
    return answer.text;
  } finally {
    metrics.queryLatency.observe({ level, region, outcome }, (performance.now() - started) / 1000);
  }
}

/** A query answered from this node's own replica (a follower, the primary, a forwarded query). */
export function localAnswer(ctx: LocalQueryContext, metrics: ServiceMetrics): QueryAnswer {
  return (collection, json, _header, started) => {
    const body = parseLocalQueryBody(json);
    return observed(metrics, started, body.consistency, ctx.replica.region, async () => ({
      text: JSON.stringify(await serveLocal(ctx, collection, body)),
      region: ctx.replica.region,
    }));
  };
}

/**
 * The one `wrong_region` refusal: a collection whose placement leaves out `region` is not
 * served there (404, naming the regions it lives in).
 */
export function assertPlacedIn(
  collection: string,
  placement: readonly string[] | null,
  region: string,
): void {
  if (placement && !placement.includes(region)) {
    throw new ApiError(
      'wrong_region',
      `collection ${collection} is not placed in region ${region}; it lives in ${placement.join(', ')}`,
      { placement: [...placement] },
    );
  }
}
