import { existsSync, renameSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isCatalogError, openCatalog } from '../../catalog/index.ts';
import type { Catalog } from '../../catalog/index.ts';
import {
  ClusterState,
  connectNats,
  ensureMirrors,
  ensureStreams,
  requestCommitPosition,
} from '../../sync/index.ts';
import type { ApplyHooksOptions, NatsLink } from '../../sync/index.ts';
import type { ServiceConfig } from '../config.ts';
import { KeyRing } from '../http/auth.ts';
import { ServiceGate } from '../http/gate.ts';
import { createLogger } from '../http/logger.ts';
import type { Logger } from '../http/logger.ts';
import { ServiceMetrics } from '../http/metrics.ts';
import { TokenCodec } from '../tokens.ts';
import { Listener } from './listener.ts';

/** How a node is started: test seams, the abort of a start, a catalog rebuild. */
export interface StartOptions {
  /** Fault and delay seams for tests (never set by the CLI). */
  hooks?: ApplyHooksOptions;
  /** Aborts a start in progress (a SIGTERM during start-up). */
  signal?: AbortSignal;
  /**
   * Set the catalog aside (as `catalog.db.damaged-<time>`) and start from an empty one:
   * the node rebuilds it from the streams (segments on disk are verified and reused).
   */
  rebuild?: boolean;
}

/**
 * What a node keeps while its role changes: its listener and gate, logger and metrics,
 * keys, its NATS connection and view of the cluster, its data directory and catalog.
 * Each role (primary, follower, router) is started on one of these.
 */
export interface Foundation {
  readonly config: ServiceConfig;
  readonly url: string;
  readonly dataDir: string;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  readonly keys: KeyRing;
  readonly tokens: TokenCodec;
  readonly gate: ServiceGate;
  readonly listener: Listener;
  readonly link: NatsLink;
  readonly state: ClusterState;
  /** Null on a router that hosts no replica. */
  readonly catalog: Catalog | null;
  /** The primary's last committed WAL seq (asked over NATS). */
  commitSeq(): Promise<number>;
  /** A warning with fields (what replicas and primaries log through). */
  log(msg: string, fields?: Record<string, unknown>): void;
  /** Closes what {@link openFoundation} opened, in reverse. */
  close(): Promise<void>;
}

/**
 * Listens first (so the URL the node announces is known; the gate answers 503 until a
 * role opens it), then connects to its region's NATS (a follower region's server mirrors
 * the hub; the hub's own nodes set up the streams) and opens its catalog.
 */
export async function openFoundation(
  config: ServiceConfig,
  options: StartOptions,
  hostsReplica: boolean,
): Promise<Foundation> {
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
  const gate = new ServiceGate(async () => ({
    contentType: metrics.registry.contentType,
    text: await metrics.registry.metrics(),
  }));
  const listener = await Listener.open(config.http.host, config.http.port, gate);
  const url = config.publicUrl ?? `http://${config.http.host}:${listener.port}`;
  const dataDir = resolve(config.dataDir ?? join('.data', `${config.region}-${config.node}`));
  const aborted = () => {
    if (options.signal?.aborted) throw new Error('start-up aborted (stop requested)');
  };
  let link: NatsLink | null = null;
  let catalog: Catalog | null = null;
  try {
    await mkdir(dataDir, { recursive: true });
    aborted();
    const { hubDomain, ...natsOptions } = config.nats;
    const name = `meridian-${config.role}-${config.region}-${config.node}`;
    link = await connectNats({ ...natsOptions, name });
    if (hubDomain) await ensureMirrors(link.jsm, hubDomain);
    else await ensureStreams(link.jsm);
    aborted();
    if (hostsReplica) catalog = openNodeCatalog(config, dataDir, logger, options.rebuild);
  } catch (err) {
    await listener.close();
    await link?.close();
    throw err;
  }
  const nats = link;
  return {
    config,
    url,
    dataDir,
    logger,
    metrics,
    keys: new KeyRing(config.auth.keys),
    tokens: new TokenCodec(config.tokenSecret),
    gate,
    listener,
    link: nats,
    state: new ClusterState({ nc: nats.nc, js: nats.js }),
    catalog,
    commitSeq: async () => (await requestCommitPosition(nats.nc)).seq,
    log: (msg, fields) => logger.warn(fields ?? {}, msg),
    async close() {
      await listener.close();
      await nats.close();
      catalog?.close();
    },
  };
}

function openNodeCatalog(
  config: ServiceConfig,
  dataDir: string,
  logger: Logger,
  rebuild: boolean | undefined,
): Catalog {
  const file = join(dataDir, 'catalog.db');
  try {
    if (rebuild) setAside(file, logger);
    return openCatalog(file);
  } catch (err) {
    if (!isCatalogError(err, 'catalog_corrupt')) throw err;
    throw new Error(
      `${(err as Error).message}. The catalog is rebuilt from the streams by starting this node once with --rebuild (\`meridian ${config.role} --config FILE --rebuild\`, or \`node services/start.mjs --config FILE --rebuild\`): the damaged file is kept as catalog.db.damaged-<time>.`,
      { cause: err },
    );
  }
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
