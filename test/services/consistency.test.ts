import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenCodec } from '../../services/index.ts';
import {
  HistoryRecorder,
  checkHistory,
  formatReport,
} from '../../dev/harness/consistency-checker.ts';
import { seededRandom } from '../../dev/harness/datasets.ts';
import { startNatsServer } from '../../dev/harness/nats-server.ts';
import type { NatsServerHandle } from '../../dev/harness/nats-server.ts';
import type { Guarantee } from '../../dev/harness/consistency-checker.ts';
import { TEST_KEYS, TEST_TOKEN_SECRET, http, startCluster } from '../../dev/harness/services.ts';
import type { TestCluster } from '../../dev/harness/services.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';

const REGIONS = ['us-east', 'eu-west', 'ap-south'];
const IDS = 40;
const DIM = 8;
const CLIENTS = 4;
const OPS_PER_CLIENT = Number(process.env.OPS ?? 520);
let nats: NatsServerHandle;
let cluster: TestCluster;

// Each id has one fixed vector; an exact k=1 query for it reveals the id's state.
const rand = seededRandom(99);
const vectors = Array.from({ length: IDS }, () =>
  Array.from({ length: DIM }, () => Math.round(rand() * 1000) / 10),
);

/** A follower whose WAL apply is slowed by 10–90 ms per batch. */
const slowed = (seed: number) => {
  const r = seededRandom(seed);
  return { beforeWalBatch: () => new Promise<void>((res) => setTimeout(res, 10 + r() * 80)) };
};

beforeAll(async () => {
  nats = await startNatsServer();
  const router = { hostReplica: false, probeIntervalMs: 200, hedgeAfterMs: 0 };
  cluster = await startCluster(nats.url, REGIONS, [
    {
      role: 'primary',
      region: 'us-east',
      node: 'p1',
      overrides: { seal: { maxPoints: 60, maxAgeMs: 400 } },
    },
    { role: 'follower', region: 'eu-west', node: 'f-eu', hooks: slowed(1) },
    { role: 'follower', region: 'ap-south', node: 'f-ap', hooks: slowed(2) },
    { role: 'router', region: 'us-east', node: 'r-us', overrides: { router } },
    { role: 'router', region: 'eu-west', node: 'r-eu', overrides: { router } },
    { role: 'router', region: 'ap-south', node: 'r-ap', overrides: { router } },
  ]);
});

afterAll(async () => {
  await cluster?.close();
  await nats?.stop();
});

describe('consistency under slowed followers', () => {
  const rec = new HistoryRecorder();
  const stats = { writes: 0, reads: 0, failedReads: 0, byRegion: new Map<string, number>() };
  let report: ReturnType<typeof checkHistory>;

  // Four clients, each through one region's router, mix upserts, deletes and reads at
  // every level on 40 ids while the followers' WAL apply is slowed; the history is checked.
  beforeAll(async () => {
    const primaryUrl = cluster.node('p1').url;
    expect(
      (
        await http(`${primaryUrl}/v1/collections/cons`, 'PUT', {
          dim: DIM,
          metric: 'l2',
          model: 'm@1',
        })
      ).status,
    ).toBe(201);
    const routers = ['r-us', 'r-eu', 'r-ap'].map((n) => cluster.node(n).url);
    for (const r of routers) {
      await waitFor(async () => (await http(`${r}/v1/regions`, 'GET')).body.replicas.length >= 3, {
        timeoutMs: 10_000,
      });
    }
    const tokens = new TokenCodec(TEST_TOKEN_SECRET);
    const levels = ['strong', 'bounded', 'session', 'eventual'] as const;
    let tagN = 0;

    const client = async (c: number) => {
      const name = `c${c}`;
      const r = seededRandom(1000 + c);
      const router = routers[c % routers.length]!;
      let token: string | undefined;
      for (let i = 0; i < OPS_PER_CLIENT; i++) {
        const idx = Math.floor(r() * IDS);
        const id = `x${idx}`;
        const roll = r();
        if (roll < 0.3) {
          const op = roll < 0.26 ? 'upsert' : 'delete';
          const tag = `${name}-${tagN++}`;
          const start = rec.now();
          const res =
            op === 'upsert'
              ? await http(
                  `${router}/v1/collections/cons/points`,
                  'POST',
                  { points: [{ id, vector: vectors[idx], metadata: { tag } }] },
                  TEST_KEYS.write,
                )
              : await http(
                  `${router}/v1/collections/cons/points/delete`,
                  'POST',
                  { ids: [id] },
                  TEST_KEYS.write,
                );
          const acked = res.status === 200 || res.status === 202;
          if (acked) token = res.body.token;
          rec.write({
            client: name,
            id,
            op,
            tag,
            start,
            acked,
            ...(acked ? { seq: res.body.seq } : {}),
          });
          stats.writes++;
        } else {
          const level = levels[Math.floor(r() * levels.length)]!;
          const bound = 100 + Math.floor(r() * 300);
          // Like the SDK, the client sends its token with every read so the answer's token
          // merges positions (a bounded read never moves the client's session back).
          const sendToken = token;
          const start = rec.now();
          const res = await http(
            `${router}/v1/collections/cons/query`,
            'POST',
            {
              vector: vectors[idx],
              k: 1,
              consistency: level,
              ...(level === 'bounded' ? { maxStalenessMs: bound } : {}),
              ...(sendToken ? { token: sendToken } : {}),
            },
            TEST_KEYS.read,
          );
          const ok = res.status === 200;
          const hit = ok ? res.body.results[0] : undefined;
          if (ok) token = res.body.token;
          rec.read({
            client: name,
            id,
            level,
            ...(level === 'bounded' ? { maxStalenessMs: bound } : {}),
            start,
            ok,
            observedTag: hit && hit.id === id ? (hit.metadata?.tag ?? null) : null,
            region: ok ? res.body.region : 'none',
            appliedSeq: ok ? res.body.appliedSeq : 0,
            stalenessMs: ok ? res.body.stalenessMs : 0,
            ...(sendToken && level === 'session' ? { tokenSeq: tokens.decode(sendToken) } : {}),
          });
          stats.reads++;
          if (!ok) stats.failedReads++;
          else stats.byRegion.set(res.body.region, (stats.byRegion.get(res.body.region) ?? 0) + 1);
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
    report = checkHistory(rec.records());
    console.log(formatReport(report));
    console.log(
      `writes ${stats.writes}, reads ${stats.reads} (failed ${stats.failedReads}), served by region`,
      Object.fromEntries(stats.byRegion),
    );
  }, 300_000);

  it('ran 2,000+ operations; most reads were answered, followers answered more than 100', () => {
    expect(rec.records().length).toBeGreaterThanOrEqual(2_000);
    expect(stats.failedReads).toBeLessThan(stats.reads * 0.2);
    const byFollowers =
      (stats.byRegion.get('eu-west') ?? 0) + (stats.byRegion.get('ap-south') ?? 0);
    expect(byFollowers).toBeGreaterThan(100);
  });

  it('sealed during the run, so manifests were applied under load too', () => {
    expect(cluster.node('f-eu').replica!.served('cons')!.version).toBeGreaterThan(0);
  });

  const violationsOf = (g: Guarantee) => report.violations.filter((v) => v.guarantee === g);

  it('strong: every read sees each write acknowledged before it started', () => {
    expect(report.guarantees.strong.checked).toBeGreaterThan(200);
    expect(violationsOf('strong'), formatReport(report)).toEqual([]);
  });

  it('bounded: no read is older than its bound', () => {
    expect(report.guarantees.bounded.checked).toBeGreaterThan(200);
    expect(violationsOf('bounded'), formatReport(report)).toEqual([]);
  });

  it("session: a read sees the session's own writes, and never goes back", () => {
    expect(report.guarantees['session-ryw'].checked).toBeGreaterThan(200);
    expect(violationsOf('session-ryw'), formatReport(report)).toEqual([]);
    expect(violationsOf('session-monotonic'), formatReport(report)).toEqual([]);
  });

  it('no read at any level returns a value nobody wrote', () => {
    expect(violationsOf('no-phantom'), formatReport(report)).toEqual([]);
    expect(report.violations, formatReport(report)).toEqual([]);
  });
});
