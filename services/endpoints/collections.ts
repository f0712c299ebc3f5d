import type { Hono } from 'hono';
import { coverageOf } from '../../sync/index.ts';
import type { ClusterState, Primary, Replica } from '../../sync/index.ts';
import { CreateCollectionBody } from '../api.ts';
import { readJson } from '../http/app.ts';
import { requireRole } from '../http/auth.ts';
import type { KeyRing } from '../http/auth.ts';
import { ApiError } from '../http/errors.ts';
import { assertCollectionName, parseBody } from '../validate.ts';

/** `GET /v1/collections[/:name]`: settings, generations, versions, and each replica's state. */
export function collectionReadRoutes(
  app: Hono,
  o: { replica: Replica; state: ClusterState; keys: KeyRing },
): void {
  const describe = async (name: string) => {
    const settings = o.replica.catalog.getCollection(name);
    if (!settings) return null;
    const generations = await Promise.all(
      o.replica.catalog.listGenerations(name).map(async (g) => {
        const served = o.replica.served(name, g.model);
        // Counted by the view after every write applied before this request.
        const stats = served ? await served.view.stats().catch(() => served.view.lastStats) : null;
        // A staging or retired generation against the active one, as this replica holds them.
        const coverage =
          g.state === 'active'
            ? null
            : await coverageOf((m) => o.replica.served(name, m), g.model).catch(() => null);
        return {
          model: g.model,
          dim: g.dim,
          state: g.state,
          version: served?.version ?? 0,
          points: stats?.points ?? 0,
          // This replica's: served from HNSW segments, or from the memtable (not sealed yet).
          sealedPoints: stats?.sealedPoints ?? 0,
          memtablePoints: stats?.memtablePoints ?? 0,
          segments: stats?.segments ?? 0,
          coverage: coverage && {
            of: coverage.of,
            ratio: coverage.ratio,
            missing: coverage.missing,
            extra: coverage.extra,
            missingSample: coverage.missingSample,
            extraSample: coverage.extraSample,
          },
        };
      }),
    );
    const replicas = o.state.all().map((r) => ({
      region: r.heartbeat.region,
      node: r.heartbeat.node,
      role: r.heartbeat.role,
      appliedSeq: r.appliedSeq,
      stalenessMs: finiteOrNull(o.state.staleness.stalenessMs(r.appliedSeq)),
      healthy: o.state.isLive(r),
      versions: r.heartbeat.collections
        .filter((c) => c.collection === name)
        .map((c) => ({
          generation: c.generation,
          version: c.version,
          error: c.error?.message ?? null,
        })),
    }));
    return { ...settings, generations, replicas: replicas.filter((r) => r.versions.length > 0) };
  };
  app.get('/v1/collections', requireRole(o.keys, 'read'), async (c) =>
    c.json({
      collections: await Promise.all(
        o.replica.catalog.listCollections().map((s) => describe(s.name)),
      ),
    }),
  );
  app.get('/v1/collections/:name', requireRole(o.keys, 'read'), async (c) => {
    const d = await describe(c.req.param('name'));
    if (!d) throw new ApiError('not_found', `no collection named ${c.req.param('name')}`);
    return c.json(d);
  });
}

/** `PUT /v1/collections/:name` on the primary (admin). 201 when created, 200 when identical settings existed. */
export function collectionWriteRoutes(app: Hono, o: { primary: Primary; keys: KeyRing }): void {
  app.put('/v1/collections/:name', requireRole(o.keys, 'admin'), async (c) => {
    const name = assertCollectionName(c.req.param('name'));
    const body = parseBody(CreateCollectionBody, await readJson(c.req));
    const existed = o.primary.catalog.getCollection(name) !== null;
    const settings = await o.primary.createCollection({
      name,
      dim: body.dim,
      metric: body.metric,
      model: body.model,
      ...(body.hnsw ? { hnsw: body.hnsw } : {}),
      ...(body.placement !== undefined ? { placement: body.placement } : {}),
      ...(body.maxStalenessMs !== undefined ? { maxStalenessMs: body.maxStalenessMs } : {}),
      ...(body.defaultAck ? { defaultAck: body.defaultAck } : {}),
    });
    return c.json(settings, existed ? 200 : 201);
  });
}

function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? Math.round(x) : null;
}
