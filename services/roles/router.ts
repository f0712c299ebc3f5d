import { lastCollectionDef } from '../../sync/index.ts';
import type { Replica } from '../../sync/index.ts';
import { QueryRouter } from '../router/query-router.ts';
import type { CollectionRouting } from '../router/query-router.ts';
import { routerRoutes } from '../router/router-routes.ts';
import { RttProber } from '../router/rtt-prober.ts';
import { collectionReadRoutes } from '../endpoints/collections.ts';
import { localPointReadRoutes } from '../endpoints/query.ts';
import type { Foundation, StartOptions } from './foundation.ts';
import { nodeReplica } from './follower.ts';
import { Gauges, localContext, roleApp } from './role.ts';
import type { Role } from './role.ts';

/**
 * The router role: sends each query to the nearest replica fresh enough for it (RTT
 * probes, hedging), forwards writes to the primary, and may host a replica of its own.
 */
export function startRouter(f: Foundation, options: StartOptions = {}): Role {
  const { config } = f;
  const replica = config.router.hostReplica ? nodeReplica(f, options) : null;
  const local = replica ? localContext(f, replica, null) : null;
  const urlOf = (hb: { region: string; node: string; url?: string }) =>
    config.router.urlOverrides[`${hb.region}/${hb.node}`] ?? hb.url;
  const prober = new RttProber({
    urlOf,
    state: f.state,
    intervalMs: config.router.probeIntervalMs,
    self: replica ? { region: config.region, node: config.node } : null,
  });
  const router = new QueryRouter({
    state: f.state,
    prober,
    tokens: f.tokens,
    local,
    commitSeq: () => f.commitSeq(),
    region: config.region,
    hedgeAfterMs: config.router.hedgeAfterMs,
    urlOf,
    defaultWaitMs: config.query.defaultWaitMs,
    forwardTimeoutMs: 10_000,
    collectionRouting: collectionRouting(f, replica),
  });
  const gauges = new Gauges(f, () => ({ primary: null, replica }));
  const { app, fast } = roleApp(f, () => replica, gauges);
  routerRoutes(app, {
    fast,
    router,
    state: f.state,
    prober,
    keys: f.keys,
    metrics: f.metrics,
    region: config.region,
    primaryUrl: () => {
      const b = f.state.staleness.lastBeacon;
      return config.router.primaryUrl ?? (b ? (urlOf(b) ?? null) : null);
    },
    forwardTimeoutMs: 30_000,
    localReads: replica !== null,
    local,
  });
  if (replica) collectionReadRoutes(app, { replica, state: f.state, keys: f.keys });
  if (local) localPointReadRoutes(app, { ctx: local, keys: f.keys });
  return {
    name: 'router',
    app,
    fast,
    primary: null,
    replica,
    async start() {
      await replica?.start();
      prober.start();
    },
    async stop() {
      prober.stop();
      await replica?.stop();
    },
  };
}

/**
 * A collection's placement, staleness bound and models, in memory on the hot path: the
 * hosted replica's views, else a 1 s cache of the published definition (a SQLite read per
 * query cost ~0.2 ms, bench/query).
 */
function collectionRouting(f: Foundation, replica: Replica | null) {
  const defs = new Map<string, { at: number; info: CollectionRouting | null }>();
  return async (name: string, fresh = false): Promise<CollectionRouting | null> => {
    const served = replica?.views.all().filter((s) => s.settings.name === name) ?? [];
    if (served.length > 0 && !fresh) {
      const s = served[0]!.settings;
      return {
        placement: s.placement,
        maxStalenessMs: s.maxStalenessMs,
        models: served.map((x) => x.generation.model),
      };
    }
    const cached = defs.get(name);
    if (cached && !fresh && Date.now() - cached.at < 1_000) return cached.info;
    const def = await lastCollectionDef(f.link.jsm, name);
    const info = def
      ? {
          placement: def.settings.placement,
          maxStalenessMs: def.settings.maxStalenessMs,
          models: def.generations.map((g) => g.model),
        }
      : null;
    defs.set(name, { at: Date.now(), info });
    return info;
  };
}
