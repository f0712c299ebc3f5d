import { existsSync, renameSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { serve } from '@hono/node-server';
import type { ServerType } from '@hono/node-server';
import { closeIndexWorkers } from '../index/index.ts';
import { isCatalogError, openCatalog } from '../catalog/index.ts';
import type { Catalog } from '../catalog/index.ts';
import {
  ClusterState,
  Primary,
  Replica,
  connectNats,
  ensureMirrors,
  leafLayout,
  ensureStreams,
  lastCollectionDef,
  requestCommitPosition,
} from '../sync/index.ts';
import type { ApplyHooksOptions, NatsLink } from '../sync/index.ts';
import type { ServiceConfig } from './config.ts';
import { createBaseApp } from './http/app.ts';
import { ServiceGate } from './http/gate.ts';
import { KeyRing } from './http/auth.ts';
import { withFastQueryPath } from './http/fast-query.ts';
import { createLogger } from './http/logger.ts';
import type { Logger } from './http/logger.ts';
import { ServiceMetrics } from './http/metrics.ts';
import type { LocalQueryContext } from './query/serve-local.ts';
import { QueryRouter } from './router/query-router.ts';
import type { CollectionInfo } from './router/query-router.ts';
import { routerRoutes } from './router/router-routes.ts';
import { RttProber } from './router/rtt-prober.ts';
import { collectionReadRoutes, collectionWriteRoutes } from './routes/collections.ts';
import { pointRoutes } from './routes/points.ts';
import { localPointReadRoutes, localQueryRoutes } from './routes/query.ts';
import { TokenCodec } from './tokens.ts';

/** A running Meridian service. */
export interface RunningNode {
  config: ServiceConfig;
  /** Base URL it answers on. */
  url: string;
  logger: Logger;
  /** Set for the primary. */
  primary: Primary | null;
  /** The replica in this process (primary, follower, or one hosted by a router). */
  replica: Replica | null;
  state: ClusterState;
  /** Graceful stop: finish in-flight requests, drain consumers, close the database. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a primary, follower or router from its configuration: listens first (so the
 * URL it announces is known), then opens the catalog, connects to its region's NATS,
 * starts the node and only then reports ready on `/readyz`; until then every request is
 * answered 503 by its {@link ServiceGate}. `options.signal` aborts a start in progress (a
 * SIGTERM during start-up): what was started is stopped and the call rejects.
 * `options.hooks` are fault and delay seams for tests (never set by the CLI).
 */
export async function startNode(
  config: ServiceConfig,
  options: {
    hooks?: ApplyHooksOptions;
    signal?: AbortSignal;
    /**
     * Set the catalog aside (as `catalog.db.damaged-<time>`) and start from an empty one:
     * the node rebuilds it from the streams (segments on disk are verified and reused).
     */
    rebuild?: boolean;
  } = {},
): Promise<RunningNode> {
  const aborted = () => {
    if (options.signal?.aborted) throw new Error('start-up aborted (stop requested)');
  };
  const logger = createLogger({
    level: config.log.level,
    name: `meridian-${config.role}`,
    base: { region: config.region, node: config.node },
  });
  const metrics = new ServiceMetrics({
    service: config.role,
    region: config.region,
    node: config.node,
  });
  const keys = new KeyRing(config.auth.keys);
  const tokens = new TokenCodec(config.tokenSecret);
  let ready = false;
  const gauges: { refresh?: () => void } = {};
  const app = createBaseApp({
    logger,
    metrics,
    maxBodyBytes: config.limits.maxBodyBytes,
    notReady: () => (ready ? (replica?.storageError ?? null) : 'starting'),
    collect: () => gauges.refresh?.(),
  });

  // Requests that arrive before the node is ready are answered by the gate (503), never
  // by the app: its router must not be built while routes are still being registered.
  const gate = new ServiceGate(async () => {
    gauges.refresh?.();
    return { contentType: metrics.registry.contentType, text: await metrics.registry.metrics() };
  });
  const server = await listen(
    app.fetch,
    config.http.host,
    config.http.port,
    withFastQueryPath(app, gate),
  );
  const port = (server.address() as AddressInfo).port;
  const url = config.publicUrl ?? `http://${config.http.host}:${port}`;

  const dataDir = resolve(config.dataDir ?? join('.data', `${config.region}-${config.node}`));
  await mkdir(dataDir, { recursive: true });
  let catalog: Catalog | null = null;
  let link: NatsLink | null = null;
  let primary: Primary | null = null;
  let replica: Replica | null = null;
  let prober: RttProber | null = null;
  const natsName = `meridian-${config.role}-${config.region}-${config.node}`;
  const { hubDomain, ...natsOptions } = config.nats;
  try {
    aborted();
    link = await connectNats({ ...natsOptions, name: natsName });
    // A follower region's server mirrors the hub; the hub's own nodes set up the streams.
    if (hubDomain) await ensureMirrors(link.jsm, hubDomain);
    else await ensureStreams(link.jsm);
    aborted();
  } catch (err) {
    server.close();
    await link?.close();
    throw err;
  }
  const state = new ClusterState({ nc: link.nc, js: link.js });
  const commitSeq = async () => (await requestCommitPosition(link!.nc)).seq;
  const log = (msg: string, fields?: Record<string, unknown>) => logger.warn(fields ?? {}, msg);
  const onManifestApplied = (e: { collection: string; version: number; ms: number }) => {
    metrics.applyDuration.observe({ collection: e.collection }, e.ms / 1000);
    logger.info(e, 'manifest applied');
  };

  const hostsReplica = config.role !== 'router' || config.router.hostReplica;
  if (hostsReplica) {
    const file = join(dataDir, 'catalog.db');
    try {
      if (options.rebuild) setAside(file, logger);
      catalog = openCatalog(file);
    } catch (err) {
      server.close();
      await link.close();
      if (!isCatalogError(err, 'catalog_corrupt')) throw err;
      throw new Error(
        `${(err as Error).message}. The catalog is rebuilt from the streams by starting this node once with --rebuild (\`meridian ${config.role} --config FILE --rebuild\`, or \`node services/start.mjs --config FILE --rebuild\`): the damaged file is kept as catalog.db.damaged-<time>.`,
        { cause: err },
      );
    }
  }

  if (config.role === 'primary') {
    primary = new Primary({
      link,
      catalog: catalog!,
      dataDir,
      region: config.region,
      node: config.node,
      regions: config.regions ?? [config.region],
      seal: config.seal,
      heartbeatMs: config.heartbeatMs,
      beaconMs: config.beaconMs,
      ackTimeoutMs: config.ackTimeoutMs,
      leaseTtlMs: config.leaseTtlMs,
      searchThreads: config.query.searchThreads,
      url,
      log,
      info: (msg: string, fields?: Record<string, unknown>) => logger.info(fields ?? {}, msg),
      onManifestApplied,
      onStorageError: () => metrics.storageErrors.inc(),
      ...(options.hooks ? { hooks: options.hooks } : {}),
    });
    replica = primary.replica;
  } else if (hostsReplica) {
    replica = new Replica({
      link,
      catalog: catalog!,
      dataDir,
      region: config.region,
      node: config.node,
      // A follower region's server holds only its placed collections' mirrors (ADR 0011).
      ...(hubDomain ? { layout: leafLayout(hubDomain) } : {}),
      heartbeatMs: config.heartbeatMs,
      searchThreads: config.query.searchThreads,
      url,
      log,
      onManifestApplied,
      onStorageError: () => metrics.storageErrors.inc(),
      ...(options.hooks ? { hooks: options.hooks } : {}),
    });
  }

  const local: LocalQueryContext | null = replica
    ? {
        replica,
        state,
        tokens,
        readSeq: primary ? () => primary!.readSeq : () => replica!.appliedSeq,
        commitSeq: primary ? async () => primary!.commitPosition.seq : commitSeq,
        defaultWaitMs: config.query.defaultWaitMs,
      }
    : null;

  if (config.role === 'router') {
    const urlOf = (hb: { region: string; node: string; url?: string }) =>
      config.router.urlOverrides[`${hb.region}/${hb.node}`] ?? hb.url;
    prober = new RttProber({
      urlOf,
      state,
      intervalMs: config.router.probeIntervalMs,
      self: replica ? { region: config.region, node: config.node } : null,
    });
    const defs = new Map<string, { at: number; info: CollectionInfo | null }>();
    const router = new QueryRouter({
      state,
      prober,
      tokens,
      local,
      commitSeq,
      region: config.region,
      hedgeAfterMs: config.router.hedgeAfterMs,
      urlOf,
      defaultWaitMs: config.query.defaultWaitMs,
      forwardTimeoutMs: 10_000,
      // In memory on the hot path: the hosted replica's views, else a 1 s cache of the
      // published definition (a SQLite read per query cost ~0.2 ms, bench/query).
      collectionInfo: async (name) => {
        const served = replica?.views.all().filter((s) => s.settings.name === name) ?? [];
        if (served.length > 0) {
          const s = served[0]!.settings;
          return {
            placement: s.placement,
            maxStalenessMs: s.maxStalenessMs,
            models: served.map((x) => x.generation.model),
          };
        }
        const cached = defs.get(name);
        if (cached && Date.now() - cached.at < 1_000) return cached.info;
        const def = await lastCollectionDef(link!.jsm, name);
        const info = def
          ? {
              placement: def.settings.placement,
              maxStalenessMs: def.settings.maxStalenessMs,
              models: def.generations.map((g) => g.model),
            }
          : null;
        defs.set(name, { at: Date.now(), info });
        return info;
      },
    });
    routerRoutes(app, {
      router,
      state,
      prober,
      keys,
      metrics,
      region: config.region,
      primaryUrl: () => {
        const b = state.staleness.lastBeacon;
        return config.router.primaryUrl ?? (b ? (urlOf(b) ?? null) : null);
      },
      forwardTimeoutMs: 30_000,
      localReads: replica !== null,
      local,
    });
    if (replica) collectionReadRoutes(app, { replica, state, keys });
    if (local) localPointReadRoutes(app, { ctx: local, keys });
  } else {
    collectionReadRoutes(app, { replica: replica!, state, keys });
    if (primary) {
      collectionWriteRoutes(app, { primary, keys });
      pointRoutes(app, { primary, keys, tokens });
    }
    localQueryRoutes(app, { ctx: local!, keys, metrics });
    localPointReadRoutes(app, { ctx: local!, keys });
  }

  const sealerSeen = new Map<string, number>();
  gauges.refresh = () => {
    if (primary) metrics.walSeq.set({ kind: 'committed' }, primary.commitPosition.seq);
    if (replica) metrics.walSeq.set({ kind: 'applied' }, replica.appliedSeq);
    if (replica) {
      const host = replica.viewHost;
      metrics.searchThreads.set({ state: 'configured' }, host?.threads ?? 0);
      metrics.searchThreads.set({ state: 'serving' }, host?.serving ?? 0);
      for (const s of replica.views.all()) {
        const labels = { collection: s.settings.name, generation: s.generation.model };
        const st = s.view.lastStats;
        metrics.points.set({ ...labels, state: 'sealed' }, st.sealedPoints);
        metrics.points.set({ ...labels, state: 'memtable' }, st.memtablePoints);
        metrics.segments.set(labels, st.segments);
      }
    }
    if (primary) {
      const now = primary.sealer.stats;
      const counts = {
        seals: now.seals,
        merges: now.merges,
        sealed_points: now.sealedPoints,
        merged_points: now.mergedPoints,
        segment_bytes: now.segmentBytes,
      };
      for (const [event, n] of Object.entries(counts)) {
        const delta = n - (sealerSeen.get(event) ?? 0);
        if (delta > 0) metrics.sealer.inc({ event }, delta);
        sealerSeen.set(event, n);
      }
    }
    for (const r of state.all()) {
      const s = state.staleness.stalenessMs(r.appliedSeq);
      for (const c of r.heartbeat.collections) {
        const labels = {
          collection: c.collection,
          region: r.heartbeat.region,
          node: r.heartbeat.node,
        };
        metrics.lagMs.set(labels, Number.isFinite(s) ? s : -1);
        const newest = Math.max(
          ...state
            .all()
            .flatMap((x) =>
              x.heartbeat.collections
                .filter((y) => y.collection === c.collection)
                .map((y) => y.version),
            ),
        );
        metrics.lagVersions.set(labels, newest - c.version);
      }
    }
  };

  // A stop asked during start-up stops what is starting; its start then rejects.
  const onAbort = () => void (primary ? primary.stop() : replica?.stop())?.catch(() => undefined);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    aborted();
    await state.start();
    if (primary) await primary.start();
    else if (replica) await replica.start();
    aborted();
    prober?.start();
  } catch (err) {
    server.close();
    // Its view threads end only once their loads in flight are done (never terminated).
    await (primary ? primary.stop() : replica?.stop())?.catch(() => undefined);
    state.stop();
    await link.close();
    catalog?.close();
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  ready = true;
  gate.open();
  logger.info({ url, dataDir, role: config.role }, 'meridian node ready');

  let stopping: Promise<void> | null = null;
  return {
    config,
    url,
    logger,
    primary,
    replica,
    state,
    stop() {
      stopping ??= (async () => {
        ready = false;
        gate.stopping();
        await new Promise<void>((r) => server.close(() => r()));
        prober?.stop();
        state.stop();
        if (primary) await primary.stop();
        else await replica?.stop();
        await link!.close();
        catalog?.close();
        logger.info('meridian node stopped');
      })();
      return stopping;
    },
  };
}

/** Moves a catalog (and its WAL and shared-memory files) aside, keeping it for inspection. */
function setAside(file: string, logger: Logger): void {
  if (!existsSync(file)) return;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  for (const suffix of ['', '-wal', '-shm']) {
    if (existsSync(file + suffix)) renameSync(file + suffix, `${file}.damaged-${stamp}${suffix}`);
  }
  logger.warn(
    { file, keptAs: `${file}.damaged-${stamp}` },
    'catalog set aside: rebuilding it from the streams',
  );
}

function listen(
  fetch: (req: Request) => Response | Promise<Response>,
  host: string,
  port: number,
  createServer: ReturnType<typeof withFastQueryPath>,
): Promise<ServerType> {
  return new Promise((resolveListen, reject) => {
    const server = serve({ fetch, hostname: host, port, createServer }, () =>
      resolveListen(server),
    );
    server.once('error', reject);
  });
}

/** Stops the shared index worker threads once no node in this process needs them. */
export { closeIndexWorkers };
