import type { Hono } from 'hono';
import { JSON_TYPE, readJson } from '../http/app.ts';
import { QUERY_ROUTE, fastQueryPath } from '../http/fast-query.ts';
import type { QueryAnswer } from '../http/fast-query.ts';
import { requireRole } from '../http/auth.ts';
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
  app.post(QUERY_ROUTE, requireRole(o.keys, 'read'), async (c) => {
    const started = performance.now();
    const json = await readJson(c.req);
    const text = await answer(c.req.param('name'), json, (n) => c.req.header(n), started);
    return c.body(text, 200, JSON_TYPE);
  });
  fastQueryPath(app)?.route(o.keys, answer);
}
