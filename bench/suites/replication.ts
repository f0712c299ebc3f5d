/**
 * `npm run bench -- replication`: what a follower pays to get an index, against what it
 * would pay to build it, and how far behind the primary it runs under a steady write load.
 *
 * - `ship`: the primary ingests clustered 768-d vectors and seals one segment; a follower
 *   with an empty data dir applies that manifest (fetch → verify → load → transaction →
 *   swap), timed by its apply hooks, side by side with rebuilding the same HNSW graph from
 *   the raw vectors and with raw JetStream chunk throughput, all in the same run on the
 *   same server.
 * - `lag`: a steady paced write load on the primary, and per write the time from the
 *   primary's ack to the follower's applied notice; then every acked id is queried on the
 *   follower.
 * - `bootstrap`: a new follower joins the `ship` collection plus a WAL tail and serves it
 *   without building a graph.
 */
import { execSync } from 'node:child_process';
import { join } from 'node:path';
import type { Subscription } from 'nats';
import { buildSegment, closeIndexWorkers, indexStats, loadSegment } from '../../index/index.ts';
import type { PointInput, SeqPoint } from '../../index/index.ts';
import { Subjects, connectNats } from '../../sync/index.ts';
import type { ApplyStage, Primary } from '../../sync/index.ts';
import { ChildFollower } from '../../dev/harness/child-follower.ts';
import type { ChildEvent } from '../../dev/harness/child-follower.ts';
import { startFollower, startPrimary } from '../../dev/harness/cluster.ts';
import type { NodeHandle } from '../../dev/harness/cluster.ts';
import { generateClustered } from '../../dev/harness/datasets.ts';
import { startNatsServer } from '../../dev/harness/nats-server.ts';
import { makeTempDir } from '../../dev/harness/tmp.ts';
import type { TempDir } from '../../dev/harness/tmp.ts';
import { latencySummary, machineInfo, percentile, printTable, round, writeResult } from '../lib.ts';
import type { BenchFlags } from '../lib.ts';
import { crashSection } from './replication/crash.ts';
import { memorySection } from './replication/memory.ts';
import { measureTransfer } from './transfer.ts';

const MODEL = 'bench@1';
const PRIMARY_REGION = 'us-east';
/** nats-server's default `max_payload`, used when the server does not say. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** Cleanup steps, run in reverse order whatever happened. */
type Cleanup = () => Promise<unknown>;

const log = (msg: string): void => console.log(`replication: ${msg}`);
const mb = (bytes: number, ms: number): number => round(bytes / 1e6 / (ms / 1000), 1);

/**
 * The largest upsert that fits one WAL message: the primary writes each upsert as ONE
 * JetStream message and does not split it, so a batch above the server's `max_payload`
 * (1 MiB by default, about 320 points of 768 dims) is refused with MAX_PAYLOAD_EXCEEDED.
 * 64 KiB are left for the entry's JSON head (ids) and headers.
 */
function fittingBatch(maxPayload: number, dim: number, wanted: number): number {
  const perPoint = dim * 4 + 24;
  return Math.max(1, Math.min(wanted, Math.floor((maxPayload - 64 * 1024) / perPoint)));
}

function maxPayloadOf(p: NodeHandle<Primary>): number {
  return p.link.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
}

function rowsAsPoints(data: Float32Array, dim: number, from: number, to: number, prefix: string) {
  const out: PointInput[] = [];
  for (let i = from; i < to; i++)
    out.push({ id: `${prefix}${i}`, vector: data.subarray(i * dim, (i + 1) * dim) });
  return out;
}

// ---------------------------------------------------------------------------------------
// lag
// ---------------------------------------------------------------------------------------

interface LagResult {
  follower: 'child-process' | 'in-process';
  dim: number;
  rate_points_s: number;
  achieved_points_s: number;
  batch_points: number;
  interval_ms: number;
  duration_s: number;
  writes: number;
  samples: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  applied_before_ack: number;
  over_20ms: number;
  slowest: Array<{ at_s: number; ms: number }>;
  acked: number;
  failed_writes: number;
  lost: number;
  follower_points: number;
  acked_incl_warmup: number;
  k1_top_hit_misses: number;
  k100_misses: number;
  hnsw_unreachable_on_primary_too: number;
  unexplained_ids_sample: string[];
  verify: string;
}

async function lagSection(quick: boolean, cleanups: Cleanup[]): Promise<LagResult> {
  const dim = 128;
  const batch = 20;
  const intervalMs = 10;
  const durationS = quick ? 10 : 30;
  const writes = Math.round((durationS * 1000) / intervalMs);
  const warmupWrites = 50;
  const region = 'eu-west';
  const node = 'lag1';

  const nats = await startNatsServer();
  cleanups.push(() => nats.stop());
  const primary = await startPrimary({
    natsUrl: nats.url,
    region: PRIMARY_REGION,
    node: 'p-lag',
    regions: [PRIMARY_REGION, region],
  });
  cleanups.push(async () => {
    await primary.stop();
    await primary.cleanup();
  });
  const p = primary.node;
  await p.createCollection({ name: 'lag', dim, metric: 'cosine', model: MODEL });

  const dir = await makeTempDir('bench-lag-follower');
  cleanups.push(() => dir.cleanup());
  log(`lag: starting the follower (${region}/${node}) in its own process`);
  const child = new ChildFollower({ natsUrl: nats.url, dataDir: dir.path, region, node });
  cleanups.push(() => child.stop());
  await child.next((e) => e.event === 'ready', 60_000, true);

  // The follower's applied notices, heard on a connection of our own (core NATS).
  const observer = await connectNats({ servers: nats.url, name: 'bench-lag-observer' });
  cleanups.push(() => observer.close());
  let appliedMax = 0;
  const pending = new Map<number, number>(); // seq → ack time
  const samples: number[] = [];
  let appliedBeforeAck = 0;
  let measuring = false;
  let t0 = 0;
  // The slowest samples with the time they were acked, to see whether spikes are periodic.
  const slow: Array<{ at_s: number; ms: number }> = [];
  const appliedWaiters = new Set<{ seq: number; resolve: () => void }>();
  const sub: Subscription = observer.nc.subscribe(Subjects.applied(region, node), {
    callback: (_err, msg) => {
      const now = performance.now();
      let seq: number;
      try {
        seq = (JSON.parse(Buffer.from(msg.data).toString('utf8')) as { appliedSeq: number })
          .appliedSeq;
      } catch {
        return;
      }
      if (seq <= appliedMax) return;
      appliedMax = seq;
      for (const [s, ackedAt] of pending) {
        if (s > seq) continue;
        pending.delete(s);
        if (measuring) {
          samples.push(now - ackedAt);
          if (now - ackedAt > 20)
            slow.push({ at_s: round((ackedAt - t0) / 1000, 2), ms: round(now - ackedAt, 1) });
        }
      }
      for (const w of [...appliedWaiters]) {
        if (w.seq <= seq) {
          appliedWaiters.delete(w);
          w.resolve();
        }
      }
    },
  });
  cleanups.push(async () => sub.unsubscribe());
  const waitApplied = (seq: number, timeoutMs: number): Promise<boolean> =>
    seq <= appliedMax
      ? Promise.resolve(true)
      : new Promise((resolve) => {
          const w = { seq, resolve: () => (clearTimeout(t), resolve(true)) };
          const t = setTimeout(() => {
            appliedWaiters.delete(w);
            resolve(false);
          }, timeoutMs);
          appliedWaiters.add(w);
        });

  const data = generateClustered({ n: (writes + warmupWrites) * batch, dim, seed: 128 });
  const ackedIds: number[] = []; // row indices of acked points
  let failed = 0;
  let lastSeq = 0;
  const write = (w: number): Promise<void> => {
    const rows = rowsAsPoints(data, dim, w * batch, (w + 1) * batch, 'l');
    return p.upsert('lag', rows, { ack: 'async' }).then(
      (r) => {
        const now = performance.now();
        for (let i = w * batch; i < (w + 1) * batch; i++) ackedIds.push(i);
        lastSeq = Math.max(lastSeq, r.seq);
        if (r.seq <= appliedMax) {
          // The follower's notice came in before the ack did (one event loop runs both
          // the primary and this observer): the write was visible at ack time.
          if (measuring) {
            appliedBeforeAck++;
            samples.push(0);
          }
        } else {
          pending.set(r.seq, now);
        }
      },
      () => {
        failed++;
      },
    );
  };

  // Warm-up: the first WAL entries make the follower set up its consumer and views.
  const warm: Promise<void>[] = [];
  for (let w = 0; w < warmupWrites; w++) warm.push(write(w));
  await Promise.all(warm);
  if (!(await waitApplied(lastSeq, 30_000))) throw new Error('lag: the warm-up was never applied');

  log(`lag: ${batch} points every ${intervalMs} ms for ${durationS} s, async ack`);
  measuring = true;
  const inflight: Promise<void>[] = [];
  t0 = performance.now();
  await new Promise<void>((resolve) => {
    let sent = 0;
    // Paced against the wall clock: a late timer sends every batch that is due, so the
    // rate does not drift below the target when the event loop is busy.
    const tick = (): void => {
      const due = Math.min(writes, Math.floor((performance.now() - t0) / intervalMs) + 1);
      while (sent < due) inflight.push(write(warmupWrites + sent++));
      if (sent >= writes) return resolve();
      setTimeout(tick, Math.max(0, t0 + sent * intervalMs - performance.now()));
    };
    tick();
  });
  await Promise.all(inflight);
  const elapsedS = (performance.now() - t0) / 1000;
  const caughtUp = await waitApplied(lastSeq, 60_000);
  measuring = false;
  const unapplied = pending.size;
  if (!caughtUp) log(`lag: ${unapplied} acked writes were not applied within 60 s`);

  // Every acked id, looked up on the follower. The memtable is searched exactly, but a
  // scan of every point per id is quadratic (60k × 60k × 128 flops), so the primary seals
  // first and the follower answers from the HNSW segment it loads; a point whose k=1 top
  // hit is not itself is asked again with k=100 (ef ≥ 100) before it counts as lost.
  log(`lag: sealing on the primary, then querying all ${ackedIds.length} acked ids`);
  const m = await p.seal('lag');
  if (!m) throw new Error('lag: nothing to seal');
  for (;;) {
    const s = await child.request({ cmd: 'status' }, 'status');
    const c = (s.collections as Array<{ collection: string; viewVersion: number }>).find(
      (x) => x.collection === 'lag',
    );
    if ((c?.viewVersion ?? 0) >= m.version) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const misses = await queryIds(child, data, dim, ackedIds, 1);
  const lostRows = misses.length ? await queryIds(child, data, dim, misses, 100) : [];
  // A point the follower's segment cannot return may still be there: HNSW graphs leave a
  // few points unreachable (raw hnswlib on the same vectors misses exactly as many).
  // Those are asked on the primary's copy of the same segment (same digest, same graph);
  // a miss there too is the graph, and the follower's point count proves presence.
  const st = await child.request({ cmd: 'status' }, 'status');
  const fc = (
    st.collections as Array<{ collection: string; points: number; viewDigests: string[] }>
  ).find((x) => x.collection === 'lag');
  const sameSegments =
    JSON.stringify(fc?.viewDigests ?? []) === JSON.stringify(m.segments.map((x) => x.digest));
  const primaryView = p.replica.served('lag')!.view;
  const unreachable: number[] = [];
  for (const r of lostRows) {
    const v = data.subarray(r * dim, (r + 1) * dim);
    const hits = await primaryView.search(v, { k: 100 });
    if (!hits.some((h) => h.id === `l${r}`)) unreachable.push(r);
  }
  const followerPoints = fc?.points ?? 0;
  const missingByCount = Math.max(0, ackedIds.length - followerPoints);
  const lost = sameSegments
    ? Math.max(lostRows.length - unreachable.length, missingByCount)
    : lostRows.length + missingByCount;

  const sorted = [...samples].sort((a, b) => a - b);
  return {
    follower: 'child-process',
    dim,
    rate_points_s: (batch * 1000) / intervalMs,
    achieved_points_s: Math.round((writes * batch) / elapsedS),
    batch_points: batch,
    interval_ms: intervalMs,
    duration_s: durationS,
    writes,
    samples: samples.length,
    ...latencySummary(samples),
    max_ms: round(percentile(sorted, 100), 3),
    applied_before_ack: appliedBeforeAck,
    over_20ms: slow.length,
    slowest: [...slow].sort((a, b) => b.ms - a.ms).slice(0, 12),
    acked: ackedIds.length - warmupWrites * batch,
    failed_writes: failed,
    lost: lost + unapplied * batch,
    follower_points: followerPoints,
    acked_incl_warmup: ackedIds.length,
    k1_top_hit_misses: misses.length,
    k100_misses: lostRows.length,
    hnsw_unreachable_on_primary_too: unreachable.length,
    unexplained_ids_sample: lostRows
      .filter((r) => !unreachable.includes(r))
      .slice(0, 10)
      .map((i) => `l${i}`),
    verify:
      "after the timed writes the primary seals; each acked id (warm-up included) is queried on the child follower with its own vector, k=1, a miss again with k=100; lost = misses the primary's copy of the same segment does return, or acked ids beyond the follower's point count, whichever is larger",
  };
}

/**
 * Queries the child follower with each row's own vector and returns the rows whose id is
 * not among the top `k` hits. Commands are pipelined; the child answers them in order.
 */
async function queryIds(
  child: ChildFollower,
  data: Float32Array,
  dim: number,
  rows: number[],
  k: number,
): Promise<number[]> {
  const missing: number[] = [];
  const window = 256;
  for (let at = 0; at < rows.length; at += window) {
    const part = rows.slice(at, at + window);
    const seen = child.events.length;
    let got = 0;
    const all = child.next(
      (e: ChildEvent) => e.event === 'result' && ++got === part.length,
      60_000,
    );
    for (const r of part) {
      child.send({
        cmd: 'query',
        collection: 'lag',
        vector: Array.from(data.subarray(r * dim, (r + 1) * dim)),
        k,
      });
    }
    await all;
    const results = child.events.slice(seen).filter((e) => e.event === 'result');
    part.forEach((r, i) => {
      const hits = (results[i]?.hits ?? []) as Array<{ id: string }>;
      if (!hits.some((h) => h.id === `l${r}`)) missing.push(r);
    });
    // The child keeps every event; drop the answers we have read.
    child.events.splice(seen);
  }
  return missing;
}

// ---------------------------------------------------------------------------------------
// ship
// ---------------------------------------------------------------------------------------

interface ShipResult {
  n: number;
  dim: number;
  batch_points: number;
  ingest_ms: number;
  seal_ms: number;
  segment_bytes: number;
  build_ms: number;
  ship_ms: number;
  verify_ms: number;
  load_ms: number;
  apply_verify_load_ms: number;
  apply_commit_swap_ms: number;
  apply_total_ms: number;
  /** The same apply by a follower without search threads, just before (side by side). */
  apply_total_no_search_threads_ms: number;
  /** Segment files the follower loaded: 1, the view thread's (one copy, decision 0013). */
  follower_segment_loads: number;
  follower_join_ms: number;
  follower_builds: number;
  ratio_rebuild_over_apply: number;
  transfer_mb_s: number;
  raw_chunk_mb_s: number;
  ship_over_raw: number;
  raw_get_mb_s: number;
  ship_over_raw_get: number;
  measured_upload_fetch_mb_s: number;
  transfer_vs_raw: number;
}

interface ShipContext {
  primary: NodeHandle<Primary>;
  natsUrl: string;
  manifestVersion: number;
  digest: string;
  dim: number;
  n: number;
}

async function shipSection(
  quick: boolean,
  cleanups: Cleanup[],
): Promise<{ result: ShipResult; ctx: ShipContext }> {
  const n = quick ? 20_000 : 100_000;
  const dim = 768;
  const nats = await startNatsServer();
  cleanups.push(() => nats.stop());
  const primary = await startPrimary({
    natsUrl: nats.url,
    region: PRIMARY_REGION,
    node: 'p-ship',
    regions: [PRIMARY_REGION, 'eu-west', 'ap-south'],
  });
  cleanups.push(async () => {
    await primary.stop();
    await primary.cleanup();
  });
  const p = primary.node;
  const settings = await p.createCollection({ name: 'ship', dim, metric: 'cosine', model: MODEL });

  log(`ship: generating ${n} x ${dim} clustered vectors`);
  const data = generateClustered({ n, dim, seed: 42 });
  const batch = fittingBatch(maxPayloadOf(primary), dim, 2_000);
  log(`ship: ingesting in upserts of ${batch} points (async ack)`);
  let t = performance.now();
  for (let i = 0; i < n; i += batch) {
    await p.upsert('ship', rowsAsPoints(data, dim, i, Math.min(n, i + batch), 's'), {
      ack: 'async',
    });
  }
  const ingestMs = performance.now() - t;
  log('ship: sealing (HNSW build in a worker, upload, manifest)');
  t = performance.now();
  const m = await p.seal('ship');
  const sealMs = performance.now() - t;
  if (!m || m.segments.length !== 1) throw new Error('ship: expected one sealed segment');
  const seg = m.segments[0]!;

  // Side by side: the same apply by a follower that holds its views on its event loop
  // (searchThreads 0), then by one as a follower node runs by default (1 view thread).
  log(`ship: a follower without view threads applies manifest v${m.version}`);
  execSync('sync'); // the seal's dirty pages are not written back during either apply
  const noThreads = new Map<ApplyStage, number>();
  const plain = await startFollower({
    natsUrl: nats.url,
    region: 'eu-west',
    node: 'f-ship0',
    hooks: {
      onStage: (stage, mm) => {
        if (mm.collection === 'ship' && mm.version === m.version && !noThreads.has(stage))
          noThreads.set(stage, performance.now());
      },
    },
  });
  await plain.node.waitUntil(
    () => (plain.node.served('ship')?.version ?? 0) >= m.version,
    600_000,
    'the ship manifest on the follower without search threads',
  );
  await plain.stop();
  await plain.cleanup();
  const plainApplyMs = noThreads.get('done')! - noThreads.get('fetch')!;
  execSync('sync');

  log(`ship: a follower with an empty data dir applies manifest v${m.version}`);
  const stages = new Map<ApplyStage, number>();
  const buildsBefore = indexStats().builds;
  t = performance.now();
  const follower = await startFollower({
    natsUrl: nats.url,
    region: 'eu-west',
    node: 'f-ship',
    searchThreads: 1, // as a follower node runs by default (query.searchThreads)
    hooks: {
      onStage: (stage, mm) => {
        if (mm.collection === 'ship' && mm.version === m.version && !stages.has(stage))
          stages.set(stage, performance.now());
      },
    },
  });
  let followerStopped = false;
  const stopFollower = async (): Promise<void> => {
    if (followerStopped) return;
    followerStopped = true;
    await follower.stop();
    await follower.cleanup();
  };
  cleanups.push(stopFollower);
  await follower.node.waitUntil(
    () => (follower.node.served('ship')?.version ?? 0) >= m.version,
    600_000,
    'the ship manifest on the follower',
  );
  const joinMs = performance.now() - t;
  // One copy (decision 0013): the view thread loaded the segment before the swap, and it
  // is the only load this follower made.
  const followerLoads = await follower.node.viewHost!.segmentLoads();
  const followerBuilds = indexStats().builds - buildsBefore;
  const at = (s: ApplyStage): number => {
    const v = stages.get(s);
    if (v === undefined) throw new Error(`ship: the follower never reached stage ${s}`);
    return v;
  };
  if ((await follower.node.served('ship')!.view.stats()).points !== n)
    throw new Error('ship: the follower serves the wrong number of points');

  // verify and load run together inside the apply; split them by loading the fetched file
  // once more as the apply did (decision 0017: a file it just fetched is not hashed
  // again), the worker's unpack, then hnswlib's readIndex.
  const { segment, timings } = await loadSegment(join(follower.dataDir, 'segments', seg.digest), {
    expectedDigest: seg.digest,
    trustDigest: true,
  });
  if (segment.count !== n) throw new Error('ship: the reloaded segment lost points');
  await stopFollower();

  log('ship: rebuilding the same index from the raw vectors (what a follower would do)');
  const scratch: TempDir = await makeTempDir('bench-ship-rebuild');
  cleanups.push(() => scratch.cleanup());
  const points: SeqPoint[] = Array.from({ length: n }, (_, i) => ({
    id: `s${i}`,
    seq: i + 1,
    vector: data.subarray(i * dim, (i + 1) * dim),
    metadata: null,
  }));
  t = performance.now();
  await buildSegment(points, {
    collection: 'ship',
    generation: MODEL,
    dim,
    metric: 'cosine',
    hnsw: settings.hnsw,
    dir: scratch.path,
  });
  const buildMs = performance.now() - t;
  await scratch.cleanup();

  log(`ship: raw chunk throughput of ${seg.bytes} bytes on the same server`);
  const raw = await measureTransfer(nats.url, seg.bytes);

  const shipMs = at('verify') - at('fetch');
  const applyTotal = at('done') - at('fetch');
  const transfer = mb(seg.bytes, shipMs);
  const result: ShipResult = {
    n,
    dim,
    batch_points: batch,
    ingest_ms: Math.round(ingestMs),
    seal_ms: Math.round(sealMs),
    segment_bytes: seg.bytes,
    build_ms: Math.round(buildMs),
    ship_ms: Math.round(shipMs),
    verify_ms: Math.round(timings.verifyMs),
    load_ms: Math.round(timings.loadMs),
    apply_verify_load_ms: Math.round(at('load') - at('verify')),
    apply_commit_swap_ms: Math.round(at('done') - at('load')),
    apply_total_ms: Math.round(applyTotal),
    apply_total_no_search_threads_ms: Math.round(plainApplyMs),
    follower_segment_loads: followerLoads,
    follower_join_ms: Math.round(joinMs),
    follower_builds: followerBuilds,
    ratio_rebuild_over_apply: round(buildMs / applyTotal, 1),
    transfer_mb_s: transfer,
    raw_chunk_mb_s: raw.raw_chunk_mb_s,
    ship_over_raw: round(transfer / raw.raw_chunk_mb_s, 2),
    raw_get_mb_s: raw.raw_get_mb_s,
    ship_over_raw_get: round(transfer / raw.raw_get_mb_s, 2),
    measured_upload_fetch_mb_s: raw.transfer_mb_s,
    transfer_vs_raw: round(raw.transfer_mb_s / raw.raw_chunk_mb_s, 2),
  };
  return {
    result,
    ctx: { primary, natsUrl: nats.url, manifestVersion: m.version, digest: seg.digest, dim, n },
  };
}

// ---------------------------------------------------------------------------------------
// bootstrap
// ---------------------------------------------------------------------------------------

interface BootstrapResult {
  n: number;
  dim: number;
  tail_points: number;
  ms_to_ready: number;
  manifest_applied_ms: number;
  builds: number;
  points_served: number;
}

async function bootstrapSection(ctx: ShipContext, cleanups: Cleanup[]): Promise<BootstrapResult> {
  const tail = 1_000;
  const { dim, n } = ctx;
  const p = ctx.primary.node;
  const data = generateClustered({ n: tail, dim, seed: 4242 });
  const batch = fittingBatch(maxPayloadOf(ctx.primary), dim, 2_000);
  for (let i = 0; i < tail; i += batch) {
    await p.upsert('ship', rowsAsPoints(data, dim, i, Math.min(tail, i + batch), 't'), {
      ack: 'async',
    });
  }
  const target = p.commitPosition.seq;

  log(`bootstrap: a new follower joins (manifest v${ctx.manifestVersion} + ${tail}-point tail)`);
  const buildsBefore = indexStats().builds;
  let manifestAt = 0;
  const t0 = performance.now();
  const f = await startFollower({
    natsUrl: ctx.natsUrl,
    region: 'ap-south',
    node: 'f-boot',
    searchThreads: 1,
    hooks: {
      onStage: (stage, m) => {
        if (stage === 'done' && m.collection === 'ship') manifestAt = performance.now();
      },
    },
  });
  cleanups.push(async () => {
    await f.stop();
    await f.cleanup();
  });
  await f.node.waitUntil(
    () =>
      (f.node.served('ship')?.version ?? 0) >= ctx.manifestVersion && f.node.appliedSeq >= target,
    600_000,
    'the new follower to serve the ship collection and its WAL tail',
  );
  const ready = performance.now() - t0;
  const served = f.node.served('ship')!;
  const q = Array.from(data.subarray((tail - 1) * dim, tail * dim));
  const hit = (await served.view.search(q, { k: 1 }))[0];
  if (hit?.id !== `t${tail - 1}`) throw new Error('bootstrap: a tail point is not queryable');
  return {
    n,
    dim,
    tail_points: tail,
    ms_to_ready: Math.round(ready),
    manifest_applied_ms: Math.round(manifestAt - t0),
    builds: indexStats().builds - buildsBefore,
    points_served: (await served.view.stats()).points,
  };
}

// ---------------------------------------------------------------------------------------

export async function run(flags: BenchFlags): Promise<void> {
  const cleanups: Cleanup[] = [];
  const cleanupAll = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) {
      await c().catch((err: unknown) => console.error('cleanup failed:', err));
    }
  };
  try {
    // `npm run bench -- replication ship-only`: the ship, bootstrap and memory sections.
    // `… lag-only`: the lag section alone.
    const lag = flags.rest.includes('ship-only') ? null : await lagSection(flags.quick, cleanups);
    await cleanupAll();
    if (lag)
      printTable('lag: primary ack → follower applied (follower in its own process)', [
        {
          rate_points_s: lag.rate_points_s,
          achieved_points_s: lag.achieved_points_s,
          duration_s: lag.duration_s,
          p50_ms: lag.p50_ms,
          p99_ms: lag.p99_ms,
          max_ms: lag.max_ms,
          acked: lag.acked,
          lost: lag.lost,
        },
      ]);
    // `npm run bench -- replication lag-only`: the lag section alone (a quick A/B).
    if (lag && flags.rest.includes('lag-only')) {
      await writeResult(flags.out, { suite: 'replication', machine: await machineInfo(), lag });
      return;
    }

    const { result: ship, ctx } = await shipSection(flags.quick, cleanups);
    printTable('ship: follower applies a sealed segment vs rebuilding it', [
      {
        n: ship.n,
        dim: ship.dim,
        build_ms: ship.build_ms,
        ship_ms: ship.ship_ms,
        verify_ms: ship.verify_ms,
        load_ms: ship.load_ms,
        loads: ship.follower_segment_loads,
        apply_no_threads_ms: ship.apply_total_no_search_threads_ms,
        apply_total_ms: ship.apply_total_ms,
        rebuild_over_apply: ship.ratio_rebuild_over_apply,
      },
    ]);
    printTable('ship: transfer MB/s, same server, same run', [
      {
        segment_mb: round(ship.segment_bytes / 1e6, 1),
        ship_fetch_mb_s: ship.transfer_mb_s,
        raw_put_get_mb_s: ship.raw_chunk_mb_s,
        ship_over_raw: ship.ship_over_raw,
        raw_get_mb_s: ship.raw_get_mb_s,
        ship_over_raw_get: ship.ship_over_raw_get,
        upload_fetch_mb_s: ship.measured_upload_fetch_mb_s,
        transfer_vs_raw: ship.transfer_vs_raw,
      },
    ]);

    const bootstrap = await bootstrapSection(ctx, cleanups);
    printTable('bootstrap: new follower, empty data dir → serving', [bootstrap]);

    const memory = await memorySection(
      {
        ...ctx,
        segmentPath: join(ctx.primary.dataDir, 'segments', ctx.digest),
        quick: flags.quick,
      },
      cleanups,
    );
    printTable('memory: follower process RSS / raw hnswlib process RSS (same graph)', [
      {
        follower_after_load_mb: memory.follower_after_load.rss_mb,
        follower_after_traffic_mb: memory.follower_after_load_and_traffic.rss_mb,
        raw_mb: memory.raw_rss_mb,
        ratio: memory.ratio,
        anon_ratio: memory.anon_ratio,
        queries: memory.queries,
        writes: memory.writes_points,
        seals: memory.seals,
      },
    ]);
    await cleanupAll();

    const crash = await crashSection(flags.quick, cleanups);
    printTable('crash: follower paused, killed, restarted under writes (stale reads: goal 0)', [
      {
        rounds: crash.rounds,
        reads: crash.reads,
        stale_reads: crash.stale_reads,
        max_gap_entries: crash.max_gap_entries,
        recovery_p50_ms: crash.recovery_ms.p50,
        recovery_max_ms: crash.recovery_ms.max,
        restart_p50_ms: crash.restart_ms.p50,
      },
    ]);
    await cleanupAll();

    await writeResult(flags.out, {
      suite: 'replication',
      quick: flags.quick,
      machine: await machineInfo(),
      goals: {
        ratio_rebuild_over_apply: '>= 20',
        transfer_mb_s: '>= 0.7 x raw_chunk_mb_s',
        lag_p99_ms: '<= 50',
        lag_lost: '= 0',
        bootstrap_builds: '= 0',
        memory_ratio: '<= 1.3',
        crash_stale_reads: '= 0',
      },
      met: {
        ratio_rebuild_over_apply: ship.ratio_rebuild_over_apply >= 20,
        transfer_mb_s: ship.transfer_mb_s >= 0.7 * ship.raw_chunk_mb_s,
        lag_p99_ms: lag ? lag.p99_ms <= 50 : null,
        lag_lost: lag ? lag.lost === 0 : null,
        bootstrap_builds: bootstrap.builds === 0,
        memory_ratio: memory.ratio <= 1.3,
        crash_stale_reads: crash.stale_reads === 0,
      },
      ship,
      lag,
      bootstrap,
      crash: {
        rounds: crash.rounds,
        stale_reads: crash.stale_reads,
        max_gap_entries: crash.max_gap_entries,
        recovery_ms: crash.recovery_ms,
        restart_ms: crash.restart_ms,
        reads: crash.reads,
        acked_writes: crash.acked_writes,
      },
      memory: {
        follower_rss_mb: memory.follower_rss_mb,
        raw_rss_mb: memory.raw_rss_mb,
        ratio: memory.ratio,
        details: memory,
      },
    });
  } finally {
    await cleanupAll();
    await closeIndexWorkers();
  }
}
