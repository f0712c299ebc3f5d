import type { Hono } from 'hono';
import { mountQueryRoute } from './query-route.ts';
import type { QueryAnswer } from '../http/fast-query.ts';
import type { KeyRing } from '../http/auth.ts';
import type { ServiceMetrics } from '../http/metrics.ts';
import { serveLocal } from '../query/serve-local.ts';
import type { LocalQueryContext } from '../query/serve-local.ts';
import { parseLocalQueryBody } from '../query/query-body.ts';

/** `POST /v1/collections/:name/query` answered from this node's own replica. */
export function localQueryRoutes(
  app: Hono,
  o: { ctx: LocalQueryContext; keys: KeyRing; metrics: ServiceMetrics },
): void {
  const answer: QueryAnswer = async (collection, json, _header, started) => {
    const body = parseLocalQueryBody(json);
    let outcome = 'error';
    try {
      const text = JSON.stringify(await serveLocal(o.ctx, collection, body));
      outcome = 'ok';
      return text;
    } finally {
      o.metrics.queryLatency.observe(
        { level: body.consistency, region: o.ctx.replica.region, outcome },
        (performance.now() - started) / 1000,
      );
    }
  };
  mountQueryRoute(app, o.keys, answer);
}
