/**
 * What the cutover suite watches besides its own requests:
 *
 * - each region's follower's applied-position notices (core NATS, heard on that region's
 *   own server, so the time a notice arrives is the time the follower had applied it);
 * - the primary's commit beacons on the hub (commit time of each WAL seq, to a bucket);
 * - the segment files each follower holds (content-addressed: a new name is a fetch);
 * - each node's view of the collection (versions, sealed and memtable points).
 *
 * Times here are epoch ms (`Date.now()`), the clock the primary stamps commits with.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { LaunchedCluster } from '../../../dev/cluster/launcher.ts';
import { waitFor } from '../../../dev/harness/wait-for.ts';
import { Streams, Subjects, connectNats } from '../../../sync/index.ts';
import type { NatsLink, PrimaryBeacon } from '../../../sync/index.ts';
import type { JsonClient } from '../regions/http-client.ts';

export class AppliedWatch {
  /** Per region: every notice of its follower, [epoch ms, appliedSeq]. */
  readonly notices = new Map<string, Array<[number, number]>>();
  /** The primary's own replica's notices. */
  readonly primaryNotices: Array<[number, number]> = [];
  /** Commit buckets the beacons named: [firstSeq, firstTime, lastSeq]. */
  private readonly buckets: Array<[number, number, number]> = [];
  /** Exact commit times: a bucket's first seq, or a beacon's lastSeq with lastCommitTime. */
  private readonly exact = new Map<number, number>();

  /** The hub's connection (the WAL stream lives there). */
  private hubLink: NatsLink | null = null;

  private constructor(
    private readonly links: NatsLink[],
    readonly regions: string[],
  ) {}

  static async start(cluster: LaunchedCluster): Promise<AppliedWatch> {
    const links: NatsLink[] = [];
    const w = new AppliedWatch(
      links,
      cluster.regions.map((r) => r.name),
    );
    const parse = (data: Uint8Array): unknown => JSON.parse(Buffer.from(data).toString('utf8'));
    for (const r of cluster.regions) {
      const link = await connectNats({ servers: r.natsUrl, name: `bench-cutover-${r.name}` });
      links.push(link);
      const list: Array<[number, number]> = [];
      w.notices.set(r.name, list);
      link.nc.subscribe(Subjects.applied(r.name, 'follower'), {
        callback: (_err, msg) => {
          const now = Date.now();
          try {
            list.push([now, (parse(msg.data) as { appliedSeq: number }).appliedSeq]);
          } catch {
            // not a notice
          }
        },
      });
      if (r.primary) {
        w.hubLink = link;
        link.nc.subscribe(Subjects.applied(r.name, 'primary'), {
          callback: (_err, msg) => {
            const now = Date.now();
            try {
              w.primaryNotices.push([now, (parse(msg.data) as { appliedSeq: number }).appliedSeq]);
            } catch {
              // not a notice
            }
          },
        });
        link.nc.subscribe(Subjects.primaryState, {
          callback: (_err, msg) => {
            try {
              const b = parse(msg.data) as PrimaryBeacon;
              for (const bucket of b.commits) {
                w.buckets.push(bucket);
                w.exact.set(bucket[0], bucket[1]);
              }
              if (b.lastSeq > 0 && b.lastCommitTime > 0) w.exact.set(b.lastSeq, b.lastCommitTime);
            } catch {
              // not a beacon
            }
          },
        });
      }
      await link.nc.flush();
    }
    return w;
  }

  /**
   * When the hub's JetStream stored WAL entry `seq` (epoch ms): the commit itself, stamped
   * by nats-server, so a busy primary's event loop does not move it. Null if unreadable.
   */
  async storedTime(seq: number): Promise<number | null> {
    if (!this.hubLink) return null;
    try {
      const m = await this.hubLink.jsm.streams.getMessage(Streams.wal, { seq });
      return m.time.getTime();
    } catch {
      return null;
    }
  }

  /** The highest seq region's follower announced. */
  maxSeq(region: string): number {
    let m = 0;
    for (const [, s] of this.notices.get(region) ?? []) m = Math.max(m, s);
    return m;
  }

  /** When region's follower first announced a position at or past `seq` (epoch ms), or null. */
  firstAt(region: string, seq: number): number | null {
    return firstAtOrAbove(this.notices.get(region) ?? [], seq);
  }

  primaryAppliedAt(seq: number): number | null {
    return firstAtOrAbove(this.primaryNotices, seq);
  }

  /**
   * When the primary committed `seq` (epoch ms): exact when a beacon named it as the first
   * of its bucket or as its last commit; else the start of the bucket that holds it (a
   * lower bound, within the primary's 10 ms buckets); null when no beacon named it.
   */
  commitTime(seq: number): { time: number; exact: boolean } | null {
    const t = this.exact.get(seq);
    if (t !== undefined) return { time: t, exact: true };
    const b = this.buckets.find(([first, , last]) => first <= seq && seq <= last);
    return b ? { time: b[1], exact: false } : null;
  }

  waitAll(seq: number, timeoutMs: number, what: string): Promise<void> {
    return waitFor(() => this.regions.every((r) => this.maxSeq(r) >= seq), {
      timeoutMs,
      intervalMs: 20,
      message: `every follower to apply seq ${seq} (${what})`,
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.links.map((l) => l.close()));
  }
}

function firstAtOrAbove(list: Array<[number, number]>, seq: number): number | null {
  for (const [t, s] of list) if (s >= seq) return t;
  return null;
}

/** Segment files of each follower: name (digest) → bytes. */
export async function segmentFiles(
  baseDir: string,
  regions: string[],
): Promise<Map<string, Map<string, number>>> {
  const out = new Map<string, Map<string, number>>();
  for (const r of regions) {
    const dir = join(baseDir, `${r}-follower`, 'segments');
    const files = new Map<string, number>();
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const s = await stat(join(dir, name)).catch(() => null);
      if (s?.isFile()) files.set(name, s.size);
    }
    out.set(r, files);
  }
  return out;
}

/** Bytes of the segment files that appeared between two snapshots, summed over followers. */
export function fetchedBetween(
  before: Map<string, Map<string, number>>,
  after: Map<string, Map<string, number>>,
): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  for (const [region, now] of after) {
    const was = before.get(region) ?? new Map<string, number>();
    for (const [name, size] of now) {
      if (was.has(name)) continue;
      bytes += size;
      files++;
    }
  }
  return { bytes, files };
}

export interface GenerationView {
  model: string;
  state: string;
  version: number;
  points: number;
  sealedPoints: number;
  memtablePoints: number;
  segments: number;
}

export async function generationsOf(c: JsonClient, collection: string): Promise<GenerationView[]> {
  const r = await c.send<{ generations?: GenerationView[] }>(
    'GET',
    `/v1/collections/${collection}`,
  );
  if (r.status !== 200 || !r.body.generations) {
    throw new Error(`describe ${collection} at ${c.baseUrl}: ${r.status}`);
  }
  return r.body.generations;
}

/**
 * Waits until every follower serves every generation sealed (nothing in a memtable), at
 * the primary's manifest version, with `points` points: no seal or segment fetch is left.
 */
export async function waitSettled(
  primary: JsonClient,
  followers: JsonClient[],
  collection: string,
  points: number,
  timeoutMs: number,
): Promise<void> {
  await waitFor(
    async () => {
      const p = await generationsOf(primary, collection);
      if (p.some((g) => g.memtablePoints > 0 || g.points !== points)) return false;
      for (const f of followers) {
        const gens = await generationsOf(f, collection);
        for (const g of p) {
          const x = gens.find((y) => y.model === g.model);
          if (!x || x.version !== g.version || x.memtablePoints > 0 || x.points !== points) {
            return false;
          }
        }
      }
      return true;
    },
    {
      timeoutMs,
      intervalMs: 250,
      message: `every replica to seal ${points} points per generation`,
    },
  );
}

/** Sums the `/metrics` samples whose name matches `re` (e.g. a fetch counter), per node. */
export async function metricSum(c: JsonClient, re: RegExp): Promise<number> {
  const r = await c.send<string>('GET', '/metrics');
  if (r.status !== 200 || typeof r.body !== 'string') return 0;
  let sum = 0;
  for (const line of r.body.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && re.test(m[1]! + (m[2] ?? ''))) sum += Number(m[3]) || 0;
  }
  return sum;
}

/** Names of the metrics a node exposes (to look for a segment fetch counter). */
export async function metricNames(c: JsonClient): Promise<string[]> {
  const r = await c.send<string>('GET', '/metrics');
  if (r.status !== 200 || typeof r.body !== 'string') return [];
  return [
    ...new Set(
      r.body
        .split('\n')
        .filter((l) => l.startsWith('# TYPE '))
        .map((l) => l.split(' ')[2]!),
    ),
  ];
}

/** CPU time of the cluster's processes and of the whole machine at one moment (/proc, Linux). */
export interface CpuSnapshot {
  /** performance.now() ms. */
  at: number;
  /** Per process name: CPU seconds so far (every thread). */
  byName: Map<string, number>;
  /** The machine: busy and total CPU seconds since boot (every core). */
  machineBusy: number;
}

const TICKS_PER_S = 100;

/**
 * Reads each process's CPU time from /proc (utime + stime of every thread), named by its
 * config file (`us-east-follower`, `nats-eu-west`), and this benchmark's own process.
 * Empty where /proc is not there.
 */
export class CpuMeter {
  private names = new Map<number, string>();

  constructor(private readonly pids: () => number[]) {}

  async sample(): Promise<CpuSnapshot> {
    const byName = new Map<string, number>();
    for (const pid of this.pids()) {
      try {
        if (!this.names.has(pid)) {
          const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
          const i = args.findIndex((a) => a === '--config' || a === '-c');
          const file = i >= 0 ? (args[i + 1] ?? '') : String(pid);
          this.names.set(pid, file.replace(/^.*\//, '').replace(/\.(json|conf)$/, ''));
        }
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        byName.set(this.names.get(pid)!, (Number(f[11]) + Number(f[12])) / TICKS_PER_S);
      } catch {
        // gone, or no /proc
      }
    }
    const self = process.cpuUsage();
    byName.set('bench', (self.user + self.system) / 1e6);
    let machineBusy = 0;
    try {
      const cpu = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/);
      const v = cpu.slice(1).map(Number);
      // user nice system idle iowait irq softirq steal
      machineBusy = (v.reduce((a, b) => a + b, 0) - v[3]! - (v[4] ?? 0)) / TICKS_PER_S;
    } catch {
      // no /proc
    }
    return { at: performance.now(), byName, machineBusy };
  }
}

/**
 * Cores used between two snapshots: per process of the cluster (largest first), their
 * total, and the whole machine's (the rest is other work on a shared machine).
 */
export function coresBetween(
  a: CpuSnapshot,
  b: CpuSnapshot,
): { cluster_and_bench: number; machine: number; by_process: Record<string, number> } {
  const s = (b.at - a.at) / 1000;
  const rows = [...b.byName].map(
    ([name, t]) => [name, (t - (a.byName.get(name) ?? t)) / s] as const,
  );
  rows.sort((x, y) => y[1] - x[1]);
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    cluster_and_bench: r2(rows.reduce((sum, [, c]) => sum + c, 0)),
    machine: r2((b.machineBusy - a.machineBusy) / s),
    by_process: Object.fromEntries(rows.map(([n, c]) => [n, r2(c)])),
  };
}
