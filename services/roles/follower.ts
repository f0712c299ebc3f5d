import { Replica, leafLayout } from '../../sync/index.ts';
import type { Foundation, StartOptions } from './foundation.ts';
import { onManifestApplied, replicaApp } from './role.ts';
import type { Role } from './role.ts';

/** The replica a follower runs (and a router that hosts one): hub or leaf layout by config. */
export function nodeReplica(f: Foundation, options: StartOptions): Replica {
  const { config } = f;
  const { hubDomain } = config.nats;
  return new Replica({
    link: f.link,
    catalog: f.catalog!,
    dataDir: f.dataDir,
    region: config.region,
    node: config.node,
    // A follower region's server holds only its placed collections' mirrors (ADR 0011).
    ...(hubDomain ? { layout: leafLayout(hubDomain) } : {}),
    heartbeatMs: config.heartbeatMs,
    searchThreads: config.query.searchThreads,
    url: f.url,
    log: (msg, fields) => f.log(msg, fields),
    onManifestApplied: onManifestApplied(f),
    onStorageError: () => f.metrics.storageErrors.inc(),
    ...(options.hooks ? { hooks: options.hooks } : {}),
  });
}

/** The follower role: a replica of its region's collections, serving reads. */
export function startFollower(f: Foundation, options: StartOptions = {}): Role {
  const replica = nodeReplica(f, options);
  const { app, fast } = replicaApp(f, replica, null);
  return {
    name: 'follower',
    app,
    fast,
    primary: null,
    replica,
    start: () => replica.start(),
    stop: () => replica.stop(),
  };
}
