/**
 * `npm run bench -- regions [--quick] [--out FILE.json]`: what a query costs from each
 * region of the demo topology at each consistency level, against sending it to the
 * primary region, and how far each region's follower runs behind the primary (issue #5).
 *
 * Real parts: `launchCluster` with the demo topology (hub nats-server in us-east, leaf
 * servers in eu-west and ap-south behind link proxies; a primary in us-east and a
 * follower and a router per region, each its own process; round trips us-east↔eu-west
 * 80 ms, us-east↔ap-south 220 ms, eu-west↔ap-south 150 ms). The Fiori passages (778 ×
 * 384) and 3,000 generated points near them are written through the us-east router.
 *
 * - `by_region`: from each region, k=10 queries with Fiori vectors to THAT region's router
 *   at each level (closed loop; concurrency 1 for the levels served in the region, 4 for
 *   `strong`, which pays a read-index round trip to us-east), while a background writer
 *   rewrites hot Fiori points through the us-east router at 10 writes/s, so replicas are
 *   really behind. `session` clients carry the token of a write of their own.
 * - `primary_only`: the same queries sent to the primary, through the link proxy the
 *   launcher made for that region's router (so the WAN round trip is paid); us-east
 *   queries the primary directly.
 * - `lag_by_region`: writes acked `async` by the primary at 20/s; per write and region the
 *   time from the ack to the first applied notice of that region's follower (core NATS,
 *   heard on that region's own server) with `appliedSeq` ≥ the write's seq.
 * - `violations`: every write and read of the run is recorded for the consistency
 *   checker (dev/harness/consistency-checker.ts). Every query is a read of the Fiori id
 *   whose vector it uses: the id's `tag` in the answer's top 10 is what it observed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import type { LaunchedCluster, RegionEndpoints } from '../../dev/cluster/launcher.ts';
import { launchCluster } from '../../dev/cluster/launcher.ts';
import { NATS_INSTALL_HINT, findNatsServer } from '../../dev/cluster/nats-process.ts';
import { demoTopology, parseTopology, rttBetween, rttMatrix } from '../../dev/cluster/topology.ts';
import type { Topology } from '../../dev/cluster/topology.ts';
import type { FioriRecord } from '../../dev/demo/fiori.ts';
import { loadFioriRecords } from '../../dev/demo/fiori.ts';
import type { QueryResponse, RegionsResponse, WriteResponse } from '../../services/api.ts';
import { TokenCodec } from '../../services/tokens.ts';
import { Subjects, connectNats } from '../../sync/index.ts';
import type { NatsLink } from '../../sync/index.ts';
import {
  HistoryRecorder,
  checkHistory,
  formatReport,
} from '../../dev/harness/consistency-checker.ts';
import { seededRandom } from '../../dev/harness/datasets.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';
import { latencySummary, machineInfo, percentile, printTable, round, writeResult } from '../lib.ts';
import type { BenchFlags } from '../lib.ts';
import { renderRegionsChart } from './regions/chart.ts';
import { JsonClient } from './regions/http-client.ts';

const COLLECTION = 'fiori';
const LAG_COLLECTION = 'lag';
const MODEL = 'minilm-l6@1';
const K = 10;
const BOUND_MS = 1_000;
const GENERATED = 3_000;
/** Fiori ids the background writer rewrites; half of the queries ask for one of them. */
const HOT = 64;
const BG_WRITES_PER_S = 10;
const LAG_WRITES_PER_S = 20;
const LEVELS = ['eventual', 'bounded', 'session', 'strong'] as const;
type Level = (typeof LEVELS)[number];
/** Closed-loop clients: 1 where the read stays in the region, 4 where it crosses the WAN. */
const LOCAL_CONCURRENCY = 1;
const WAN_CONCURRENCY = 4;
/** A read served in its region may be this much slower (p50) than the local round trip. */
const LOCAL_GOAL_MS = 2;
/** The levels the local-read goal covers. */
const LOCAL_LEVELS = ['eventual', 'bounded', 'session'] as const;
type LocalLevel = (typeof LOCAL_LEVELS)[number];
/** Follower lag p99 may exceed the one-way delay from us-east by this much. */
const LAG_SLACK_MS = 50;
const LOCAL_SHARE_GOAL_PCT = 99;

const log = (msg: string): void => console.log(`regions: ${msg}`);

interface Summary {
  p50_ms: number;
  p99_ms: number;
}

interface LevelResult extends Summary {
  served_local_pct: number;
  queries: number;
  errors: number;
  concurrency: number;
  served_by: Record<string, number>;
  mean_staleness_ms: number;
  first_errors?: Array<string | undefined>;
}

interface LagResult extends Summary {
  max_ms: number;
  samples: number;
  applied_before_ack: number;
  early_notices: number;
  /** Samples above the goal (one-way delay + slack). */
  over_goal: number;
  unapplied: number;
  one_way_ms: number;
  goal_p99_ms: number;
}

interface Ctx {
  cluster: LaunchedCluster;
  topology: Topology;
  hub: RegionEndpoints;
  apiKey: string;
  tokens: TokenCodec;
  rec: HistoryRecorder;
  fiori: FioriRecord[];
  hot: FioriRecord[];
  rand: () => number;
  routers: Map<string, JsonClient>;
  clients: JsonClient[];
}

/** The text, title and tag every upsert of a Fiori id carries (the demo's metadata + tag). */
function fioriPoint(r: FioriRecord, tag: string) {
  const m = /\*\*TITLE\*\*:\s*(.+)/.exec(r.text);
  return {
    id: r.id,
    vector: Array.from(r.vector),
    metadata: {
      text: r.text.slice(0, 2_000),
      title: (m?.[1] ?? r.text.split('\n')[0] ?? '').slice(0, 200),
      tag,
    },
  };
}

function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** Points near the Fiori passages (a passage's vector plus noise, normalised), seeded. */
function generatedPoints(fiori: FioriRecord[], n: number, seed: number) {
  const rand = seededRandom(seed);
  return Array.from({ length: n }, (_, i) => {
    const base = fiori[i % fiori.length]!.vector;
    const v = Array.from(base, (x) => x + 0.06 * gaussian(rand));
    const norm = Math.hypot(...v);
    return {
      id: `gen-${i}`,
      vector: v.map((x) => Math.round((x / norm) * 1e6) / 1e6),
      metadata: { tag: `gen-${i}` },
    };
  });
}

async function must<T>(p: Promise<{ status: number; body: unknown }>, what: string): Promise<T> {
  const res = await p;
  if (res.status < 200 || res.status >= 300) {
    throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body).slice(0, 500)}`);
  }
  return res.body as T;
}

/** The test harness's poller: a predicate that throws counts as "not yet". */
function waitUntil(ok: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  return waitFor(ok, { timeoutMs, intervalMs: 200, message: what });
}

/** Waits until every router sees the primary and its own region's follower at `seq`. */
async function waitAllApplied(ctx: Ctx, seq: number, timeoutMs: number): Promise<void> {
  for (const r of ctx.cluster.regions) {
    const router = ctx.routers.get(r.name)!;
    await waitUntil(
      async () => {
        const res = await router.send<RegionsResponse>('GET', '/v1/regions');
        if (res.status !== 200 || res.body.primary === null) return false;
        const mine = res.body.replicas.filter((x) => x.region === r.name && x.role === 'follower');
        return (
          res.body.replicas.length >= ctx.cluster.regions.length + 1 &&
          mine.length > 0 &&
          mine.every((x) => x.appliedSeq >= seq && x.healthy)
        );
      },
      timeoutMs,
      `region ${r.name} to apply seq ${seq}`,
    );
  }
}

/** Writes the Fiori passages and the generated points through the primary region's router. */
async function loadData(ctx: Ctx): Promise<number> {
  const router = ctx.routers.get(ctx.hub.name)!;
  await waitUntil(
    async () => (await router.send<RegionsResponse>('GET', '/v1/regions')).body.primary !== null,
    60_000,
    'the us-east router to hear the primary',
  );
  await must(
    router.send('PUT', `/v1/collections/${COLLECTION}`, {
      dim: 384,
      metric: 'cosine',
      model: MODEL,
    }),
    'create fiori',
  );
  await must(
    router.send('PUT', `/v1/collections/${LAG_COLLECTION}`, {
      dim: 384,
      metric: 'cosine',
      model: MODEL,
    }),
    'create lag',
  );
  let seq = 0;
  for (let i = 0; i < ctx.fiori.length; i += 200) {
    const batch = ctx.fiori.slice(i, i + 200);
    const start = ctx.rec.now();
    const ans = await must<WriteResponse>(
      router.send('POST', `/v1/collections/${COLLECTION}/points`, {
        points: batch.map((r) => fioriPoint(r, `load-${r.id}`)),
      }),
      'load fiori',
    );
    const end = ctx.rec.now();
    for (const r of batch) {
      ctx.rec.write({
        client: 'loader',
        id: r.id,
        op: 'upsert',
        tag: `load-${r.id}`,
        start,
        end,
        acked: true,
        seq: ans.seq,
      });
    }
    seq = ans.seq;
  }
  const gen = generatedPoints(ctx.fiori, GENERATED, 5);
  for (let i = 0; i < gen.length; i += 500) {
    const ans = await must<WriteResponse>(
      router.send('POST', `/v1/collections/${COLLECTION}/points`, {
        points: gen.slice(i, i + 500),
      }),
      'load generated',
    );
    seq = ans.seq;
  }
  return seq;
}

/** Rewrites hot Fiori ids through the us-east router at a steady rate, recording each write. */
function startBackgroundWriter(ctx: Ctx, perSecond: number) {
  const client = new JsonClient(ctx.hub.routerUrl, ctx.apiKey, 4);
  ctx.clients.push(client);
  const rand = seededRandom(77);
  const stats = { sent: 0, acked: 0, failed: 0 };
  const inflight = new Set<Promise<void>>();
  let stopped = false;
  let n = 0;
  const t0 = performance.now();
  const intervalMs = 1000 / perSecond;
  const writeOne = async () => {
    const r = ctx.hot[Math.floor(rand() * ctx.hot.length)]!;
    const tag = `bg-${n++}`;
    const start = ctx.rec.now();
    stats.sent++;
    try {
      const res = await client.send<WriteResponse>('POST', `/v1/collections/${COLLECTION}/points`, {
        points: [fioriPoint(r, tag)],
        ack: 'async',
      });
      const acked = res.status === 200 || res.status === 202;
      if (acked) stats.acked++;
      else stats.failed++;
      ctx.rec.write({
        client: 'bg-writer',
        id: r.id,
        op: 'upsert',
        tag,
        start,
        acked,
        ...(acked ? { seq: res.body.seq } : {}),
      });
    } catch {
      stats.failed++;
      ctx.rec.write({ client: 'bg-writer', id: r.id, op: 'upsert', tag, start, acked: false });
    }
  };
  const tick = () => {
    if (stopped) return;
    const due = Math.floor((performance.now() - t0) / intervalMs) + 1;
    while (stats.sent < due) {
      const p = writeOne().finally(() => inflight.delete(p));
      inflight.add(p);
    }
    timer = setTimeout(tick, Math.max(0, t0 + stats.sent * intervalMs - performance.now()));
  };
  let timer: NodeJS.Timeout = setTimeout(tick, 0);
  return {
    stats,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await Promise.all([...inflight]);
      return { ...stats, seconds: round((performance.now() - t0) / 1000, 1) };
    },
  };
}

/** Runs `n` operations on `concurrency` closed-loop workers. */
async function closedLoop(
  n: number,
  concurrency: number,
  op: (i: number, worker: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = next++; i < n; i = next++) await op(i, w);
    }),
  );
}

interface ReadOutcome {
  ms: number;
  ok: boolean;
  /** Status and error of a failed query. */
  error?: string;
  region: string;
  stalenessMs: number;
}

/**
 * One k=10 query with the Fiori vector of `target`, recorded as a read of that id: the
 * tag the id carries in the answer (or absent).
 */
async function recordedQuery(
  ctx: Ctx,
  client: JsonClient,
  path: string,
  target: FioriRecord,
  o: {
    clientName: string;
    level: Level;
    token?: string;
  },
): Promise<ReadOutcome & { token?: string }> {
  const body = {
    vector: Array.from(target.vector),
    k: K,
    consistency: o.level,
    ...(o.level === 'bounded' ? { maxStalenessMs: BOUND_MS } : {}),
    ...(o.token ? { token: o.token } : {}),
  };
  const start = ctx.rec.now();
  let res: { status: number; body: QueryResponse };
  try {
    res = await client.send<QueryResponse>('POST', path, body);
  } catch {
    res = { status: 0, body: null as unknown as QueryResponse };
  }
  const end = ctx.rec.now();
  const ok = res.status === 200;
  const hit = ok ? res.body.results.find((h) => h.id === target.id) : undefined;
  const tag = hit?.metadata?.tag;
  ctx.rec.read({
    client: o.clientName,
    id: target.id,
    level: o.level,
    ...(o.level === 'bounded' ? { maxStalenessMs: BOUND_MS } : {}),
    start,
    end,
    ok,
    observedTag: typeof tag === 'string' ? tag : null,
    region: ok ? res.body.region : 'none',
    appliedSeq: ok ? res.body.appliedSeq : 0,
    stalenessMs: ok ? res.body.stalenessMs : 0,
    ...(o.token && o.level === 'session' ? { tokenSeq: ctx.tokens.decode(o.token) } : {}),
  });
  const err = (res.body as unknown as { error?: { code: string; message: string } } | null)?.error;
  return {
    ms: end - start,
    ok,
    ...(ok
      ? {}
      : { error: `${res.status} ${err?.code ?? ''}: ${err?.message ?? ''}`.slice(0, 300) }),
    region: ok ? res.body.region : 'none',
    stalenessMs: ok ? res.body.stalenessMs : 0,
    ...(ok ? { token: res.body.token } : {}),
  };
}

/** Half of the queries ask for a hot (rewritten) id, half for any passage. */
function pickTarget(ctx: Ctx): FioriRecord {
  const pool = ctx.rand() < 0.5 ? ctx.hot : ctx.fiori;
  return pool[Math.floor(ctx.rand() * pool.length)]!;
}

function summariseReads(
  outs: ReadOutcome[],
  localRegion: string,
  concurrency: number,
): LevelResult {
  const ok = outs.filter((o) => o.ok);
  const servedBy: Record<string, number> = {};
  for (const o of ok) servedBy[o.region] = (servedBy[o.region] ?? 0) + 1;
  const local = ok.filter((o) => o.region === localRegion).length;
  return {
    ...latencySummary(ok.map((o) => o.ms)),
    served_local_pct: ok.length ? round((100 * local) / ok.length, 1) : 0,
    queries: outs.length,
    errors: outs.length - ok.length,
    concurrency,
    served_by: servedBy,
    mean_staleness_ms: ok.length
      ? round(ok.reduce((s, o) => s + o.stalenessMs, 0) / ok.length, 1)
      : 0,
    ...(outs.length > ok.length
      ? { first_errors: [...new Set(outs.filter((o) => !o.ok).map((o) => o.error))].slice(0, 3) }
      : {}),
  };
}

/** One level from one region's router: `n` recorded queries in a closed loop. */
async function runLevel(
  ctx: Ctx,
  region: RegionEndpoints,
  level: Level,
  n: number,
  concurrency: number,
): Promise<LevelResult> {
  const router = ctx.routers.get(region.name)!;
  const path = `/v1/collections/${COLLECTION}/query`;
  const names = Array.from({ length: concurrency }, (_, w) => `${region.name}-${level}-${w}`);
  // A session client's token comes from a write of its own (through its router, so the
  // write itself crosses the WAN to the primary); its reads then carry and merge it.
  const tokens: Array<string | undefined> = names.map(() => undefined);
  if (level === 'session') {
    await Promise.all(
      names.map(async (name, w) => {
        const r = ctx.hot[Math.floor(ctx.rand() * ctx.hot.length)]!;
        const tag = `${name}-w`;
        const start = ctx.rec.now();
        const ans = await must<WriteResponse>(
          router.send('POST', `/v1/collections/${COLLECTION}/points`, {
            points: [fioriPoint(r, tag)],
            ack: 'async',
          }),
          `session write from ${region.name}`,
        );
        ctx.rec.write({
          client: name,
          id: r.id,
          op: 'upsert',
          tag,
          start,
          acked: true,
          seq: ans.seq,
        });
        tokens[w] = ans.token;
      }),
    );
  }
  const outs: ReadOutcome[] = [];
  await closedLoop(n, concurrency, async (_i, w) => {
    const out = await recordedQuery(ctx, router, path, pickTarget(ctx), {
      clientName: names[w]!,
      level,
      ...(tokens[w] ? { token: tokens[w] } : {}),
    });
    if (level === 'session' && out.token) tokens[w] = out.token;
    outs.push(out);
  });
  return summariseReads(outs, region.name, concurrency);
}

/** `eventual` queries sent straight to one node (no router), recorded like the rest. */
async function runDirect(
  ctx: Ctx,
  o: { url: string; n: number; concurrency: number; servedIn: string; clientPrefix: string },
): Promise<LevelResult> {
  const client = new JsonClient(o.url, ctx.apiKey, o.concurrency);
  ctx.clients.push(client);
  const path = `/v1/collections/${COLLECTION}/query`;
  const outs: ReadOutcome[] = [];
  await closedLoop(o.n, o.concurrency, async (_i, w) => {
    outs.push(
      await recordedQuery(ctx, client, path, pickTarget(ctx), {
        clientName: `${o.clientPrefix}-${w}`,
        level: 'eventual',
      }),
    );
  });
  return summariseReads(outs, o.servedIn, o.concurrency);
}

/** Every query sent to the primary: through the WAN link of that region's router. */
async function runPrimaryOnly(
  ctx: Ctx,
  region: RegionEndpoints,
  n: number,
): Promise<LevelResult & { via: string }> {
  const viaLink = region.name !== ctx.hub.name;
  let url = ctx.hub.primaryUrl!;
  let via = 'the primary directly';
  if (viaLink) {
    const linkName = `http:${region.name}->${ctx.hub.name}/primary`;
    const link = ctx.cluster.links.get(linkName);
    if (!link) throw new Error(`no link proxy named ${linkName}`);
    url = `http://127.0.0.1:${link.port}`;
    via = `link proxy ${linkName}`;
  }
  const concurrency = viaLink ? WAN_CONCURRENCY : LOCAL_CONCURRENCY;
  const res = await runDirect(ctx, {
    url,
    n,
    concurrency,
    servedIn: ctx.hub.name,
    clientPrefix: `${region.name}-primary`,
  });
  return { ...res, via };
}

/** The round trip to the local router as this client sees it (`GET /healthz`). */
async function localRtt(ctx: Ctx, region: RegionEndpoints, n: number): Promise<Summary> {
  const router = ctx.routers.get(region.name)!;
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const res = await router.send('GET', '/healthz');
    if (res.status === 200) samples.push(performance.now() - t);
  }
  return latencySummary(samples);
}

interface LagTracker {
  region: string;
  appliedMax: number;
  pending: Map<number, number>;
  samples: number[];
  beforeAck: number;
  /** Notices that claim a seq sooner than the WAN allows (sent + one-way delay): a bug. */
  early: number;
  oneWayMs: number;
  /** Every notice heard: [arrival time, appliedSeq]. */
  notices: Array<[number, number]>;
  measuring: boolean;
}

/**
 * Follower lag per region: writes acked `async` by the primary at a steady rate; per write
 * and region, ack → that region's follower's first applied notice at or past its seq.
 */
async function measureLag(
  ctx: Ctx,
  seconds: number,
): Promise<{ byRegion: Record<string, LagResult>; writeAck: Summary; failed: number }> {
  const observers: NatsLink[] = [];
  const trackers: LagTracker[] = [];
  try {
    for (const r of ctx.cluster.regions) {
      const link = await connectNats({ servers: r.natsUrl, name: `bench-regions-lag-${r.name}` });
      observers.push(link);
      const t: LagTracker = {
        region: r.name,
        appliedMax: 0,
        pending: new Map(),
        samples: [],
        beforeAck: 0,
        early: 0,
        oneWayMs: rttBetween(ctx.topology, ctx.hub.name, r.name) / 2,
        notices: [],
        measuring: false,
      };
      trackers.push(t);
      link.nc.subscribe(Subjects.applied(r.name, 'follower'), {
        callback: (_err, msg) => {
          const now = performance.now();
          let seq: number;
          try {
            seq = (JSON.parse(Buffer.from(msg.data).toString('utf8')) as { appliedSeq: number })
              .appliedSeq;
          } catch {
            return;
          }
          t.notices.push([now, seq]);
          if (seq <= t.appliedMax) return;
          t.appliedMax = seq;
          for (const [s, ackedAt] of t.pending) {
            if (s > seq) continue;
            t.pending.delete(s);
            if (t.measuring) t.samples.push(now - ackedAt);
          }
        },
      });
      await link.nc.flush();
    }
    const client = new JsonClient(ctx.hub.primaryUrl!, ctx.apiKey, 8);
    ctx.clients.push(client);
    const rand = seededRandom(31);
    let n = 0;
    let lastSeq = 0;
    let failed = 0;
    let measuringAcks = false;
    const trace: Array<{ seq: number; sent: number; acked: number }> = [];
    const ackMs: number[] = [];
    const write = async () => {
      const v = Array.from({ length: 384 }, () => gaussian(rand));
      const norm = Math.hypot(...v);
      const sentAt = performance.now();
      const res = await client
        .send<WriteResponse>('POST', `/v1/collections/${LAG_COLLECTION}/points`, {
          points: [{ id: `lag-${n++}`, vector: v.map((x) => x / norm), metadata: { n } }],
          ack: 'async',
        })
        .catch(() => ({ status: 0, body: null as unknown as WriteResponse }));
      const ackedAt = performance.now();
      if (measuringAcks) ackMs.push(ackedAt - sentAt);
      if (res.status !== 200 && res.status !== 202) {
        failed++;
        return;
      }
      const seq = res.body.seq;
      trace.push({ seq, sent: round(sentAt, 2), acked: round(ackedAt, 2) });
      lastSeq = Math.max(lastSeq, seq);
      for (const t of trackers) {
        if (seq <= t.appliedMax) {
          // The notice came before the ack did: the write was applied at ack time.
          if (t.measuring) {
            t.samples.push(0);
            t.beforeAck++;
            const first = t.notices.find(([, s]) => s >= seq);
            if (first && first[0] < sentAt + t.oneWayMs - 2) t.early++;
          }
        } else {
          t.pending.set(seq, ackedAt);
        }
      }
    };
    const caughtUp = (timeoutMs: number) =>
      waitUntil(
        async () => trackers.every((t) => t.appliedMax >= lastSeq),
        timeoutMs,
        'every follower to apply the lag writes',
      ).then(
        () => true,
        () => false,
      );
    for (let i = 0; i < 5; i++) await write();
    if (!(await caughtUp(30_000))) throw new Error('lag: the warm-up writes were never applied');
    for (const t of trackers) {
      t.pending.clear();
      t.measuring = true;
    }
    measuringAcks = true;
    const total = Math.round(seconds * LAG_WRITES_PER_S);
    const intervalMs = 1000 / LAG_WRITES_PER_S;
    log(`lag: ${total} writes at ${LAG_WRITES_PER_S}/s to the primary, ack async`);
    const inflight: Promise<void>[] = [];
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      let sent = 0;
      const tick = (): void => {
        const due = Math.min(total, Math.floor((performance.now() - t0) / intervalMs) + 1);
        while (sent < due) {
          inflight.push(write());
          sent++;
        }
        if (sent >= total) return resolve();
        setTimeout(tick, Math.max(0, t0 + sent * intervalMs - performance.now()));
      };
      tick();
    });
    await Promise.all(inflight);
    await caughtUp(30_000);
    const out: Record<string, LagResult> = {};
    for (const t of trackers) {
      t.measuring = false;
      const oneWay = rttBetween(ctx.topology, ctx.hub.name, t.region) / 2;
      const sorted = [...t.samples].sort((a, b) => a - b);
      out[t.region] = {
        ...latencySummary(t.samples),
        max_ms: round(percentile(sorted, 100), 3),
        samples: t.samples.length,
        applied_before_ack: t.beforeAck,
        early_notices: t.early,
        over_goal: sorted.filter((x) => x > oneWay + LAG_SLACK_MS).length,
        unapplied: t.pending.size,
        one_way_ms: oneWay,
        goal_p99_ms: oneWay + LAG_SLACK_MS,
      };
    }
    if (failed) log(`lag: ${failed} writes failed`);
    const traceFile = process.env.REGIONS_TRACE;
    if (traceFile) {
      const notices = Object.fromEntries(trackers.map((t) => [t.region, t.notices]));
      await writeFile(traceFile, JSON.stringify({ writes: trace, notices }));
      log(`lag: wrote the write/notice timeline to ${traceFile}`);
    }
    return { byRegion: out, writeAck: latencySummary(ackMs), failed };
  } finally {
    await Promise.all(observers.map((o) => o.close()));
  }
}

export async function run(flags: BenchFlags): Promise<void> {
  if (!findNatsServer()) throw new Error(NATS_INSTALL_HINT);
  const perLevel = flags.quick ? 100 : 300;
  const lagSeconds = flags.quick ? 8 : 20;
  const loadavgStart = os.loadavg().map((x) => round(x, 2));
  const topology = parseTopology(demoTopology);
  const baseDir = await mkdtemp(join(os.tmpdir(), 'meridian-bench-regions-'));
  const apiKey = `bench-${randomBytes(12).toString('hex')}`;
  const tokenSecret = randomBytes(24).toString('hex');
  log(`launching the demo topology in ${baseDir}`);
  const t0 = performance.now();
  const cluster = await launchCluster({
    topology,
    baseDir,
    apiKey,
    tokenSecret,
    seal: { maxPoints: 5_000, maxAgeMs: 1_500 },
    // Each router hosts its region's replica, so a local read costs no HTTP hop (the goal
    // is p50 within 2 ms of the local round trip); the follower serves as the second replica.
    routersHostReplica: true,
    say: (line) => log(line),
  });
  const onSignal = () => void cluster.stop().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const clients: JsonClient[] = [];
  try {
    const fiori = loadFioriRecords().records;
    const hub = cluster.regions.find((r) => r.primary)!;
    const step = Math.floor(fiori.length / HOT);
    const ctx: Ctx = {
      cluster,
      topology,
      hub,
      apiKey,
      tokens: new TokenCodec(tokenSecret),
      rec: new HistoryRecorder(),
      fiori,
      hot: Array.from({ length: HOT }, (_, i) => fiori[i * step]!),
      rand: seededRandom(2026),
      routers: new Map(
        cluster.regions.map((r) => [r.name, new JsonClient(r.routerUrl, apiKey, 8)]),
      ),
      clients,
    };
    clients.push(...ctx.routers.values());
    log(`cluster up in ${round((performance.now() - t0) / 1000, 1)} s`);

    log(`loading ${fiori.length} Fiori passages and ${GENERATED} generated points`);
    const loadedSeq = await loadData(ctx);
    await waitAllApplied(ctx, loadedSeq, 120_000);
    log(`every region applied seq ${loadedSeq}`);

    // Warm-up: connections, the routers' RTT probes, the replicas' first searches.
    for (const r of cluster.regions) {
      for (const level of LEVELS) await runLevel(ctx, r, level, 10, 1);
    }

    // Quiet pass: the local levels with no writes in flight (nothing applying or sealing),
    // so the local-read goal is also judged apart from the background writer's load.
    const quiet: Record<string, { local_rtt: Summary } & Record<LocalLevel, LevelResult>> = {};
    for (const r of cluster.regions) {
      const rtt = await localRtt(ctx, r, 200);
      const levels = {} as Record<LocalLevel, LevelResult>;
      for (const level of LOCAL_LEVELS) {
        levels[level] = await runLevel(ctx, r, level, perLevel, LOCAL_CONCURRENCY);
      }
      quiet[r.name] = { local_rtt: rtt, ...levels };
      log(
        `${r.name} quiet: local rtt p50 ${rtt.p50_ms} ms; ` +
          LOCAL_LEVELS.map((l) => `${l} p50 ${levels[l].p50_ms} ms`).join(', '),
      );
    }

    const bg = startBackgroundWriter(ctx, BG_WRITES_PER_S);
    const byRegion: Record<string, Record<Level, LevelResult>> = {};
    const primaryOnly: Record<string, LevelResult & { via: string }> = {};
    const local: Record<string, Summary> = {};
    const followerDirect: Record<string, LevelResult> = {};
    for (const r of cluster.regions) {
      local[r.name] = await localRtt(ctx, r, 200);
      const levels = {} as Record<Level, LevelResult>;
      for (const level of LEVELS) {
        const c = level === 'strong' && r.name !== hub.name ? WAN_CONCURRENCY : LOCAL_CONCURRENCY;
        levels[level] = await runLevel(ctx, r, level, perLevel, c);
        log(
          `${r.name} ${level}: p50 ${levels[level].p50_ms} ms, p99 ${levels[level].p99_ms} ms, ` +
            `${levels[level].served_local_pct} % local`,
        );
      }
      byRegion[r.name] = levels;
      followerDirect[r.name] = await runDirect(ctx, {
        url: r.followerUrl,
        n: perLevel,
        concurrency: LOCAL_CONCURRENCY,
        servedIn: r.name,
        clientPrefix: `${r.name}-follower-direct`,
      });
      log(`${r.name} follower direct: p50 ${followerDirect[r.name]!.p50_ms} ms`);
      primaryOnly[r.name] = await runPrimaryOnly(ctx, r, perLevel);
      log(`${r.name} primary-only: p50 ${primaryOnly[r.name]!.p50_ms} ms`);
    }
    const bgStats = await bg.stop();

    const lagRun = await measureLag(ctx, lagSeconds);
    const lag = lagRun.byRegion;

    const report = checkHistory(ctx.rec.records());
    console.log(formatReport(report));
    const loadavgEnd = os.loadavg().map((x) => round(x, 2));

    const localGoal = (
      r: RegionEndpoints,
      level: LocalLevel,
      x: LevelResult,
      rtt: Summary,
      writing: boolean,
    ) => {
      const over = round(x.p50_ms - rtt.p50_ms, 3);
      return {
        region: r.name,
        level,
        writing,
        p50_ms: x.p50_ms,
        local_rtt_p50_ms: rtt.p50_ms,
        over_local_ms: over,
        served_local_pct: x.served_local_pct,
        met: over <= LOCAL_GOAL_MS && x.served_local_pct >= LOCAL_SHARE_GOAL_PCT,
      };
    };
    const localGoals = cluster.regions.flatMap((r) =>
      LOCAL_LEVELS.map((level) =>
        localGoal(r, level, byRegion[r.name]![level], local[r.name]!, true),
      ),
    );
    const quietGoals = cluster.regions.flatMap((r) =>
      LOCAL_LEVELS.map((level) =>
        localGoal(r, level, quiet[r.name]![level], quiet[r.name]!.local_rtt, false),
      ),
    );
    const lagGoals = Object.entries(lag).map(([region, l]) => ({
      region,
      p99_ms: l.p99_ms,
      goal_p99_ms: l.goal_p99_ms,
      met: l.p99_ms <= l.goal_p99_ms && l.unapplied === 0,
    }));

    const result = {
      suite: 'regions',
      quick: flags.quick,
      machine: await machineInfo(),
      loadavg_start: loadavgStart,
      loadavg_end: loadavgEnd,
      config: {
        topology: 'demo',
        jitter_ms: topology.jitterMs,
        seal: { maxPoints: 5_000, maxAgeMs: 1_500 },
        points: fiori.length + GENERATED,
        fiori_points: fiori.length,
        generated_points: GENERATED,
        dim: 384,
        k: K,
        queries_per_level: perLevel,
        bounded_max_staleness_ms: BOUND_MS,
        concurrency: {
          local_levels: LOCAL_CONCURRENCY,
          strong_remote: WAN_CONCURRENCY,
          primary_only_remote: WAN_CONCURRENCY,
        },
        background_writes_per_s: BG_WRITES_PER_S,
        hot_ids: HOT,
        lag_writes_per_s: LAG_WRITES_PER_S,
        lag_seconds: lagSeconds,
      },
      regions: cluster.regions.map((r) => r.name),
      primary_region: hub.name,
      rtt_ms: rttMatrix(topology),
      local_rtt_ms: local,
      by_region: byRegion,
      /** The same local levels with no writes in flight (before the background writer). */
      quiet_by_region: quiet,
      primary_only: primaryOnly,
      follower_direct: followerDirect,
      lag_by_region: lag,
      lag_write_ack_ms: lagRun.writeAck,
      lag_failed_writes: lagRun.failed,
      background_writer: bgStats,
      violations: report.violations.length,
      consistency: report.guarantees,
      first_violations: report.violations.slice(0, 5).map((v) => ({
        guarantee: v.guarantee,
        message: v.message,
        read: v.read,
      })),
      goals: {
        local_reads: localGoals,
        local_reads_quiet: quietGoals,
        lag: lagGoals,
        violations_zero: report.violations.length === 0,
        all_met:
          localGoals.every((g) => g.met) &&
          lagGoals.every((g) => g.met) &&
          report.violations.length === 0,
      },
    };

    printTable(
      'queries per region and level (ms; local = share served by the region itself)',
      cluster.regions.flatMap((r) => [
        ...LEVELS.map((level) => {
          const x = byRegion[r.name]![level];
          return {
            region: r.name,
            path: level,
            conc: x.concurrency,
            p50: x.p50_ms,
            p99: x.p99_ms,
            'local %': x.served_local_pct,
            errors: x.errors,
          };
        }),
        {
          region: r.name,
          path: 'follower direct',
          conc: followerDirect[r.name]!.concurrency,
          p50: followerDirect[r.name]!.p50_ms,
          p99: followerDirect[r.name]!.p99_ms,
          'local %': followerDirect[r.name]!.served_local_pct,
          errors: followerDirect[r.name]!.errors,
        },
        {
          region: r.name,
          path: 'primary only',
          conc: primaryOnly[r.name]!.concurrency,
          p50: primaryOnly[r.name]!.p50_ms,
          p99: primaryOnly[r.name]!.p99_ms,
          'local %': primaryOnly[r.name]!.served_local_pct,
          errors: primaryOnly[r.name]!.errors,
        },
      ]),
    );
    printTable(
      'follower lag: primary ack → applied notice (ms)',
      Object.entries(lag).map(([region, l]) => ({
        region,
        one_way: l.one_way_ms,
        p50: l.p50_ms,
        p99: l.p99_ms,
        max: l.max_ms,
        goal_p99: l.goal_p99_ms,
        samples: l.samples,
        unapplied: l.unapplied,
      })),
    );
    log(
      `lag: primary write ack p50 ${lagRun.writeAck.p50_ms} ms, p99 ${lagRun.writeAck.p99_ms} ms`,
    );
    printTable('goals: reads served in the region', [...quietGoals, ...localGoals]);
    log(`load average ${loadavgStart.join(' ')} → ${loadavgEnd.join(' ')}`);

    await writeResult(flags.out, result);
    if (flags.out) {
      const svgPath = flags.out.replace(/\.json$/, '') + '.svg';
      await writeFile(svgPath, renderRegionsChart(result));
      log(`wrote ${svgPath}`);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const c of clients) c.close();
    await cluster.stop();
    await rm(baseDir, { recursive: true, force: true });
  }
}
