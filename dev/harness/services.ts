/**
 * Real Meridian services (HTTP) for integration tests: a primary, followers and routers
 * in this process, each with its own data directory, on free ports.
 */
import { closeIndexWorkers } from '../../index/index.ts';
import { loadConfig, startNode } from '../../services/index.ts';
import type { RunningNode, ServiceConfigInput } from '../../services/index.ts';
import type { ApplyHooksOptions } from '../../sync/index.ts';
import { makeTempDir } from './tmp.ts';

export const TEST_KEYS = {
  admin: 'admin-key-0123456789abcdef',
  write: 'write-key-0123456789abcdef',
  read: 'read-key-0123456789abcdef0',
} as const;

export const TEST_TOKEN_SECRET = 'test-token-secret-0123456789';

/** The keys (one per role) and token secret every test service is configured with. */
export const TEST_CREDENTIALS = {
  auth: {
    keys: [
      { key: TEST_KEYS.admin, role: 'admin' as const },
      { key: TEST_KEYS.write, role: 'write' as const },
      { key: TEST_KEYS.read, role: 'read' as const },
    ],
  },
  tokenSecret: TEST_TOKEN_SECRET,
};

export interface ServiceSpec {
  role: 'primary' | 'follower' | 'router';
  region: string;
  node: string;
  overrides?: Partial<ServiceConfigInput>;
  hooks?: ApplyHooksOptions;
  /** Start with `--rebuild` (the catalog set aside and rebuilt from the streams). */
  rebuild?: boolean;
}

export interface TestCluster {
  nodes: Map<string, RunningNode>;
  node(name: string): RunningNode;
  start(spec: ServiceSpec, dataDir?: string): Promise<RunningNode>;
  stop(name: string): Promise<void>;
  dataDir(name: string): string;
  close(): Promise<void>;
}

export async function startCluster(
  natsUrl: string,
  regions: string[],
  specs: ServiceSpec[],
): Promise<TestCluster> {
  const nodes = new Map<string, RunningNode>();
  const dirs = new Map<string, string>();
  const cleanups: Array<() => Promise<void>> = [];
  const cluster: TestCluster = {
    nodes,
    node(name) {
      const n = nodes.get(name);
      if (!n) throw new Error(`no node ${name}`);
      return n;
    },
    async start(spec, dataDir) {
      let dir = dataDir ?? dirs.get(spec.node);
      if (!dir) {
        const tmp = await makeTempDir(`svc-${spec.node}`);
        cleanups.push(tmp.cleanup);
        dir = tmp.path;
      }
      dirs.set(spec.node, dir);
      const config = loadConfig({
        env: {},
        overrides: {
          role: spec.role,
          region: spec.region,
          node: spec.node,
          http: { host: '127.0.0.1', port: 0 },
          dataDir: dir,
          nats: { servers: natsUrl },
          regions,
          ...TEST_CREDENTIALS,
          heartbeatMs: 200,
          beaconMs: 100,
          // A killed primary's successor waits for its lease to lapse: keep that short.
          leaseTtlMs: 3_000,
          log: { level: 'silent' },
          router: { hostReplica: true, probeIntervalMs: 200, hedgeAfterMs: 0 },
          seal: { maxPoints: 1e9, maxAgeMs: 1e9 },
          ...spec.overrides,
        },
      });
      const n = await startNode(config, {
        ...(spec.hooks ? { hooks: spec.hooks } : {}),
        ...(spec.rebuild ? { rebuild: true } : {}),
      });
      nodes.set(spec.node, n);
      return n;
    },
    async stop(name) {
      await nodes.get(name)?.stop();
      nodes.delete(name);
    },
    dataDir(name) {
      return dirs.get(name)!;
    },
    async close() {
      for (const n of [...nodes.values()].reverse()) await n.stop();
      nodes.clear();
      await closeIndexWorkers();
      for (const c of cleanups) await c();
    },
  };
  for (const s of specs) await cluster.start(s);
  return cluster;
}

/** A small JSON HTTP helper with a key. */
export async function http(
  url: string,
  method: string,
  body?: unknown,
  key: string = TEST_KEYS.admin,
): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed };
}

/**
 * Waits until a router has heard each named replica's heartbeat, measured its RTT, and
 * knows it holds `collection` (so a routing decision in a test is an informed one).
 */
export async function waitUntilRouterSees(
  routerUrl: string,
  nodes: readonly string[],
  collection: string,
  timeoutMs = 10_000,
): Promise<void> {
  const { waitFor } = await import('./wait-for.ts');
  await waitFor(
    async () => {
      const { body } = await http(`${routerUrl}/v1/regions`, 'GET');
      return nodes.every((n) =>
        body.replicas.some(
          (r: any) =>
            r.node === n &&
            r.rttMs !== null &&
            r.versions.some((v: any) => v.collection === collection),
        ),
      );
    },
    { timeoutMs, message: `router did not see ${nodes.join(', ')} holding ${collection}` },
  );
}

/** The cluster most service tests use: a primary in us-east, a follower and a router (no hosted replica) in eu-west. */
export const PRIMARY_FOLLOWER_ROUTER: ServiceSpec[] = [
  { role: 'primary', region: 'us-east', node: 'p1' },
  { role: 'follower', region: 'eu-west', node: 'f1' },
  {
    role: 'router',
    region: 'eu-west',
    node: 'r1',
    overrides: { router: { hostReplica: false, probeIntervalMs: 200, hedgeAfterMs: 0 } },
  },
];
