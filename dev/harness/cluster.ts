/**
 * In-process Meridian nodes for integration tests: a primary and followers, each with
 * its own data directory, SQLite catalog and NATS connection, against a real
 * nats-server started by the test file.
 */
import { join } from 'node:path';
import { openCatalog } from '../../catalog/index.ts';
import { closeIndexWorkers } from '../../index/index.ts';
import type { Catalog } from '../../catalog/index.ts';
import {
  Primary,
  Replica,
  connectNats,
  ensureMirrors,
  ensureStreams,
  leafLayout,
} from '../../sync/index.ts';
import type { ApplyHooksOptions, NatsLink, SealPolicy } from '../../sync/index.ts';
import { makeTempDir } from './tmp.ts';

export interface NodeHandle<T> {
  node: T;
  catalog: Catalog;
  link: NatsLink;
  dataDir: string;
  /** Stops the node and closes its catalog and connection (keeps the data directory). */
  stop(): Promise<void>;
  /** Removes the data directory (after stop). */
  cleanup(): Promise<void>;
}

interface Common {
  natsUrl: string;
  region: string;
  node: string;
  /** Reuse a data directory (restart); a fresh temp directory otherwise. */
  dataDir?: string;
  heartbeatMs?: number;
  hooks?: ApplyHooksOptions;
  /** Search threads (ADR 0012); unset: searches on the calling thread, as most tests want. */
  searchThreads?: number;
}

async function open(o: Common) {
  const tmp = o.dataDir ? null : await makeTempDir(`node-${o.node}`);
  const dataDir = o.dataDir ?? tmp!.path;
  const catalog = openCatalog(join(dataDir, 'catalog.db'));
  const link = await connectNats({ servers: o.natsUrl, name: `${o.region}/${o.node}` });
  return { dataDir, catalog, link, cleanup: async () => tmp?.cleanup() };
}

export async function startPrimary(
  o: Common & {
    regions: string[];
    seal?: Partial<SealPolicy>;
    sealCheckMs?: number;
    ackTimeoutMs?: number;
    backfillPointsPerSecond?: number;
  },
): Promise<NodeHandle<Primary>> {
  const { dataDir, catalog, link, cleanup } = await open(o);
  const primary = new Primary({
    link,
    catalog,
    dataDir,
    region: o.region,
    node: o.node,
    regions: o.regions,
    heartbeatMs: o.heartbeatMs ?? 200,
    beaconMs: 100,
    leaseTtlMs: 3_000,
    // Tests seal explicitly unless they set a policy.
    seal: { maxPoints: 1e9, maxAgeMs: 1e9, ...o.seal },
    ...(o.sealCheckMs !== undefined ? { sealCheckMs: o.sealCheckMs } : {}),
    ...(o.ackTimeoutMs !== undefined ? { ackTimeoutMs: o.ackTimeoutMs } : {}),
    ...(o.backfillPointsPerSecond ? { backfillPointsPerSecond: o.backfillPointsPerSecond } : {}),
    ...(o.hooks ? { hooks: o.hooks } : {}),
    ...(o.searchThreads ? { searchThreads: o.searchThreads } : {}),
  });
  await primary.start();
  return handle(primary, catalog, link, dataDir, cleanup);
}

/**
 * A follower on `natsUrl`. With `hubDomain`, that server is a leaf region's (a leaf node
 * of the hub in its own domain): the follower sets up the region's mirrors and reads
 * them, as services/node.ts does.
 */
export async function startFollower(
  o: Common & { retryMs?: number; hubDomain?: string },
): Promise<NodeHandle<Replica>> {
  const { dataDir, catalog, link, cleanup } = await open(o);
  if (o.hubDomain) await ensureMirrors(link.jsm, o.hubDomain);
  else await ensureStreams(link.jsm);
  const replica = new Replica({
    link,
    catalog,
    dataDir,
    region: o.region,
    node: o.node,
    ...(o.hubDomain ? { layout: leafLayout(o.hubDomain) } : {}),
    heartbeatMs: o.heartbeatMs ?? 200,
    retryMs: o.retryMs ?? 100,
    ...(o.hooks ? { hooks: o.hooks } : {}),
    ...(o.searchThreads ? { searchThreads: o.searchThreads } : {}),
  });
  await replica.start();
  return handle(replica, catalog, link, dataDir, cleanup);
}

function handle<T extends { stop(): Promise<void> }>(
  node: T,
  catalog: Catalog,
  link: NatsLink,
  dataDir: string,
  cleanup: () => Promise<void>,
): NodeHandle<T> {
  let stopped = false;
  return {
    node,
    catalog,
    link,
    dataDir,
    async stop() {
      if (stopped) return;
      stopped = true;
      await node.stop();
      await link.close();
      catalog.close();
    },
    cleanup,
  };
}

/**
 * Test teardown: stops each node and removes its data directory (in the order given;
 * missing ones are skipped), then the index worker pool, then the given servers.
 */
export async function stopAll(
  nodes: ReadonlyArray<NodeHandle<unknown> | null | undefined>,
  servers: ReadonlyArray<{ stop(): Promise<void> } | null | undefined> = [],
): Promise<void> {
  for (const n of nodes) {
    await n?.stop();
    await n?.cleanup();
  }
  await closeIndexWorkers();
  for (const s of servers) await s?.stop();
}
