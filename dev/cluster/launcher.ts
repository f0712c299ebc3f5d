import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ServiceConfigInput } from '../../services/config.ts';
import { LinkProxy } from '../wan/link-proxy.ts';
import { NATS_INSTALL_HINT, findNatsServer, startNatsProcess } from './nats-process.ts';
import type { NatsProcess } from './nats-process.ts';
import { rttBetween } from './topology.ts';
import type { Topology } from './topology.ts';

export interface LaunchOptions {
  topology: Topology;
  /** Where every node keeps its data, configs and logs. */
  baseDir: string;
  /** The admin API key of the cluster. */
  apiKey: string;
  tokenSecret: string;
  /** Seal policy of the primary. */
  seal?: ServiceConfigInput['seal'];
  /** Write limits of the primary (e.g. a backfill's pace). */
  limits?: ServiceConfigInput['limits'];
  /** Progress lines for a person watching. */
  say?: (line: string) => void;
  /**
   * Each router also hosts its region's replica in-process (a local read costs no HTTP
   * hop), besides the region's follower. Default false: the router forwards to the follower.
   */
  routersHostReplica?: boolean;
}

export interface RegionEndpoints {
  name: string;
  primary: boolean;
  natsUrl: string;
  routerUrl: string;
  followerUrl: string;
  primaryUrl: string | null;
}

export interface LaunchedCluster {
  regions: RegionEndpoints[];
  /** Every simulated WAN link by name: `nats:<hub>~<region>` and `http:<from>->/<region>/<node>`. */
  links: Map<string, LinkProxy>;
  /** Cuts every link that touches a region (its leaf connection and HTTP in and out). */
  cut(region: string): void;
  heal(region: string): void;
  /** Stops every process and proxy it started. Idempotent. */
  stop(): Promise<void>;
  /** Processes it started (services and nats-servers), for tests that check none is left. */
  pids(): number[];
}

interface Service {
  name: string;
  proc: ChildProcess;
  url: string;
}

const runScript = fileURLToPath(new URL('../../services/start.mjs', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Starts a whole multi-region cluster on this machine: the hub nats-server in the
 * primary region and one leaf nats-server per other region (each in its own JetStream
 * domain, reached through a link proxy with the topology's one-way delay), then a
 * primary, a follower and a router per region as separate processes. Routers reach
 * other regions' nodes through link proxies too, so every cross-region hop pays the
 * simulated WAN.
 */
export async function launchCluster(o: LaunchOptions): Promise<LaunchedCluster> {
  const binary = findNatsServer();
  if (!binary) throw new Error(NATS_INSTALL_HINT);
  const say = o.say ?? (() => undefined);
  const t = o.topology;
  const hub = t.regions.find((r) => r.primary)!;
  await mkdir(join(o.baseDir, 'logs'), { recursive: true });
  const natsProcs: NatsProcess[] = [];
  const services: Service[] = [];
  const links = new Map<string, LinkProxy>();
  let stopped = false;

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(services.map((s) => stopChild(s.proc)));
    for (const l of links.values()) await l.stop();
    for (const n of natsProcs.reverse()) await n.stop();
  };

  try {
    const ports = new Map<string, number>();
    const port = async (key: string, fixed: number) => {
      const p = fixed || (await freePort());
      ports.set(key, p);
      return p;
    };
    for (const r of t.regions) {
      await port(`${r.name}.nats`, r.ports.nats);
      // No port is reserved for a router unless the topology fixes one: it binds port 0
      // and reports its URL. A port picked free early can be taken (an outgoing
      // connection's ephemeral port) before the router, started last, binds it.
      ports.set(`${r.name}.router`, r.ports.router);
      await port(`${r.name}.follower`, r.ports.follower);
      if (r.primary) {
        await port(`${r.name}.leafnodes`, r.ports.leafnodes);
        await port(`${r.name}.primary`, r.ports.primary);
      }
    }
    const shape = (a: string, b: string) => ({
      delayMs: rttBetween(t, a, b) / 2,
      jitterMs: t.jitterMs,
      bytesPerSecond: t.bandwidthMBps * 1e6,
    });

    // NATS: the hub, then each leaf through its WAN link.
    say(`starting nats-server hub for ${hub.name}`);
    natsProcs.push(
      await startNatsProcess({
        binary,
        port: ports.get(`${hub.name}.nats`)!,
        configPath: join(o.baseDir, `nats-${hub.name}.conf`),
        logPath: join(o.baseDir, 'logs', `nats-${hub.name}.log`),
        config: natsConfig({
          port: ports.get(`${hub.name}.nats`)!,
          domain: hub.name,
          storeDir: join(o.baseDir, `nats-${hub.name}`),
          leafListen: ports.get(`${hub.name}.leafnodes`)!,
        }),
      }),
    );
    for (const r of t.regions.filter((x) => !x.primary)) {
      const link = new LinkProxy(
        `nats:${hub.name}~${r.name}`,
        { host: '127.0.0.1', port: ports.get(`${hub.name}.leafnodes`)! },
        shape(hub.name, r.name),
      );
      const linkPort = await link.start();
      links.set(link.name, link);
      say(
        `starting nats-server leaf for ${r.name} (WAN link to ${hub.name}: ${rttBetween(t, hub.name, r.name)} ms round trip)`,
      );
      natsProcs.push(
        await startNatsProcess({
          binary,
          port: ports.get(`${r.name}.nats`)!,
          configPath: join(o.baseDir, `nats-${r.name}.conf`),
          logPath: join(o.baseDir, 'logs', `nats-${r.name}.log`),
          config: natsConfig({
            port: ports.get(`${r.name}.nats`)!,
            domain: r.name,
            storeDir: join(o.baseDir, `nats-${r.name}`),
            leafRemote: linkPort,
          }),
        }),
      );
    }

    // HTTP links: each router reaches every other region's nodes through a proxy.
    const httpNodes = t.regions.flatMap((r) => [
      { region: r.name, node: 'follower', port: ports.get(`${r.name}.follower`)! },
      ...(r.primary
        ? [{ region: r.name, node: 'primary', port: ports.get(`${r.name}.primary`)! }]
        : []),
    ]);
    const overrides = new Map<string, Record<string, string>>();
    for (const from of t.regions) {
      const map: Record<string, string> = {};
      for (const n of httpNodes.filter((x) => x.region !== from.name)) {
        const link = new LinkProxy(
          `http:${from.name}->${n.region}/${n.node}`,
          { host: '127.0.0.1', port: n.port },
          shape(from.name, n.region),
        );
        map[`${n.region}/${n.node}`] = `http://127.0.0.1:${await link.start()}`;
        links.set(link.name, link);
      }
      overrides.set(from.name, map);
    }

    const common = (region: string) => ({
      region,
      nats: {
        servers: `nats://127.0.0.1:${ports.get(`${region}.nats`)!}`,
        ...(region === hub.name ? {} : { hubDomain: hub.name }),
      },
      regions: t.regions.map((r) => r.name),
      auth: { keys: [{ key: o.apiKey, role: 'admin' as const, name: 'demo' }] },
      tokenSecret: o.tokenSecret,
      heartbeatMs: 500,
      beaconMs: 100,
      log: { level: (process.env.MERIDIAN_CLUSTER_LOG_LEVEL ?? 'warn') as 'warn' },
    });
    const startService = async (name: string, cfg: ServiceConfigInput): Promise<Service> => {
      const file = join(o.baseDir, `${name}.json`);
      await writeFile(file, JSON.stringify(cfg, null, 2));
      const service = await spawnService(name, file, join(o.baseDir, 'logs', `${name}.log`));
      services.push(service);
      return service;
    };
    const routerUrls = new Map<string, string>();
    const primaryPort = ports.get(`${hub.name}.primary`)!;
    say(`starting the primary in ${hub.name}`);
    await startService(`${hub.name}-primary`, {
      ...common(hub.name),
      role: 'primary',
      node: 'primary',
      http: { host: '127.0.0.1', port: primaryPort },
      dataDir: join(o.baseDir, `${hub.name}-primary`),
      ...(o.seal ? { seal: o.seal } : {}),
      ...(o.limits ? { limits: o.limits } : {}),
    });
    await Promise.all(
      t.regions.map(async (r) => {
        say(`starting the follower and router in ${r.name}`);
        await startService(`${r.name}-follower`, {
          ...common(r.name),
          role: 'follower',
          node: 'follower',
          http: { host: '127.0.0.1', port: ports.get(`${r.name}.follower`)! },
          dataDir: join(o.baseDir, `${r.name}-follower`),
        });
        const router = await startService(`${r.name}-router`, {
          ...common(r.name),
          role: 'router',
          node: 'router',
          http: { host: '127.0.0.1', port: ports.get(`${r.name}.router`)! },
          dataDir: join(o.baseDir, `${r.name}-router`),
          router: {
            hostReplica: o.routersHostReplica ?? false,
            probeIntervalMs: 500,
            hedgeAfterMs: 0,
            urlOverrides: overrides.get(r.name)!,
          },
        });
        routerUrls.set(r.name, router.url);
      }),
    );

    const regions: RegionEndpoints[] = t.regions.map((r) => ({
      name: r.name,
      primary: r.primary,
      natsUrl: `nats://127.0.0.1:${ports.get(`${r.name}.nats`)!}`,
      routerUrl: routerUrls.get(r.name)!,
      followerUrl: `http://127.0.0.1:${ports.get(`${r.name}.follower`)!}`,
      primaryUrl: r.primary ? `http://127.0.0.1:${primaryPort}` : null,
    }));
    const touching = (region: string) =>
      [...links.values()].filter((l) => {
        const [, route] = l.name.split(':') as [string, string];
        return (
          route.includes(`~${region}`) ||
          route.startsWith(`${region}->`) ||
          route.includes(`->${region}/`)
        );
      });
    return {
      regions,
      links,
      cut: (region) => touching(region).forEach((l) => l.cut()),
      heal: (region) => touching(region).forEach((l) => l.heal()),
      stop,
      pids: () => [...services.map((s) => s.proc.pid!), ...natsProcs.map((n) => n.proc.pid!)],
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function natsConfig(o: {
  port: number;
  domain: string;
  storeDir: string;
  leafListen?: number;
  leafRemote?: number;
}): string {
  return [
    `listen: "127.0.0.1:${o.port}"`,
    // Segment chunks are ~1 MiB; leave room for headers.
    `max_payload: 8MB`,
    `jetstream { domain: "${o.domain}", store_dir: "${o.storeDir}" }`,
    // The hub's INFO tells each leaf its leafnode address (even with no_advertise, in 2.9),
    // and a leaf whose WAN link is cut reconnects to that address, around the link proxy.
    // Advertise a dead one instead, so a leaf only ever reaches the hub through its proxy.
    o.leafListen
      ? `leafnodes { listen: "127.0.0.1:${o.leafListen}", advertise: "127.0.0.1:1" }`
      : '',
    o.leafRemote
      ? `leafnodes { reconnect: 1, remotes: [ { url: "nats-leaf://127.0.0.1:${o.leafRemote}" } ] }`
      : '',
  ].join('\n');
}

async function spawnService(name: string, configFile: string, logPath: string): Promise<Service> {
  const log = createWriteStream(logPath);
  // MERIDIAN_CPU_PROF_DIR=DIR: each service writes a V8 CPU profile there when it stops
  // (NODE_OPTIONS may not carry --cpu-prof).
  const profDir = process.env.MERIDIAN_CPU_PROF_DIR;
  const prof = profDir
    ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${name}.cpuprofile`]
    : [];
  const proc = spawn(process.execPath, [...prof, runScript, '--config', configFile], {
    cwd: repoRoot,
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stderr!.pipe(log);
  // The last lines it wrote, for the error if it exits before ready (the log file is in
  // a temp dir that a failing test removes).
  let tail = '';
  const keep = (d: Buffer | string): void => void (tail = (tail + d.toString()).slice(-2_000));
  proc.stderr!.on('data', keep);
  const ready = await new Promise<{ url: string }>((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`${name} did not become ready in 60 s (see ${logPath})`)),
      60_000,
    );
    proc.once('exit', (code) => {
      clearTimeout(t);
      reject(
        new Error(`${name} exited (${code}) before it was ready (see ${logPath}): ${tail.trim()}`),
      );
    });
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      log.write(line + '\n');
      keep(line + '\n');
      try {
        const e = JSON.parse(line) as { event?: string; url?: string };
        if (e.event === 'ready' && e.url) {
          clearTimeout(t);
          resolve({ url: e.url });
        }
      } catch {
        // a log line, not an event
      }
    });
  });
  proc.removeAllListeners('exit');
  return { name, proc, url: ready.url };
}

async function stopChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

/** Ports this process handed out, so two servers it starts never get the same one. */
const handedOut = new Set<number>();

/**
 * A TCP port free on 127.0.0.1 right now, for a server started next. Picked below the
 * kernel's ephemeral range (32768 and up on Linux): a port the OS picks for `listen(0)` is
 * an ephemeral one, and any process's outgoing connection can take it before our server
 * binds it (CI saw EADDRINUSE for a primary). Falls back to `listen(0)`.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = 20_000 + Math.floor(Math.random() * 12_000);
    if (handedOut.has(p)) continue;
    if (await canListen(p)) {
      handedOut.add(p);
      return p;
    }
  }
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
