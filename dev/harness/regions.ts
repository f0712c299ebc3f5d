/**
 * Multi-region clusters for tests: a whole cluster from the launcher (hub nats-server,
 * one leaf nats-server per follower region behind a WAN link proxy, a primary, and a
 * follower and a router per region, each in its own process), in a temp dir, with the
 * admin key of {@link TEST_KEYS}; plus the small helpers the region tests share.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { launchCluster } from '../cluster/launcher.ts';
import type { LaunchedCluster, RegionEndpoints } from '../cluster/launcher.ts';
import { parseTopology } from '../cluster/topology.ts';
import type { TopologyInput } from '../cluster/topology.ts';
import type { ServiceConfigInput } from '../../services/config.ts';
import { TEST_KEYS, TEST_TOKEN_SECRET, http } from './services.ts';
import { makeTempDir } from './tmp.ts';
import type { TempDir } from './tmp.ts';
import { waitFor } from './wait-for.ts';

export { TEST_KEYS, http };

/** A launched cluster, where its files live, and a way to tear everything down. */
export interface RegionCluster extends LaunchedCluster {
  baseDir: string;
  hub: RegionEndpoints;
  region(name: string): RegionEndpoints;
  /** The data directory of a launched node: `<baseDir>/<region>-<node>`. */
  dataDir(region: string, node: 'primary' | 'follower'): string;
  /** Stops every process (extra followers too) and removes the temp dir. Idempotent. */
  close(): Promise<void>;
  /** Extra followers started with {@link RegionCluster.startFollower}. */
  extra: ExtraFollower[];
  /**
   * Starts one more follower in `region` as its own process (services/run.ts), on that
   * region's NATS server, with its own data dir `<baseDir>/<region>-<node>`.
   */
  startFollower(region: string, node: string): Promise<ExtraFollower>;
}

export interface ExtraFollower {
  region: string;
  node: string;
  url: string;
  dataDir: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Admin-key JSON request (the launcher's cluster knows only that key). */
export function api(url: string, method: string, body?: unknown) {
  return http(url, method, body, TEST_KEYS.admin);
}

/**
 * Launches `topology` in a fresh temp dir and waits until every router has heard the
 * primary's beacon and every node's heartbeat (so routing decisions are informed).
 */
export async function startRegions(o: {
  topology: TopologyInput;
  prefix: string;
  seal?: ServiceConfigInput['seal'];
}): Promise<RegionCluster> {
  const tmp: TempDir = await makeTempDir(o.prefix);
  const topology = parseTopology(o.topology);
  let launched: LaunchedCluster;
  try {
    launched = await launchCluster({
      topology,
      baseDir: tmp.path,
      apiKey: TEST_KEYS.admin,
      tokenSecret: TEST_TOKEN_SECRET,
      ...(o.seal ? { seal: o.seal } : {}),
    });
  } catch (err) {
    await tmp.cleanup();
    throw err;
  }
  const hub = launched.regions.find((r) => r.primary)!;
  const extra: ExtraFollower[] = [];
  let closed = false;
  const cluster: RegionCluster = {
    ...launched,
    baseDir: tmp.path,
    hub,
    extra,
    region(name) {
      const r = launched.regions.find((x) => x.name === name);
      if (!r) throw new Error(`no region ${name}`);
      return r;
    },
    dataDir: (region, node) => join(tmp.path, `${region}-${node}`),
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(extra.map((f) => f.stop()));
      await launched.stop();
      await tmp.cleanup();
    },
    async startFollower(region, node) {
      const f = await spawnFollower(tmp.path, hub.name, cluster.region(region), node, [
        ...launched.regions.map((r) => r.name),
      ]);
      extra.push(f);
      return f;
    },
  };
  try {
    // Every node (a primary, one follower per region) heartbeats; a router counts them.
    const nodes = launched.regions.length + 1;
    for (const r of launched.regions) {
      await waitFor(
        async () => {
          const res = await api(`${r.routerUrl}/v1/regions`, 'GET');
          return (
            res.status === 200 &&
            res.body.primary !== null &&
            res.body.replicas.filter((x: { healthy: boolean }) => x.healthy).length >= nodes
          );
        },
        { timeoutMs: 20_000, message: `router of ${r.name} to see every node` },
      );
    }
  } catch (err) {
    await cluster.close();
    throw err;
  }
  return cluster;
}

const runScript = fileURLToPath(new URL('../../services/start.mjs', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

async function spawnFollower(
  baseDir: string,
  hubName: string,
  region: RegionEndpoints,
  node: string,
  regions: string[],
): Promise<ExtraFollower> {
  const dataDir = join(baseDir, `${region.name}-${node}`);
  await mkdir(dataDir, { recursive: true });
  const cfg: ServiceConfigInput = {
    role: 'follower',
    region: region.name,
    node,
    http: { host: '127.0.0.1', port: 0 },
    dataDir,
    nats: {
      servers: region.natsUrl,
      ...(region.primary ? {} : { hubDomain: hubName }),
    },
    regions,
    auth: { keys: [{ key: TEST_KEYS.admin, role: 'admin', name: 'test' }] },
    tokenSecret: TEST_TOKEN_SECRET,
    heartbeatMs: 500,
    beaconMs: 100,
    log: { level: 'warn' },
  };
  const file = join(baseDir, `${region.name}-${node}.json`);
  await writeFile(file, JSON.stringify(cfg, null, 2));
  const logPath = join(baseDir, 'logs', `${region.name}-${node}.log`);
  const log = createWriteStream(logPath);
  const proc = spawn(process.execPath, [runScript, '--config', file], {
    cwd: repoRoot,
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stderr!.pipe(log);
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`${region.name}/${node} not ready in 60 s (see ${logPath})`)),
        60_000,
      );
      proc.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`${region.name}/${node} exited (${code}) before ready (see ${logPath})`));
      });
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        log.write(line + '\n');
        try {
          const e = JSON.parse(line) as { event?: string; url?: string };
          if (e.event === 'ready' && e.url) {
            clearTimeout(t);
            resolve(e.url);
          }
        } catch {
          // a log line, not an event
        }
      });
    });
    proc.removeAllListeners('exit');
    return { region: region.name, node, url, dataDir, proc, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Resolves once a node's GET collection shows generation 0 at version ≥ `version`. */
export async function waitForVersion(
  nodeUrl: string,
  collection: string,
  version: number,
  timeoutMs = 30_000,
): Promise<void> {
  await waitFor(
    async () => {
      const res = await api(`${nodeUrl}/v1/collections/${collection}`, 'GET');
      return res.status === 200 && (res.body.generations?.[0]?.version ?? 0) >= version;
    },
    { timeoutMs, message: `${nodeUrl} to apply ${collection} version ${version}` },
  );
}

/** Segment files (by digest) in a node's `segments/` dir, with their sizes; partials excluded. */
export function segmentFiles(dataDir: string): Map<string, number> {
  const dir = join(dataDir, 'segments');
  const out = new Map<string, number>();
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir)) {
    if (/^[0-9a-f]{64}$/.test(f)) out.set(f, statSync(join(dir, f)).size);
  }
  return out;
}
