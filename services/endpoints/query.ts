import type { Hono } from 'hono';
import { mountQueryRoute } from './query-route.ts';
import type { FastQueryPath } from '../http/fast-query.ts';
import { localAnswer } from '../query/answers.ts';
import type { KeyRing } from '../http/auth.ts';
import type { ServiceMetrics } from '../http/metrics.ts';
import { GetPointQuery, GetPointsBody } from '../api.ts';
import type { GetPointResponse } from '../api.ts';
import { ApiError } from '../http/errors.ts';
import { readJson } from '../http/app.ts';
import { requireRole } from '../http/auth.ts';
import { getLocal } from '../query/serve-local.ts';
import { parseBody } from '../validate.ts';
import type { LocalQueryContext } from '../query/serve-local.ts';

/** `POST /v1/collections/:name/query` answered from this node's own replica. */
export function localQueryRoutes(
  app: Hono,
  o: { ctx: LocalQueryContext; keys: KeyRing; metrics: ServiceMetrics; fast: FastQueryPath },
): void {
  mountQueryRoute(app, o.fast, o.keys, localAnswer(o.ctx, o.metrics));
}

/**
 * `POST /v1/collections/:name/points/get` answered from this node's own replica: points by
 * id at a consistency level (the same freshness rules as a query). A router without a
 * replica of its own does not serve it yet: ask a replica (or the primary) directly.
 */
export function localPointReadRoutes(
  app: Hono,
  o: { ctx: LocalQueryContext; keys: KeyRing },
): void {
  app.post('/v1/collections/:name/points/get', requireRole(o.keys, 'read'), async (c) => {
    const body = parseBody(GetPointsBody, await readJson(c.req));
    return c.json(await getLocal(o.ctx, c.req.param('name'), body));
  });
  app.get('/v1/collections/:name/points/:id', requireRole(o.keys, 'read'), async (c) => {
    const q = parseBody(GetPointQuery, c.req.query());
    const name = c.req.param('name');
    const id = c.req.param('id');
    const body = parseBody(GetPointsBody, { ...q, ids: [id] });
    const { points, missing: _missing, ...report } = await getLocal(o.ctx, name, body);
    const point = points[0];
    if (!point) {
      // The report says how far this replica was, so "not here yet" can be told from
      // "deleted": compare its appliedSeq with the write's seq.
      throw new ApiError(
        'not_found',
        `no point ${JSON.stringify(id)} in ${name} on ${report.region}/${report.node} at version ${report.version}, appliedSeq ${report.appliedSeq} (it is absent or deleted there)`,
        report,
      );
    }
    return c.json({ point, ...report } satisfies GetPointResponse);
  });
}
