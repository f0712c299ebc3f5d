import type { Hono } from 'hono';
import type { ClusterState } from '../../sync/index.ts';
import type { RegionsResponse } from '../api.ts';
import { mountQueryRoute } from '../endpoints/query-route.ts';
import type { FastQueryPath, QueryAnswer } from '../http/fast-query.ts';
import { requireRole } from '../http/auth.ts';
import type { KeyRing } from '../http/auth.ts';
import { ApiError } from '../http/errors.ts';
import type { ServiceMetrics } from '../http/metrics.ts';
import { forward } from './forward.ts';
import { FORWARDED_HEADER } from './query-router.ts';
import type { QueryRouter } from './query-router.ts';
import { localAnswer, observed } from '../query/answers.ts';
import type { LocalQueryContext } from '../query/serve-local.ts';
import { parseQueryBody } from '../query/query-body.ts';
import type { RttProber } from './rtt-prober.ts';

export interface RouterRoutesOptions {
  /** The role's fast query path (decision 0010): the query route is mounted on it too. */
  fast: FastQueryPath;
  router: QueryRouter;
  state: ClusterState;
  prober: RttProber;
  keys: KeyRing;
  metrics: ServiceMetrics;
  region: string;
  /** The primary's base URL, when known. */
  primaryUrl: () => string | null;
  forwardTimeoutMs: number;
  /** Serve GET /v1/collections locally (a hosted replica) instead of asking the primary. */
  localReads: boolean;
  /** The hosted replica, when this router has one. */
  local: LocalQueryContext | null;
}

/** The router's HTTP surface: writes forwarded to the primary, queries routed by level, `/v1/regions`. */
export function routerRoutes(app: Hono, o: RouterRoutesOptions): void {
  const toPrimary = async (c: { req: { raw: Request; url: string } }) => {
    const base = o.primaryUrl();
    if (!base)
      throw new ApiError(
        'primary_unavailable',
        'the primary has not been heard from; writes cannot be forwarded',
      );
    const u = new URL(c.req.url);
    const raw = c.req.raw;
    return forward(
      `${base}${u.pathname}${u.search}`,
      {
        method: raw.method,
        headers: raw.headers,
        body: raw.method === 'GET' ? null : await raw.arrayBuffer(),
      },
      { timeoutMs: o.forwardTimeoutMs, unreachable: 'primary_unavailable', what: 'the primary' },
    );
  };
  app.put('/v1/collections/:name', requireRole(o.keys, 'admin'), (c) => toPrimary(c));
  app.post('/v1/collections/:name/points', requireRole(o.keys, 'write'), (c) => toPrimary(c));
  app.post('/v1/collections/:name/points/delete', requireRole(o.keys, 'write'), (c) =>
    toPrimary(c),
  );
  app.post('/v1/collections/:name/generations', requireRole(o.keys, 'admin'), (c) => toPrimary(c));
  app.post('/v1/collections/:name/generations/:model/activate', requireRole(o.keys, 'admin'), (c) =>
    toPrimary(c),
  );
  app.delete('/v1/collections/:name/generations/:model', requireRole(o.keys, 'admin'), (c) =>
    toPrimary(c),
  );
  app.post('/v1/cutovers', requireRole(o.keys, 'admin'), (c) => toPrimary(c));
  app.get('/v1/activations/:id', requireRole(o.keys, 'admin'), (c) => toPrimary(c));
  if (!o.localReads) {
    app.get('/v1/collections', requireRole(o.keys, 'read'), (c) => toPrimary(c));
    app.get('/v1/collections/:name', requireRole(o.keys, 'read'), (c) => toPrimary(c));
    // Read by id: the primary answers it at every level (a hosted replica answers it here).
    app.post('/v1/collections/:name/points/get', requireRole(o.keys, 'read'), (c) => toPrimary(c));
    app.get('/v1/collections/:name/points/:id', requireRole(o.keys, 'read'), (c) => toPrimary(c));
  }

  const forwarded = o.local ? localAnswer(o.local, o.metrics) : null;
  const answer: QueryAnswer = async (collection, json, header, started) => {
    // Regression: a router hosting a replica announces its own URL, so other routers
    // forward queries (with a resolved minSeq) to it; it used to re-route them and reject
    // minSeq as an unknown field (400). A forwarded query is served by the hosted replica.
    if (forwarded && header(FORWARDED_HEADER)) return forwarded(collection, json, header, started);
    const body = parseQueryBody(json);
    return observed(o.metrics, started, body.consistency, 'none', async () => {
      const res = await o.router.route(collection, body, header('authorization') ?? '');
      return { text: JSON.stringify(res), region: res.region };
    });
  };
  mountQueryRoute(app, o.fast, o.keys, answer);

  app.get('/v1/regions', requireRole(o.keys, 'read'), (c) => {
    const now = Date.now();
    const beacon = o.state.staleness.lastBeacon;
    const body: RegionsResponse = {
      region: o.region,
      primary: beacon
        ? {
            region: beacon.region,
            node: beacon.node,
            url: beacon.url ?? null,
            lastSeq: beacon.lastSeq,
            heardAgoMs: Math.round(o.state.staleness.silenceMs(now)),
          }
        : null,
      replicas: o.state.all().map((r) => {
        const s = o.state.staleness.stalenessMs(r.appliedSeq, now);
        return {
          region: r.heartbeat.region,
          node: r.heartbeat.node,
          role: r.heartbeat.role,
          url: r.heartbeat.url ?? null,
          healthy:
            o.state.isLive(r, now) &&
            o.prober.reachable(r.heartbeat.region, r.heartbeat.node) &&
            !r.heartbeat.storageError,
          error: r.heartbeat.storageError ?? null,
          rttMs: round(o.prober.rtt(r.heartbeat.region, r.heartbeat.node)),
          appliedSeq: r.appliedSeq,
          stalenessMs: Number.isFinite(s) ? Math.round(s) : -1,
          lastHeartbeatAgoMs: Math.round(now - r.heardAt),
          versions: r.heartbeat.collections.map((x) => ({
            collection: x.collection,
            generation: x.generation,
            state: x.state ?? null,
            version: x.version,
            points: x.points,
            error: x.error?.message ?? null,
          })),
        };
      }),
    };
    return c.json(body);
  });
}

function round(x: number | null): number | null {
  return x === null ? null : Math.round(x * 100) / 100;
}
