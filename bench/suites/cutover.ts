/**
 * `npm run bench -- cutover [--quick] [--out FILE.json] [rate=N]`: an embedding-model cutover on the
 * three-region demo topology (issue 14) — backfill cost, activation and rollback flip
 * times per region, and whether any query saw the wrong generation.
 *
 * Real parts: `launchCluster` with the demo topology (hub nats-server in us-east, leaf
 * servers in eu-west and ap-south behind link proxies; a primary in us-east, a follower
 * and a router per region, each its own process; round trips us-east↔eu-west 80 ms,
 * us-east↔ap-south 220 ms).
 *
 * 1. A collection whose active model A (384, cosine) holds N seeded clustered points
 *    (100,000; 10,000 with --quick), written as Arrow batches to the primary; every
 *    follower applies and seals it.
 * 2. `quiet`: closed-loop k=10 eventual queries (4 workers) through the us-east router.
 *    Model B (384) is staged and backfilled with the same ids (A's vectors in a seeded
 *    dimension permutation, `sourceSeq` = the load's last seq), Arrow batches as fast as
 *    the primary takes them, while the same query load runs: points/s, and the active
 *    generation's QPS during the backfill against the quiet QPS.
 * 3. `activation`: one session write per region (its token), then queries from every
 *    region's router at all four levels (one closed-loop worker each; a sixth of the
 *    queries name A, a sixth B, the rest none) while B is activated with policy `all`.
 *    commit_ms is the activate request's round trip; a region's flip is the time from the
 *    commit (when the hub's JetStream stored the activation entry) to the first applied
 *    notice of that region's follower at or past the activation's seq (core NATS, heard on
 *    the region's own server). CPU per process (/proc) is kept for every window: the
 *    whole topology shares this machine's cores.
 * 4. `rollback`: the same with A activated again, and the segment bytes the followers
 *    fetched meanwhile (new files in their segment directories: no `/metrics` counter
 *    counts segment fetches).
 * 5. Every answer is checked (queries.ts): failed, wrong generation, B before the commit,
 *    results of both generations in one answer.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { launchCluster } from '../../dev/cluster/launcher.ts';
import { NATS_INSTALL_HINT, findNatsServer } from '../../dev/cluster/nats-process.ts';
import { demoTopology, parseTopology, rttMatrix } from '../../dev/cluster/topology.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';
import type { RegionsResponse } from '../../services/api.ts';
import { latencySummary, machineInfo, printTable, round, writeResult } from '../lib.ts';
import type { BenchFlags } from '../lib.ts';
import { ArrowUploader, uploadAll } from './cutover/client.ts';
import { DIM, MODEL_A, MODEL_B, arrowBatch, makeData, queryPools } from './cutover/data.ts';
import {
  AppliedWatch,
  CpuMeter,
  coresBetween,
  metricNames,
  metricSum,
  waitSettled,
} from './cutover/observe.ts';
import { FLIP_SLACK_MS, cutoverPhase, must, sleep } from './cutover/phase.ts';
import type { Ctx, PhaseResult } from './cutover/phase.ts';
import { QueryLoad, checkQueries } from './cutover/queries.ts';
import type { WorkerSpec } from './cutover/queries.ts';
import { JsonClient } from './regions/http-client.ts';

const COLLECTION = 'cutover';
const K = 10;
const BOUND_MS = 1_000;
const BATCH = 2_000;
const UPLOADS_IN_FLIGHT = 2;
const QPS_CONCURRENCY = 4;
/**
 * Seals of at most 25k points and merges only when 16 segments share a size tier: each
 * generation is built once (no merge rebuilds it during the run) in a handful of segments.
 */
const SEAL = { maxPoints: 25_000, maxAgeMs: 2_000, mergeFactor: 16, compactAbove: 32 };
const QPS_RATIO_GOAL = 0.7;

const log = (msg: string): void => console.log(`cutover: ${msg}`);

/** Runs the load for `ms`, then stops it; the answered queries per second (after a warm-up). */
async function timedQps(ctx: Ctx, phase: string, specs: WorkerSpec[], ms: number, warmMs: number) {
  ctx.load.phase = phase;
  ctx.load.start(specs);
  await sleep(warmMs);
  const c0 = await ctx.cpu.sample();
  await sleep(ms);
  const c1 = await ctx.cpu.sample();
  await ctx.load.stop();
  return {
    qps: ctx.load.answeredBetween(c0.at, c1.at) / ((c1.at - c0.at) / 1000),
    latency: latencySummary(ctx.load.latenciesBetween(c0.at, c1.at)),
    cores: coresBetween(c0, c1),
  };
}

export async function run(flags: BenchFlags): Promise<void> {
  if (!findNatsServer()) throw new Error(NATS_INSTALL_HINT);
  const n = flags.quick ? 10_000 : 100_000;
  // `rate=N`: the primary paces backfills to N points/s (limits.backfillPointsPerSecond).
  const rateArg = flags.rest.find((a) => a.startsWith('rate='));
  const backfillRate = rateArg ? Number(rateArg.slice('rate='.length)) : null;
  if (backfillRate !== null && !(Number.isInteger(backfillRate) && backfillRate > 0)) {
    throw new Error(`rate=N takes a whole number of points per second, got ${rateArg}`);
  }
  const qpsSeconds = flags.quick ? 4 : 10;
  const runStart = performance.now();
  const loadavgStart = os.loadavg().map((x) => round(x, 2));
  const topology = parseTopology(demoTopology);
  const baseDir = await mkdtemp(join(os.tmpdir(), 'meridian-bench-cutover-'));
  const apiKey = `bench-${randomBytes(12).toString('hex')}`;
  log(`generating ${n} × ${DIM} seeded vectors`);
  const data = makeData(n, 1405);
  log(`launching the demo topology in ${baseDir}`);
  const cluster = await launchCluster({
    topology,
    baseDir,
    apiKey,
    tokenSecret: randomBytes(24).toString('hex'),
    seal: SEAL,
    ...(backfillRate ? { limits: { backfillPointsPerSecond: backfillRate } } : {}),
    say: (line) => log(line),
  });
  const onSignal = () => void cluster.stop().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const clients: Array<{ close(): void }> = [];
  let watch: AppliedWatch | null = null;
  try {
    const hub = cluster.regions.find((r) => r.primary)!;
    watch = await AppliedWatch.start(cluster);
    const routers = new Map(
      cluster.regions.map((r) => [r.name, new JsonClient(r.routerUrl, apiKey, 8)]),
    );
    const primary = new JsonClient(hub.primaryUrl!, apiKey, 4);
    const followers = cluster.regions.map((r) => new JsonClient(r.followerUrl, apiKey, 2));
    const qpsClient = new JsonClient(hub.routerUrl, apiKey, QPS_CONCURRENCY);
    const uploader = new ArrowUploader(hub.primaryUrl!, apiKey, UPLOADS_IN_FLIGHT);
    clients.push(...routers.values(), primary, ...followers, qpsClient, uploader);
    const load = new QueryLoad({
      collection: COLLECTION,
      k: K,
      boundMs: BOUND_MS,
      pools: queryPools(data, 512, 7),
    });
    const ctx: Ctx = {
      cluster,
      topology,
      baseDir,
      hub,
      collection: COLLECTION,
      data,
      watch,
      load,
      routers,
      primary,
      followers,
      warmMs: flags.quick ? 1_500 : 2_000,
      cpu: new CpuMeter(() => cluster.pids()),
    };
    const hubRouter = routers.get(hub.name)!;
    await waitFor(
      async () =>
        (await hubRouter.send<RegionsResponse>('GET', '/v1/regions')).body.primary !== null,
      { timeoutMs: 60_000, intervalMs: 200, message: 'the us-east router to hear the primary' },
    );

    // 1. The collection with model A, loaded and sealed everywhere.
    await must(
      hubRouter.send('PUT', `/v1/collections/${COLLECTION}`, {
        dim: DIM,
        metric: 'cosine',
        model: MODEL_A,
      }),
      'create',
    );
    const batches = (model: string) =>
      Array.from(
        { length: Math.ceil(n / BATCH) },
        (_, b) => () => arrowBatch(data, model, b * BATCH, Math.min(n, (b + 1) * BATCH)),
      );
    log(`loading ${n} points of ${MODEL_A} (Arrow batches of ${BATCH} to the primary)`);
    const t = performance.now();
    const loaded = await uploadAll(
      uploader,
      `/v1/collections/${COLLECTION}/points`,
      batches(MODEL_A),
      UPLOADS_IN_FLIGHT,
    );
    await watch.waitAll(loaded.seq, 600_000, 'the load');
    const loadAppliedS = (performance.now() - t) / 1000;
    await waitSettled(primary, followers, COLLECTION, n, 900_000);
    const loadSettledS = (performance.now() - t) / 1000;
    log(
      `loaded: applied everywhere in ${round(loadAppliedS, 1)} s, sealed everywhere in ${round(loadSettledS, 1)} s`,
    );

    // 2. Quiet QPS; stage B; backfill it under the same load.
    const qpsSpecs: WorkerSpec[] = Array.from({ length: QPS_CONCURRENCY }, () => ({
      via: hub.name,
      client: qpsClient,
      level: 'eventual' as const,
      model: () => null,
    }));
    // The first queries of the run warm up the routers, followers and connections.
    const quiet = await timedQps(ctx, 'quiet', qpsSpecs, qpsSeconds * 1000, 3_000);
    const qpsQuiet = quiet.qps;
    log(`quiet: ${round(qpsQuiet, 1)} queries/s (eventual, k ${K}, ${QPS_CONCURRENCY} workers)`);

    await must(
      hubRouter.send('POST', `/v1/collections/${COLLECTION}/generations`, {
        model: MODEL_B,
        dim: DIM,
      }),
      'stage',
    );
    const bBytes = batches(MODEL_B).map((make) => make());
    log(`backfilling ${n} points of ${MODEL_B} (sourceSeq ${loaded.seq}) under the query load`);
    load.phase = 'backfill';
    load.start(qpsSpecs);
    await sleep(1_000);
    const cb0 = await ctx.cpu.sample();
    const tb0 = cb0.at;
    const backfill = await uploadAll(
      uploader,
      `/v1/collections/${COLLECTION}/points?model=${encodeURIComponent(MODEL_B)}&sourceSeq=${loaded.seq}`,
      bBytes.map((b) => () => b),
      UPLOADS_IN_FLIGHT,
    );
    const cb1 = await ctx.cpu.sample();
    const tb1 = cb1.at;
    load.phase = 'backfill-seal';
    await watch.waitAll(backfill.seq, 600_000, 'the backfill');
    const tbApplied = performance.now();
    await waitSettled(primary, followers, COLLECTION, n, 900_000);
    const cbSettled = await ctx.cpu.sample();
    const tbSettled = cbSettled.at;
    await load.stop();
    // The same quiet load again with both generations sealed: the baseline after.
    const quietAfter = await timedQps(ctx, 'quiet-after', qpsSpecs, qpsSeconds * 1000, 1_000);
    const backfillS = (tb1 - tb0) / 1000;
    const qpsDuring = load.answeredBetween(tb0, tb1) / backfillS;
    const qpsSealing = load.answeredBetween(tb1, tbSettled) / ((tbSettled - tb1) / 1000);
    log(
      `backfill: ${round(n / backfillS)} points/s (${round(backfillS, 1)} s); active QPS during ` +
        `${round(qpsDuring, 1)} (${round(qpsDuring / qpsQuiet, 3)} of quiet); sealed everywhere ` +
        `${round((tbSettled - tb1) / 1000, 1)} s after the last write (QPS ${round(qpsSealing, 1)})`,
    );

    // 3 and 4. Activation and rollback under load from every region at every level.
    const fetchMetrics = (await metricNames(followers[0]!)).filter((m) =>
      /fetch|segment.*bytes/i.test(m),
    );
    const metricBefore = fetchMetrics.length
      ? await Promise.all(followers.map((f) => metricSum(f, /fetch|segment.*bytes/i)))
      : [];
    const activation = await cutoverPhase(ctx, 'activation', MODEL_B, MODEL_A);
    const metricMid = fetchMetrics.length
      ? await Promise.all(followers.map((f) => metricSum(f, /fetch|segment.*bytes/i)))
      : [];
    const rollback = await cutoverPhase(ctx, 'rollback', MODEL_A, MODEL_B);
    const metricAfter = fetchMetrics.length
      ? await Promise.all(followers.map((f) => metricSum(f, /fetch|segment.*bytes/i)))
      : [];

    // 5. Every answer against the two activations.
    const checks = checkQueries(load.records, [activation.event, rollback.event]);
    const loadavgEnd = os.loadavg().map((x) => round(x, 2));
    const ratio = qpsDuring / qpsQuiet;
    const phaseOut = (p: PhaseResult) => ({
      commit_ms: p.commit_ms,
      flip_ms_after_commit: p.flip_ms_after_commit,
      one_way_ms: p.one_way_ms,
      segment_bytes_fetched_during: p.segment_bytes_fetched_during,
      segment_files_fetched_during: p.segment_files_fetched_during,
      segment_files_held_before: p.segment_files_held,
      primary_applied_ms_after_commit: p.primary_applied_ms_after_commit,
      beacon_after_stored_ms: p.beacon_after_stored_ms,
      early_flips: p.early,
      flip_ms_after_answer: p.flip_ms_after_answer,
      commit_time_from: p.commit_time,
      seq: p.seq,
      fence: p.fence,
      retired: p.retired,
      goal_flip_ms: Object.fromEntries(
        Object.entries(p.one_way_ms).map(([r, ow]) => [r, ow + FLIP_SLACK_MS]),
      ),
      goal_met: p.goal_met,
      cpu_cores: p.cpu_cores,
    });
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const result = {
      suite: 'cutover',
      quick: flags.quick,
      machine: await machineInfo(),
      loadavg_start: loadavgStart,
      loadavg_end: loadavgEnd,
      topology: {
        name: 'demo',
        regions: cluster.regions.map((r) => r.name),
        primary_region: hub.name,
        rtt_ms: rttMatrix(topology),
        jitter_ms: topology.jitterMs,
        nodes: 'primary (us-east); follower + router per region, each its own process',
      },
      config: {
        collection: COLLECTION,
        models: { active: MODEL_A, new: MODEL_B },
        metric: 'cosine',
        seal: SEAL,
        hnsw: 'collection defaults',
        k: K,
        batch_points: BATCH,
        uploads_in_flight: UPLOADS_IN_FLIGHT,
        backfill_points_per_s_limit: backfillRate,
        qps_concurrency: QPS_CONCURRENCY,
        qps_seconds: qpsSeconds,
        bounded_max_staleness_ms: BOUND_MS,
        cutover_workers: 'one closed-loop worker per region and level, via that region router',
        b_transform: "A's vector with its dimensions in a seeded permutation",
      },
      load: {
        points: n,
        seq: loaded.seq,
        applied_everywhere_s: round(loadAppliedS, 1),
        sealed_everywhere_s: round(loadSettledS, 1),
      },
      backfill: {
        points: n,
        dim: DIM,
        points_per_s: round(n / backfillS),
        active_qps_quiet: round(qpsQuiet, 1),
        active_qps_during: round(qpsDuring, 1),
        active_qps_during_over_quiet: round(ratio, 3),
        seconds: round(backfillS, 2),
        applied_everywhere_s_after_last_write: round((tbApplied - tb1) / 1000, 2),
        sealed_everywhere_s_after_last_write: round((tbSettled - tb1) / 1000, 2),
        active_qps_while_sealing: round(qpsSealing, 1),
        active_qps_quiet_after: round(quietAfter.qps, 1),
        latency_ms: {
          quiet: quiet.latency,
          during: latencySummary(load.latenciesBetween(tb0, tb1)),
          while_sealing: latencySummary(load.latenciesBetween(tb1, tbSettled)),
          quiet_after: quietAfter.latency,
        },
        cpu_cores: {
          quiet: quiet.cores,
          during: coresBetween(cb0, cb1),
          while_sealing: coresBetween(cb1, cbSettled),
          quiet_after: quietAfter.cores,
        },
        skipped: backfill.skipped,
        stalled_retries: backfill.retries,
        source_seq: loaded.seq,
      },
      activation: phaseOut(activation),
      rollback: phaseOut(rollback),
      segment_fetch_metric: fetchMetrics.length
        ? {
            names: fetchMetrics,
            during_activation: sum(metricMid) - sum(metricBefore),
            during_rollback: sum(metricAfter) - sum(metricMid),
          }
        : 'none: no /metrics counter of segment fetches; bytes counted from new files in the followers segment directories',
      queries: {
        total: checks.total,
        failed: checks.failed,
        wrong_generation: checks.wrong_generation,
        mixed: checks.mixed,
        b_before_commit: checks.b_before_commit,
        failed_by_code: checks.failed_by_code,
        wrong_by_reason: checks.wrong_by_reason,
        by_phase: checks.by_phase,
        by_level: checks.by_level,
        served_by: checks.served_by,
        first_wrong: checks.first_wrong,
      },
      goals: {
        qps_ratio: { goal: QPS_RATIO_GOAL, met: ratio >= QPS_RATIO_GOAL },
        activation_flip: activation.goal_met,
        rollback_flip: rollback.goal_met,
        rollback_segment_bytes_zero: rollback.segment_bytes_fetched_during === 0,
        no_failed: checks.failed === 0,
        no_wrong: checks.wrong_generation === 0 && checks.b_before_commit === 0,
        no_mixed: checks.mixed === 0,
      },
      run_s: round((performance.now() - runStart) / 1000, 1),
    };

    printTable('backfill', [
      {
        points: n,
        'points/s': result.backfill.points_per_s,
        'qps quiet': result.backfill.active_qps_quiet,
        'qps during': result.backfill.active_qps_during,
        ratio: result.backfill.active_qps_during_over_quiet,
        'sealed +s': result.backfill.sealed_everywhere_s_after_last_write,
      },
    ]);
    printTable(
      'flip after the commit (ms; goal one-way + 100)',
      [activation, rollback].flatMap((p, i) =>
        cluster.regions.map((r) => ({
          phase: i === 0 ? `activate ${MODEL_B}` : `rollback to ${MODEL_A}`,
          region: r.name,
          commit_ms: p.commit_ms,
          flip: p.flip_ms_after_commit[r.name],
          one_way: p.one_way_ms[r.name],
          goal: p.one_way_ms[r.name]! + FLIP_SLACK_MS,
          'segment bytes': p.segment_bytes_fetched_during,
        })),
      ),
    );
    const cpuRows: Array<[string, ReturnType<typeof coresBetween>]> = [
      ['quiet', result.backfill.cpu_cores.quiet],
      ['backfill', result.backfill.cpu_cores.during],
      ['sealing', result.backfill.cpu_cores.while_sealing],
      ['activation', activation.cpu_cores],
      ['rollback', rollback.cpu_cores],
    ];
    printTable(
      `cores used (machine has ${os.cpus().length})`,
      cpuRows.map(([window, c]) => ({
        window,
        machine: c.machine,
        'cluster+bench': c.cluster_and_bench,
        top: Object.entries(c.by_process)
          .slice(0, 4)
          .map(([n, x]) => `${n} ${x}`)
          .join(', '),
      })),
    );
    printTable('queries', [
      {
        total: checks.total,
        failed: checks.failed,
        wrong_generation: checks.wrong_generation,
        mixed: checks.mixed,
        b_before_commit: checks.b_before_commit,
      },
    ]);
    if (checks.failed) log(`failures: ${JSON.stringify(checks.failed_by_code)}`);
    if (checks.wrong_generation) log(`wrong: ${JSON.stringify(checks.wrong_by_reason)}`);
    log(`load average ${loadavgStart.join(' ')} → ${loadavgEnd.join(' ')}; run ${result.run_s} s`);
    await writeResult(flags.out, result);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const c of clients) c.close();
    await watch?.close();
    await cluster.stop();
    await rm(baseDir, { recursive: true, force: true });
  }
}
