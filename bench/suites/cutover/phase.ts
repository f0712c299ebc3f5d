/**
 * One activation of the cutover suite under load from every region at every level: the
 * session clients' writes (their tokens), a settled cluster, the activate call while the
 * workers run, then the flip of each region's follower after the primary's commit and the
 * segment files the followers fetched meanwhile.
 */
import type { LaunchedCluster, RegionEndpoints } from '../../../dev/cluster/launcher.ts';
import { rttBetween } from '../../../dev/cluster/topology.ts';
import type { Topology } from '../../../dev/cluster/topology.ts';
import type { WriteResponse } from '../../../services/api.ts';
import type { Activation } from '../../../sync/index.ts';
import { round } from '../../lib.ts';
import type { JsonClient } from '../regions/http-client.ts';
import { jsonPoint } from './data.ts';
import type { CutoverData } from './data.ts';
import { coresBetween, fetchedBetween, segmentFiles, waitSettled } from './observe.ts';
import type { AppliedWatch, CpuMeter } from './observe.ts';
import { LEVELS, mixedModels } from './queries.ts';
import type { ActivationEvent, QueryLoad, WorkerSpec } from './queries.ts';

/** Flip goal: the one-way delay from the primary's region plus this. */
export const FLIP_SLACK_MS = 100;

const log = (msg: string): void => console.log(`cutover: ${msg}`);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Ctx {
  collection: string;
  cluster: LaunchedCluster;
  topology: Topology;
  baseDir: string;
  hub: RegionEndpoints;
  data: CutoverData;
  watch: AppliedWatch;
  load: QueryLoad;
  routers: Map<string, JsonClient>;
  primary: JsonClient;
  followers: JsonClient[];
  warmMs: number;
  cpu: CpuMeter;
}

export async function must<T>(
  p: Promise<{ status: number; body: unknown }>,
  what: string,
): Promise<T> {
  const res = await p;
  if (res.status < 200 || res.status >= 300) {
    throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body).slice(0, 500)}`);
  }
  return res.body as T;
}

export interface PhaseResult {
  commit_ms: number;
  flip_ms_after_commit: Record<string, number | null>;
  one_way_ms: Record<string, number>;
  /** The same flip measured from the activate answer's arrival (negative: before it). */
  flip_ms_after_answer: Record<string, number | null>;
  commit_time: 'jetstream' | 'beacon' | 'beacon bucket' | 'primary applied notice' | 'answer';
  /** The primary's beacon stamp of the commit, after the JetStream one (ms; null: none). */
  beacon_after_stored_ms: number | null;
  /** Regions whose flip was shorter than the one-way delay less the jitter: a clock or notice error. */
  early: string[];
  segment_bytes_fetched_during: number;
  segment_files_fetched_during: number;
  /** Segment files the followers held before (what a rollback can reuse). */
  segment_files_held: number;
  /** The primary's own replica: commit → its applied notice at the seq. */
  primary_applied_ms_after_commit: number | null;
  seq: number;
  fence: number;
  retired: string | null;
  goal_met: boolean;
  /** Cores each process used while the load ran (around the activation). */
  cpu_cores: ReturnType<typeof coresBetween>;
  event: ActivationEvent;
}

/**
 * One activation under load from every region at every level: session writes for the
 * tokens, a settled cluster, then the activate call while the workers run.
 */
export async function cutoverPhase(
  ctx: Ctx,
  name: string,
  target: string,
  active: string,
): Promise<PhaseResult> {
  const regions = ctx.cluster.regions;
  // The session clients' own writes: an existing id rewritten with its active vector (the
  // id set stays the same, so the new generation's coverage stays 1).
  const tokens = new Map<string, string>();
  for (const [i, r] of regions.entries()) {
    const ans = await must<WriteResponse>(
      ctx.routers.get(r.name)!.send('POST', `/v1/collections/${ctx.collection}/points`, {
        points: [jsonPoint(ctx.data, active, i)],
      }),
      `session write from ${r.name}`,
    );
    tokens.set(r.name, ans.token);
  }
  await waitSettled(ctx.primary, ctx.followers, ctx.collection, ctx.data.n, 60_000);
  const segBefore = await segmentFiles(
    ctx.baseDir,
    regions.map((r) => r.name),
  );

  ctx.load.phase = name;
  const specs: WorkerSpec[] = regions.flatMap((r, ri) =>
    LEVELS.map((level, li) => ({
      via: r.name,
      client: ctx.routers.get(r.name)!,
      level,
      model: mixedModels(ri * LEVELS.length + li),
      ...(level === 'session' ? { token: tokens.get(r.name)! } : {}),
    })),
  );
  ctx.load.start(specs);
  const cpu0 = await ctx.cpu.sample();
  await sleep(ctx.warmMs);

  log(`${name}: activating ${target} (policy all) under load`);
  const sentAt = performance.now();
  const res = await ctx.routers
    .get(ctx.hub.name)!
    .send<Activation>('POST', `/v1/collections/${ctx.collection}/generations/${target}/activate`, {
      policy: 'all',
      timeoutMs: 60_000,
      minCoverage: 1,
    });
  const answeredAt = performance.now();
  const answeredEpoch = Date.now();
  if (res.status !== 200) {
    await ctx.load.stop();
    throw new Error(`activate ${target}: ${res.status} ${JSON.stringify(res.body).slice(0, 800)}`);
  }
  const act = res.body;
  await ctx.watch.waitAll(act.seq, 60_000, `the ${name}`);
  await sleep(ctx.warmMs);
  const cpu1 = await ctx.cpu.sample();
  await ctx.load.stop();
  const segAfter = await segmentFiles(
    ctx.baseDir,
    regions.map((r) => r.name),
  );
  const fetched = fetchedBetween(segBefore, segAfter);

  // The commit: when the hub's JetStream stored the activation entry. The primary's beacon
  // stamps it later, once its event loop handles the ack (on a busy machine, tens of ms).
  const stored = await ctx.watch.storedTime(act.seq);
  const beacon = ctx.watch.commitTime(act.seq);
  const primaryApplied = ctx.watch.primaryAppliedAt(act.seq);
  const commitEpoch = stored ?? beacon?.time ?? primaryApplied ?? answeredEpoch;
  const commitTime: PhaseResult['commit_time'] =
    stored !== null
      ? 'jetstream'
      : beacon
        ? beacon.exact
          ? 'beacon'
          : 'beacon bucket'
        : primaryApplied !== null
          ? 'primary applied notice'
          : 'answer';
  const flip: Record<string, number | null> = {};
  const flipAnswer: Record<string, number | null> = {};
  const oneWay: Record<string, number> = {};
  for (const r of regions) {
    const at = ctx.watch.firstAt(r.name, act.seq);
    flip[r.name] = at === null ? null : at - commitEpoch;
    flipAnswer[r.name] = at === null ? null : at - answeredEpoch;
    oneWay[r.name] = rttBetween(ctx.topology, ctx.hub.name, r.name) / 2;
  }
  const goalMet = regions.every(
    (r) => flip[r.name] !== null && flip[r.name]! <= oneWay[r.name]! + FLIP_SLACK_MS,
  );
  log(
    `${name}: committed at seq ${act.seq} (fence ${act.fence}) in ${round(answeredAt - sentAt, 1)} ms; flips ` +
      regions.map((r) => `${r.name} ${flip[r.name]} ms`).join(', '),
  );
  return {
    commit_ms: round(answeredAt - sentAt, 2),
    flip_ms_after_commit: flip,
    one_way_ms: oneWay,
    flip_ms_after_answer: flipAnswer,
    commit_time: commitTime,
    segment_bytes_fetched_during: fetched.bytes,
    segment_files_fetched_during: fetched.files,
    segment_files_held: [...segBefore.values()].reduce((x, m) => x + m.size, 0),
    primary_applied_ms_after_commit: primaryApplied === null ? null : primaryApplied - commitEpoch,
    beacon_after_stored_ms: beacon && stored !== null ? beacon.time - stored : null,
    early: regions
      .filter(
        (r) => flip[r.name] !== null && flip[r.name]! < oneWay[r.name]! - ctx.topology.jitterMs,
      )
      .map((r) => r.name),
    seq: act.seq,
    fence: act.fence,
    retired: act.retired,
    goal_met: goalMet,
    cpu_cores: coresBetween(cpu0, cpu1),
    event: { model: target, seq: act.seq, sentAt, answeredAt },
  };
}
