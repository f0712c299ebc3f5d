import type { Hono } from 'hono';
import { readJson } from '../http/app.ts';
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
  app.post('/v1/collections/:name/query', requireRole(o.keys, 'read'), async (c) => {
    const started = performance.now();
    const body = parseLocalQueryBody(await readJson(c.req));
    let outcome = 'error';
    try {
      const res = await serveLocal(o.ctx, c.req.param('name'), body);
      outcome = 'ok';
      return c.json(res);
    } finally {
      o.metrics.queryLatency.observe(
        { level: body.consistency, region: o.ctx.replica.region, outcome },
        (performance.now() - started) / 1000,
      );
    }
  });
}
