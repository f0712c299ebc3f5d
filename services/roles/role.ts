import type { Hono } from 'hono';
import type { Primary, Replica } from '../../sync/index.ts';
import { collectionReadRoutes } from '../endpoints/collections.ts';
import { localPointReadRoutes, localQueryRoutes } from '../endpoints/query.ts';
import { createBaseApp } from '../http/app.ts';
import { FastQueryPath } from '../http/fast-query.ts';
import type { LocalQueryContext } from '../query/serve-local.ts';
import type { Foundation } from './foundation.ts';
import { Gauges } from './gauges.ts';

export type RoleName = 'primary' | 'follower' | 'router';

/**
 * One role a node plays on its {@link Foundation}: its API (a Hono app of its own) and
 * what serves it. A node runs one role at a time and may stop it and start another in
 * the same process (decision 0018): `start` and `stop` leave the foundation as they found it.
 */
export interface Role {
  readonly name: RoleName;
  readonly app: Hono;
  /** Its query route as the `node:http` fast path serves it (decision 0010). */
  readonly fast: FastQueryPath;
  /** Set for the primary. */
  readonly primary: Primary | null;
  /** The replica this role runs (the primary's, a follower, or one hosted by a router). */
  readonly replica: Replica | null;
  /** Recovers and follows (or takes writes); resolves when the role can serve. */
  start(): Promise<void>;
  /** Stops what `start` started. Safe at any moment, start-up included. */
  stop(): Promise<void>;
}

/**
 * The app every role starts from (`/healthz`, `/readyz`, `/metrics`, limits, errors) and
 * the fast path its query route is mounted on beside Hono.
 */
export function roleApp(
  f: Foundation,
  replica: () => Replica | null,
  gauges: Gauges,
): { app: Hono; fast: FastQueryPath } {
  const app = createBaseApp({
    logger: f.logger,
    metrics: f.metrics,
    maxBodyBytes: f.config.limits.maxBodyBytes,
    notReady: () => replica()?.storageError ?? null,
    collect: () => gauges.refresh(),
  });
  const fast = new FastQueryPath({
    logger: f.logger,
    metrics: f.metrics,
    maxBodyBytes: f.config.limits.maxBodyBytes,
  });
  return { app, fast };
}

/** How the local query path reads this node's replica (primary: its commit position). */
export function localContext(
  f: Foundation,
  replica: Replica,
  primary: Primary | null,
): LocalQueryContext {
  return {
    replica,
    state: f.state,
    tokens: f.tokens,
    readSeq: primary ? () => primary.readSeq : () => replica.appliedSeq,
    commitSeq: primary ? async () => primary.commitPosition.seq : () => f.commitSeq(),
    defaultWaitMs: f.config.query.defaultWaitMs,
  };
}

/** Logs each applied manifest and times it (metrics): every role with a replica does. */
export function onManifestApplied(f: Foundation) {
  return (e: { collection: string; version: number; ms: number }): void => {
    f.metrics.applyDuration.observe({ collection: e.collection }, e.ms / 1000);
    f.logger.info(e, 'manifest applied');
  };
}

/**
 * The app of a role with a replica of its own (primary, follower): its read routes —
 * collections, queries, points by id — answered from that replica.
 */
export function replicaApp(
  f: Foundation,
  replica: Replica,
  primary: Primary | null,
): { app: Hono; fast: FastQueryPath } {
  const gauges = new Gauges(f, () => ({ primary, replica }));
  const { app, fast } = roleApp(f, () => replica, gauges);
  const local = localContext(f, replica, primary);
  collectionReadRoutes(app, { replica, state: f.state, keys: f.keys });
  localQueryRoutes(app, { ctx: local, keys: f.keys, metrics: f.metrics, fast });
  localPointReadRoutes(app, { ctx: local, keys: f.keys });
  return { app, fast };
}

export { Gauges };
