/**
 * `npm run bench -- stream [large] [--quick] [--out FILE]` (issue 12): continuous writes.
 *
 * A primary and a follower as processes (default seal policy) on one nats-server; a
 * collection of 100k × 128 (1M with `large`) loaded and sealed; then a steady stream for
 * 60 s (15 s with --quick) at each rate — 500 single-point writes/s, and 2,000 points/s in
 * writes of 20 — open loop, at most 64 writes in flight, default ack. During each stream:
 *
 * - ack latency of every write, and the points/s achieved;
 * - visible lag: ten times a second the newest acknowledged point is looked for on the
 *   follower with a similarity query for its own vector, in a tight loop, until it is
 *   the top hit (time from the ack);
 * - follower query latency: 20 queries/s of random vectors (k 10, eventual);
 * - CPU of the primary, the follower and nats-server (/proc), per written point;
 * - bytes every replica fetches per written point: WAL stream bytes + segment bytes built;
 * - seals, merges, points rewritten by merges, and the largest memtable either node held.
 *
 * Then a new follower with an empty data directory: spawn → serving every point.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'nats';
import { freePort } from '../../dev/cluster/launcher.ts';
import { Streams } from '../../sync/subjects.ts';
import { startNatsServer } from '../../dev/harness/nats-server.ts';
import { startProcess } from '../../dev/harness/processes.ts';
import type { ProcessSpec, ServiceProcess } from '../../dev/harness/processes.ts';
import { TEST_KEYS } from '../../dev/harness/services.ts';
import { makeTempDir } from '../../dev/harness/tmp.ts';
import type { BenchFlags } from '../lib.ts';
import { latencySummary, machineInfo, printTable, round, writeResult } from '../lib.ts';
import { JsonClient } from './regions/http-client.ts';

const DIM = 128;
const COLLECTION = 'stream';
const MAX_IN_FLIGHT = 64;
const log = (msg: string): void => console.log(`stream: ${msg}`);
type Cleanup = () => Promise<unknown>;

/** A seeded generator of unit-free vectors (mulberry32), so every run writes the same data. */
function vectors(seed: number): (n: number) => number[] {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return (n) => Array.from({ length: n }, () => next() * 2 - 1);
}

interface RateResult {
  rate: number;
  batch: number;
  seconds: number;
  offered_points_s: number;
  achieved_points_s: number;
  ack_p50_ms: number;
  ack_p99_ms: number;
  visible_lag_p50_ms: number;
  visible_lag_p99_ms: number;
  visible_samples: number;
  follower_query_p50_ms: number;
  follower_query_p99_ms: number;
  cpu_ms_per_point: number;
  cpu_ms_per_point_by_process: { primary: number; follower: number; nats: number };
  bytes_shipped_per_point: number;
  raw_bytes_per_point: number;
  seals: number;
  compactions: number;
  max_memtable_points: number;
  rebuilt_points_per_written_point: number;
  errors: number;
  /** Writes refused with 503 (write_stalled: seals behind the writes); not retried here. */
  stalled_writes: number;
}

export async function run(flags: BenchFlags): Promise<void> {
  const large = flags.rest.includes('large');
  const base = large ? 1_000_000 : 100_000;
  const seconds = flags.quick ? 15 : 60;
  const cleanups: Cleanup[] = [];
  try {
    const nats = await startNatsServer();
    cleanups.push(() => nats.stop());
    const dir = await makeTempDir('bench-stream');
    cleanups.push(() => dir.cleanup());
    const regions = ['us-east', 'eu-west'];
    // Defaults everywhere but the port: what a user gets.
    const defaults = { heartbeatMs: 1_000, beaconMs: 250, leaseTtlMs: 5_000 };
    const spec = (
      role: 'primary' | 'follower',
      node: string,
      region: string,
      port: number,
    ): ProcessSpec => ({
      role,
      region,
      node,
      natsUrl: nats.url,
      regions,
      dataDir: join(dir.path, node),
      overrides: {
        ...defaults,
        http: { host: '127.0.0.1', port },
        // MERIDIAN_BENCH_LOG=info prints the services' seal and merge lines (diagnosis).
        ...(process.env.MERIDIAN_BENCH_LOG
          ? { log: { level: process.env.MERIDIAN_BENCH_LOG as 'info' } }
          : {}),
      },
    });
    const primary = await startProcess(spec('primary', 'p1', 'us-east', await freePort()));
    cleanups.push(() => primary.stop());
    if (process.env.MERIDIAN_BENCH_LOG) {
      const t0 = Date.now();
      primary.proc.stdout!.on('data', (d: Buffer) => {
        for (const line of d.toString().split('\n')) {
          if (/seal|merge/.test(line)) console.log(`p1 +${Date.now() - t0} ms ${line}`);
        }
      });
    }
    const follower = await startProcess(spec('follower', 'f1', 'eu-west', await freePort()));
    cleanups.push(() => follower.stop());
    const p = new JsonClient(primary.url, TEST_KEYS.admin, MAX_IN_FLIGHT);
    const f = new JsonClient(follower.url, TEST_KEYS.admin, 8);
    const created = await p.send('PUT', `/v1/collections/${COLLECTION}`, {
      dim: DIM,
      metric: 'l2',
      model: 'm@1',
    });
    if (created.status >= 300) throw new Error(`create: ${JSON.stringify(created.body)}`);

    const gen = vectors(12);
    log(`loading ${base} × ${DIM} (seeded) and waiting for both replicas to seal it`);
    const loadStart = performance.now();
    for (let i = 0; i < base; i += 2_000) {
      const points = Array.from({ length: Math.min(2_000, base - i) }, (_, j) => ({
        id: `b${i + j}`,
        vector: gen(DIM),
      }));
      // As a client should: a 503 (write_stalled while seals catch up) is retried.
      for (let attempt = 0; ; attempt++) {
        const r = await p.send('POST', `/v1/collections/${COLLECTION}/points`, { points });
        if (r.status < 300) break;
        if (r.status !== 503 || attempt > 600) throw new Error(`load: ${JSON.stringify(r.body)}`);
        await new Promise((res) => setTimeout(res, 500));
      }
    }
    await until(async () => {
      const [a, b] = await Promise.all([describe(p), describe(f)]);
      return a.memtablePoints === 0 && b.memtablePoints === 0 && b.sealedPoints === base;
    }, 600_000);
    log(`loaded and sealed in ${round((performance.now() - loadStart) / 1000, 1)} s`);

    const js = await connect({ servers: nats.url });
    cleanups.push(() => js.close());
    const jsm = await js.jetstreamManager();
    const walBytes = async (): Promise<number> => (await jsm.streams.info(Streams.wal)).state.bytes;

    const rates: RateResult[] = [];
    let nextId = 0;
    for (const { rate, batch } of [
      { rate: 500, batch: 1 },
      { rate: 2_000, batch: 20 },
    ]) {
      log(`streaming ${rate} points/s in writes of ${batch} for ${seconds} s`);
      const r = await streamAt({
        rate,
        batch,
        seconds,
        p,
        f,
        primary,
        follower,
        natsPid: nats.pid,
        walBytes,
        gen,
        ids: () => `s${nextId++}`,
      });
      rates.push(r);
      printTable(`stream at ${rate} points/s (writes of ${batch})`, [r]);
      // Let the last seal land before the next rate starts.
      await new Promise((res) => setTimeout(res, 6_000));
    }

    const total = (await describe(p)).points;
    log(`bootstrap: a new follower with an empty data directory, ${total} points`);
    const t0 = performance.now();
    const f2 = await startProcess(spec('follower', 'f2', 'eu-west', await freePort()));
    cleanups.push(() => f2.stop());
    const readyS = (performance.now() - t0) / 1000;
    const c2 = new JsonClient(f2.url, TEST_KEYS.admin, 2);
    await until(async () => (await describe(c2)).points === total, 120_000, 20);
    const bootstrapS = (performance.now() - t0) / 1000;

    const result = {
      suite: 'stream',
      machine: await machineInfo(),
      base_points: base,
      dim: DIM,
      seconds,
      rates,
      bootstrap_s: round(bootstrapS, 3),
      bootstrap_ready_s: round(readyS, 3),
      bootstrap_points: total,
      goals: {
        achieved_equals_offered: true,
        ack_p50_ms_at_500_single: 5,
        visible_lag_p50_ms: 5,
        visible_lag_p99_ms: 50,
        follower_query_p99_ms: 10,
        rebuilt_points_per_written_point: 10,
        bytes_shipped_per_point_over_raw: 10,
        cpu_ms_per_single_point_write: 2.5,
        bootstrap_s: 1,
      },
    };
    printTable('bootstrap', [
      { points: total, ready_s: result.bootstrap_ready_s, serving_s: result.bootstrap_s },
    ]);
    await writeResult(flags.out, result);
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
}

interface Described {
  points: number;
  sealedPoints: number;
  memtablePoints: number;
  segments: number;
}

async function describe(c: JsonClient): Promise<Described> {
  const r = await c.send<{ generations: Described[] }>('GET', `/v1/collections/${COLLECTION}`);
  const g = r.body.generations?.[0];
  if (!g) throw new Error(`describe: ${JSON.stringify(r.body)}`);
  return g;
}

async function until(
  cond: () => Promise<boolean>,
  timeoutMs: number,
  everyMs = 250,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** utime + stime of a process, in ms (Linux /proc). */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat; after the command they are at 11 and 12 (0-based).
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** The primary's sealer counters from its /metrics. */
async function sealerCounts(c: JsonClient): Promise<Record<string, number>> {
  const r = await c.send<string>('GET', '/metrics');
  const out: Record<string, number> = {};
  for (const m of String(r.body).matchAll(
    /^meridian_sealer_events_total\{[^}]*event="([a-z_]+)"[^}]*\} ([0-9.e+]+)$/gm,
  )) {
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

async function streamAt(o: {
  rate: number;
  batch: number;
  seconds: number;
  p: JsonClient;
  f: JsonClient;
  primary: ServiceProcess;
  follower: ServiceProcess;
  natsPid: number;
  walBytes: () => Promise<number>;
  gen: (n: number) => number[];
  ids: () => string;
}): Promise<RateResult> {
  const pids = { primary: o.primary.proc.pid!, follower: o.follower.proc.pid!, nats: o.natsPid };
  const cpuAll = async () => ({
    primary: await cpuMs(pids.primary),
    follower: await cpuMs(pids.follower),
    nats: await cpuMs(pids.nats),
  });
  const cpu0 = await cpuAll();
  const wal0 = await o.walBytes();
  const sealer0 = await sealerCounts(o.p);
  const acks: number[] = [];
  const lags: number[] = [];
  const queries: number[] = [];
  let written = 0;
  let errors = 0;
  let stalled = 0;
  let maxMemtable = 0;
  let inFlight = 0;
  let newest: { id: string; vector: number[]; ackAt: number } | null = null;
  const durationMs = o.seconds * 1000;
  const writesPerS = o.rate / o.batch;
  const t0 = performance.now();
  let running = true;

  const writer = (async () => {
    const pending = new Set<Promise<void>>();
    for (let i = 0; ; i++) {
      const due = t0 + (i * 1000) / writesPerS;
      if (due - t0 >= durationMs) break;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (inFlight >= MAX_IN_FLIGHT) {
        await Promise.race(pending);
      }
      const points = Array.from({ length: o.batch }, () => ({ id: o.ids(), vector: o.gen(DIM) }));
      const sent = performance.now();
      inFlight++;
      const w = o.p
        .send('POST', `/v1/collections/${COLLECTION}/points`, { points })
        .then((r) => {
          const at = performance.now();
          if (r.status !== 200) {
            if (r.status === 503) stalled++;
            else errors++;
            return;
          }
          acks.push(at - sent);
          written += points.length;
          const last = points[points.length - 1]!;
          newest = { id: last.id, vector: last.vector, ackAt: at };
        })
        .catch(() => void errors++)
        .finally(() => {
          inFlight--;
          pending.delete(w);
        });
      pending.add(w);
    }
    await Promise.all(pending);
  })();

  const lagProbe = (async () => {
    while (running) {
      await new Promise((r) => setTimeout(r, 100));
      const target = newest as { id: string; vector: number[]; ackAt: number } | null;
      if (!target) continue;
      for (;;) {
        const r = await o.f.send<{ results?: Array<{ id: string }> }>(
          'POST',
          `/v1/collections/${COLLECTION}/query`,
          { vector: target.vector, k: 1 },
        );
        if (r.body.results?.[0]?.id === target.id) {
          lags.push(performance.now() - target.ackAt);
          break;
        }
        if (performance.now() - target.ackAt > 5_000) {
          lags.push(5_000);
          break;
        }
      }
    }
  })();

  const queryLoad = (async () => {
    const qgen = (() => {
      let s = 99;
      return () =>
        Array.from({ length: DIM }, () => {
          s = (s * 1103515245 + 12345) % 2147483648;
          return (s / 2147483648) * 2 - 1;
        });
    })();
    let i = 0;
    while (running) {
      const due = t0 + i++ * 50;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const s = performance.now();
      const r = await o.f.send('POST', `/v1/collections/${COLLECTION}/query`, {
        vector: qgen(),
        k: 10,
      });
      if (r.status === 200) queries.push(performance.now() - s);
    }
  })();

  const memWatch = (async () => {
    while (running) {
      await new Promise((r) => setTimeout(r, 250));
      const [a, b] = await Promise.all([describe(o.p), describe(o.f)]).catch(() => [null, null]);
      maxMemtable = Math.max(maxMemtable, a?.memtablePoints ?? 0, b?.memtablePoints ?? 0);
    }
  })();

  await writer;
  const elapsed = (performance.now() - t0) / 1000;
  running = false;
  await Promise.all([lagProbe, queryLoad, memWatch]);
  const cpu1 = await cpuAll();
  const wal1 = await o.walBytes();
  const sealer1 = await sealerCounts(o.p);
  const d = (k: string): number => (sealer1[k] ?? 0) - (sealer0[k] ?? 0);
  const per = (ms: number): number => round(ms / Math.max(1, written), 3);
  const ack = latencySummary(acks);
  const lag = latencySummary(lags);
  const q = latencySummary(queries);
  const shipped = wal1 - wal0 + d('segment_bytes');
  return {
    rate: o.rate,
    batch: o.batch,
    seconds: round(elapsed, 1),
    offered_points_s: o.rate,
    achieved_points_s: round(written / elapsed, 1),
    ack_p50_ms: ack.p50_ms,
    ack_p99_ms: ack.p99_ms,
    visible_lag_p50_ms: lag.p50_ms,
    visible_lag_p99_ms: lag.p99_ms,
    visible_samples: lags.length,
    follower_query_p50_ms: q.p50_ms,
    follower_query_p99_ms: q.p99_ms,
    cpu_ms_per_point: per(
      cpu1.primary - cpu0.primary + cpu1.follower - cpu0.follower + cpu1.nats - cpu0.nats,
    ),
    cpu_ms_per_point_by_process: {
      primary: per(cpu1.primary - cpu0.primary),
      follower: per(cpu1.follower - cpu0.follower),
      nats: per(cpu1.nats - cpu0.nats),
    },
    bytes_shipped_per_point: round(shipped / Math.max(1, written), 1),
    // A float32 vector, an id of ~7 bytes and no metadata.
    raw_bytes_per_point: DIM * 4 + 7,
    seals: d('seals'),
    compactions: d('merges'),
    max_memtable_points: maxMemtable,
    rebuilt_points_per_written_point: round(d('merged_points') / Math.max(1, written), 3),
    errors,
    stalled_writes: stalled,
  };
}
