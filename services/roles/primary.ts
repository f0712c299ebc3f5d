import { Primary } from '../../sync/index.ts';
import { collectionWriteRoutes } from '../endpoints/collections.ts';
import { generationRoutes } from '../endpoints/generations.ts';
import { pointRoutes } from '../endpoints/points.ts';
import type { Foundation, StartOptions } from './foundation.ts';
import { onManifestApplied, replicaApp } from './role.ts';
import type { Role } from './role.ts';

/**
 * The primary role: takes the primary lease, then writes (WAL, seals, merges) and serves
 * reads from its own replica. Its API adds collection and point writes to a follower's.
 */
export function startPrimary(f: Foundation, options: StartOptions = {}): Role {
  const { config } = f;
  const primary = new Primary({
    link: f.link,
    catalog: f.catalog!,
    dataDir: f.dataDir,
    region: config.region,
    node: config.node,
    regions: config.regions ?? [config.region],
    seal: config.seal,
    heartbeatMs: config.heartbeatMs,
    beaconMs: config.beaconMs,
    ackTimeoutMs: config.ackTimeoutMs,
    leaseTtlMs: config.leaseTtlMs,
    ...(config.limits.backfillPointsPerSecond
      ? { backfillPointsPerSecond: config.limits.backfillPointsPerSecond }
      : {}),
    searchThreads: config.query.searchThreads,
    url: f.url,
    log: (msg, fields) => f.log(msg, fields),
    info: (msg: string, fields?: Record<string, unknown>) => f.logger.info(fields ?? {}, msg),
    onManifestApplied: onManifestApplied(f),
    onStorageError: () => f.metrics.storageErrors.inc(),
    ...(options.hooks ? { hooks: options.hooks } : {}),
  });
  const { replica } = primary;
  const { app, fast } = replicaApp(f, replica, primary);
  collectionWriteRoutes(app, { primary, keys: f.keys });
  pointRoutes(app, { primary, keys: f.keys, tokens: f.tokens });
  generationRoutes(app, { primary, keys: f.keys });
  return {
    name: 'primary',
    app,
    fast,
    primary,
    replica,
    start: () => primary.start(),
    stop: () => primary.stop(),
  };
}
