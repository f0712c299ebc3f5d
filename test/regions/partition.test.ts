/**
 * A partition (DESIGN.md, Regions on NATS + Reads and consistency): ap-south is cut off
 * for 10 s while the primary keeps taking 20 writes/s. Inside the cut region, a bounded
 * read (maxStalenessMs 1,000) is served locally only while the local replica can be shown
 * to be within the bound; after that the router answers 503 `no_replica` naming every
 * replica it considered and why — never older data. After the heal the region catches up
 * from where it stopped, loses no acked write, and answers top-k exactly like every other
 * region. Every read of every client (bounded, strong, session, eventual, in all three
 * regions) goes into one history, which the consistency checker must pass with 0 violations.
 *
 * Timers below pace the workload (writes per second, reads per second) and time the cut;
 * every wait for the system to reach a state is a waitFor.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenCodec } from '../../services/index.ts';
import {
  HistoryRecorder,
  checkHistory,
  formatReport,
} from '../../dev/harness/consistency-checker.ts';
import type { ReadRecord } from '../../dev/harness/consistency-checker.ts';
import { seededRandom } from '../../dev/harness/datasets.ts';
import { api, startRegions } from '../../dev/harness/regions.ts';
import type { RegionCluster } from '../../dev/harness/regions.ts';
import { TEST_TOKEN_SECRET } from '../../dev/harness/services.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';

const CUT = 'ap-south';
const C = 'part';
const DIM = 8;
const IDS = 30;
const BOUND = 1_000;
/** How long after `cutAt` data already in flight may still reach the cut region. */
const CUT_SLACK_MS = 50;
const CUT_MS = 10_000;
const WRITES_PER_S = 20;
const READS_PER_S = 10;

let cluster: RegionCluster;

beforeAll(async () => {
  cluster = await startRegions({
    prefix: 'partition',
    topology: {
      regions: [{ name: 'us-east', primary: true }, { name: 'eu-west' }, { name: CUT }],
      rttMs: { 'us-east': { 'eu-west': 30, [CUT]: 60 }, 'eu-west': { [CUT]: 50 } },
      jitterMs: 2,
    },
    seal: { maxPoints: 100_000, maxAgeMs: 1_500 },
  });
}, 80_000);

afterAll(async () => {
  await cluster?.close();
});

// Each id has one fixed vector; an exact k=1 query for it shows that id's state.
const rand = seededRandom(2024);
const vectors = Array.from({ length: IDS }, () =>
  Array.from({ length: DIM }, () => Math.round(rand() * 1e4) / 100),
);

/** Calls `fn` about `perSecond` times a second (one at a time) until `stop()` says so. */
async function paced(perSecond: number, stop: () => boolean, fn: (i: number) => Promise<void>) {
  const every = 1000 / perSecond;
  const t0 = performance.now();
  for (let i = 0; !stop(); i++) {
    await fn(i);
    const due = t0 + (i + 1) * every - performance.now();
    // Rate pacing of the workload, not synchronization.
    if (due > 0) await new Promise((r) => setTimeout(r, due));
  }
}

interface Failure {
  client: string;
  region: string;
  level: string;
  start: number;
  status: number;
  body: any;
}

describe('partition of a region', () => {
  const rec = new HistoryRecorder();
  const failures: Failure[] = [];
  const acked: Array<{ id: string; tag: string; seq: number }> = [];
  const phase = { cutAt: Infinity, healAt: Infinity };
  let failedWrites = 0;
  let lastSeq = 0;
  const inCut = (t: number) => t >= phase.cutAt && t < phase.healAt;
  /** The bounded reads of the cut region's clients. */
  const cutReads = () =>
    rec
      .records()
      .filter((x): x is ReadRecord => x.type === 'read' && x.client.startsWith('cut-bounded'));
  /** Bounded reads in the cut region refused once the bound had expired, before the heal. */
  const expired = () =>
    failures.filter(
      (f) =>
        f.region === CUT &&
        f.level === 'bounded' &&
        f.start >= phase.cutAt + BOUND &&
        f.start < phase.healAt,
    );

  // The workload: 20 writes/s through the hub region; bounded, strong, session and
  // eventual readers in every region; ap-south cut off for 10 s, then healed, until it
  // has caught up with the primary's last seq.
  beforeAll(async () => {
    const hub = cluster.hub;
    const routers = Object.fromEntries(cluster.regions.map((r) => [r.name, r.routerUrl]));
    expect(
      (
        await api(`${hub.routerUrl}/v1/collections/${C}`, 'PUT', {
          dim: DIM,
          metric: 'l2',
          model: 'm@1',
        })
      ).status,
    ).toBe(201);
    for (const r of cluster.regions) {
      await waitFor(
        async () => (await api(`${r.followerUrl}/v1/collections/${C}`, 'GET')).status === 200,
        { message: `${r.name}'s follower to know ${C}` },
      );
    }

    const tokens = new TokenCodec(TEST_TOKEN_SECRET);
    let stopWrites = false;
    let stopReads = false;

    const writer = paced(
      WRITES_PER_S,
      () => stopWrites,
      async (i) => {
        const idx = i % IDS;
        const id = `x${idx}`;
        const tag = `w${i}`;
        const start = rec.now();
        // Through the hub region's router (the cut region cannot reach the primary).
        const res = await api(`${hub.routerUrl}/v1/collections/${C}/points`, 'POST', {
          points: [{ id, vector: vectors[idx], metadata: { tag } }],
        });
        const ok = res.status === 200;
        rec.write({
          client: 'writer',
          id,
          op: 'upsert',
          tag,
          start,
          acked: ok,
          ...(ok ? { seq: res.body.seq } : {}),
        });
        if (ok) acked.push({ id, tag, seq: res.body.seq });
        else failedWrites++;
      },
    );

    type Level = ReadRecord['level'];
    const reader = (client: string, region: string, levels: readonly Level[], seed: number) => {
      const r = seededRandom(seed);
      let token: string | undefined;
      return paced(
        READS_PER_S,
        () => stopReads,
        async () => {
          const idx = Math.floor(r() * IDS);
          const id = `x${idx}`;
          const level = levels[Math.floor(r() * levels.length)]!;
          const sendToken = token;
          const start = rec.now();
          const res = await api(`${routers[region]}/v1/collections/${C}/query`, 'POST', {
            vector: vectors[idx],
            k: 1,
            consistency: level,
            ...(level === 'bounded' ? { maxStalenessMs: BOUND } : {}),
            ...(sendToken ? { token: sendToken } : {}),
          });
          const ok = res.status === 200;
          const hit = ok ? res.body.results[0] : undefined;
          if (ok) token = res.body.token;
          else failures.push({ client, region, level, start, status: res.status, body: res.body });
          rec.read({
            client,
            id,
            level,
            ...(level === 'bounded' ? { maxStalenessMs: BOUND } : {}),
            start,
            ok,
            observedTag: hit && hit.id === id ? (hit.metadata?.tag ?? null) : null,
            region: ok ? res.body.region : 'none',
            appliedSeq: ok ? res.body.appliedSeq : 0,
            stalenessMs: ok ? res.body.stalenessMs : 0,
            ...(sendToken && level === 'session' ? { tokenSeq: tokens.decode(sendToken) } : {}),
          });
        },
      );
    };
    const all = ['strong', 'bounded', 'session', 'eventual'] as const;
    const readers = [
      reader('cut-bounded-1', CUT, ['bounded'], 1),
      reader('cut-bounded-2', CUT, ['bounded'], 2),
      reader('cut-mixed', CUT, all, 3),
      reader('eu-mixed', 'eu-west', all, 4),
      reader('us-mixed', 'us-east', all, 5),
    ];

    // Before the cut: a couple of seconds of normal traffic, everything served.
    await waitFor(() => acked.length >= 2 * WRITES_PER_S, { message: 'writes before the cut' });
    phase.cutAt = rec.now();
    cluster.cut(CUT);
    await waitFor(() => rec.now() - phase.cutAt >= CUT_MS, {
      timeoutMs: CUT_MS + 5_000,
      intervalMs: 100,
      message: 'the cut to last 10 s',
    });
    phase.healAt = rec.now();
    cluster.heal(CUT);
    const ackedAtHeal = acked.length;

    // After the heal: the region's bounded reads are served again (it caught up and hears
    // the primary), then a little more traffic, then the writes stop.
    await waitFor(
      () =>
        rec
          .records()
          .some(
            (x) =>
              x.type === 'read' &&
              x.client.startsWith('cut-bounded') &&
              x.ok &&
              x.start > phase.healAt,
          ),
      { timeoutMs: 30_000, message: `a bounded read in ${CUT} to be served after the heal` },
    );
    await waitFor(() => acked.length >= ackedAtHeal + WRITES_PER_S, {
      message: 'writes after the heal',
    });
    stopWrites = true;
    await writer;
    stopReads = true;
    await Promise.all(readers);
    // Catch-up: the cut region's follower reaches the primary's last seq, by the hub router.
    lastSeq = Math.max(...acked.map((w) => w.seq));
    await waitFor(
      async () => {
        const r = (await api(`${hub.routerUrl}/v1/regions`, 'GET')).body;
        const f = r.replicas.find(
          (x: { region: string; node: string }) => x.region === CUT && x.node === 'follower',
        );
        return r.primary.lastSeq >= lastSeq && f?.appliedSeq >= r.primary.lastSeq;
      },
      { timeoutMs: 20_000, message: `${CUT}'s follower to reach the primary's last seq` },
    );

    const phaseOf = (t: number) =>
      t < phase.cutAt ? 'before' : t < phase.healAt ? 'cut' : 'after';
    console.log('stats', {
      writes: acked.length,
      reads: rec.records().filter((x) => x.type === 'read').length,
      failedReads: failures.length,
      cutBounded: cutReads().filter((x) => inCut(x.start)).length,
      cutBounded503AfterBound: expired().length,
      writesPerS: ['before', 'cut', 'after'].map((ph) => {
        const ws = rec.records().filter((x) => x.type === 'write' && phaseOf(x.start) === ph);
        return `${ph}: ${ws.length}, max ${Math.round(Math.max(...ws.map((x) => x.end - x.start)))} ms`;
      }),
    });
  }, 85_000);

  it('writes through the hub region never fail while another region is cut off', () => {
    expect(failedWrites).toBe(0);
    expect(acked.length).toBeGreaterThan(3 * WRITES_PER_S);
  });

  it('in the cut region, a bounded read is served only within its bound, by the cut region', () => {
    // Answered while the region was still cut off. (A read that waits across the heal may
    // then be served by the primary, which is where the router falls back to.)
    const servedInCut = cutReads().filter((x) => x.ok && inCut(x.start) && x.end < phase.healAt);
    expect(
      servedInCut.length,
      'bounded reads served in the first second of the cut',
    ).toBeGreaterThan(0);
    for (const x of servedInCut) {
      expect(x.region, JSON.stringify(x)).toBe(CUT);
      expect(x.stalenessMs).toBeLessThanOrEqual(BOUND);
      // `cutAt` is taken just before the links are cut: bytes already in a socket's buffers
      // still arrive, so the region's data may be a few ms newer than `cutAt` (CI saw a
      // read served 6 ms past cutAt + BOUND, with stalenessMs within the bound).
      expect(x.start).toBeLessThan(phase.cutAt + BOUND + CUT_SLACK_MS);
    }
  });

  it('once the bound expires there, it is refused 503 no_replica naming each replica considered and why', () => {
    const refused = expired();
    if (refused[0]) console.log('a 503 in the cut region:', JSON.stringify(refused[0].body));
    expect(refused.length).toBeGreaterThan(0);
    for (const f of refused) {
      expect(f.status, JSON.stringify(f.body)).toBe(503);
      expect(f.body.error.code).toBe('no_replica');
      const considered = f.body.error.details.considered as Array<{
        region: string;
        node: string;
        reason: string;
      }>;
      expect(considered.length).toBeGreaterThanOrEqual(1);
      for (const c of considered) expect(c.reason).toMatch(/\S/);
      const local = considered.find((c) => c.region === CUT && c.node === 'follower');
      expect(local?.reason, JSON.stringify(considered)).toMatch(/staleness/);
    }
  });

  it('no bounded read in any region is answered over its bound', () => {
    const served = rec
      .records()
      .filter((x): x is ReadRecord => x.type === 'read' && x.ok && x.level === 'bounded');
    expect(served.length).toBeGreaterThan(0);
    expect(served.filter((x) => x.stalenessMs > BOUND)).toEqual([]);
  });

  it('nothing acked is lost: the healed region answers every id with its latest acked write', async () => {
    const cutFollower = cluster.region(CUT).followerUrl;
    const latest = new Map<string, { tag: string; seq: number }>();
    for (const w of acked) if ((latest.get(w.id)?.seq ?? 0) < w.seq) latest.set(w.id, w);
    expect(latest.size).toBe(IDS);
    for (const [id, w] of latest) {
      const idx = Number(id.slice(1));
      const start = rec.now();
      const q = await api(`${cutFollower}/v1/collections/${C}/query`, 'POST', {
        vector: vectors[idx],
        k: 1,
        consistency: 'eventual',
      });
      expect(q.status).toBe(200);
      rec.read({
        client: 'verify',
        id,
        level: 'eventual',
        start,
        ok: true,
        observedTag:
          q.body.results[0]?.id === id ? (q.body.results[0].metadata?.tag ?? null) : null,
        region: q.body.region,
        appliedSeq: q.body.appliedSeq,
        stalenessMs: q.body.stalenessMs,
      });
      expect(q.body.results[0]?.id).toBe(id);
      expect(q.body.results[0]?.metadata?.tag, `latest acked write of ${id}`).toBe(w.tag);
    }
  });

  it('after the heal every region converges: the same version, position and top-k', async () => {
    const hub = cluster.hub;
    // Writes stopped; the last seal has happened.
    const followers = cluster.regions.map((r) => r.followerUrl);
    await waitFor(
      async () => {
        const p = await api(`${hub.primaryUrl}/v1/collections/${C}`, 'GET');
        const v = p.body.generations[0].version as number;
        for (const f of followers) {
          const g = await api(`${f}/v1/collections/${C}`, 'GET');
          if (g.body.generations[0].version !== v) return false;
          const q = await api(`${f}/v1/collections/${C}/query`, 'POST', {
            vector: vectors[0],
            k: 1,
            consistency: 'eventual',
          });
          if (q.body.appliedSeq < lastSeq) return false;
        }
        return v >= 1;
      },
      { timeoutMs: 20_000, message: 'every follower at the primary version and last seq' },
    );
    // Top-k of 20 queries is the same on every region's follower.
    const qr = seededRandom(77);
    for (let i = 0; i < 20; i++) {
      const vector = Array.from({ length: DIM }, () => Math.round(qr() * 1e4) / 100);
      const answers = await Promise.all(
        followers.map(async (f) => {
          const q = await api(`${f}/v1/collections/${C}/query`, 'POST', {
            vector,
            k: 10,
            consistency: 'eventual',
          });
          expect(q.status).toBe(200);
          return q.body.results.map(
            (x: { id: string; metadata: { tag: string } }) => `${x.id}:${x.metadata.tag}`,
          );
        }),
      );
      expect(answers[0]).toHaveLength(10);
      for (const a of answers.slice(1)) expect(a).toEqual(answers[0]);
    }
  });

  it('the whole history, the checks above included, passes the consistency checker', () => {
    const report = checkHistory(rec.records());
    console.log(formatReport(report));
    expect(report.violations, formatReport(report)).toEqual([]);
    expect(report.guarantees.bounded.checked).toBeGreaterThan(50);
    expect(report.guarantees.strong.checked).toBeGreaterThan(10);
    expect(report.guarantees['session-monotonic'].checked).toBeGreaterThan(10);
  });
});
