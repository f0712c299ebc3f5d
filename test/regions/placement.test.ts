/**
 * Placement (DESIGN.md, Reads and consistency; issue #5): "a collection placed in some
 * regions is never mirrored to, stored in or served from any other region". A collection
 * placed in us-east and eu-west is served there, and in ap-south
 * - its NATS server holds none of its WAL entries, manifests or segment chunks (only its
 *   definition, so the region can say where it lives; ADR 0011),
 * - its WAN link does not carry its writes,
 * - its follower stores nothing of it (no segment files, no applied manifest, no WAL log
 *   rows) and serves nothing: its router answers 404 `wrong_region` naming the regions.
 */
import Database from 'better-sqlite3';
import { connect } from 'nats';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../dev/harness/datasets.ts';
import { api, segmentFiles, startRegions, waitForVersion } from '../../dev/harness/regions.ts';
import type { RegionCluster } from '../../dev/harness/regions.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';
import { Subjects } from '../../sync/subjects.ts';

const PLACED = 'placed';
/** A control collection placed everywhere: proves ap-south does receive what it should. */
const EVERYWHERE = 'everywhere';
const MODEL = 'm@1';
const DIM = 16;
const N = 300;

let cluster: RegionCluster;

beforeAll(async () => {
  cluster = await startRegions({
    prefix: 'placement',
    topology: {
      regions: [{ name: 'us-east', primary: true }, { name: 'eu-west' }, { name: 'ap-south' }],
      rttMs: { 'us-east': { 'eu-west': 40, 'ap-south': 80 }, 'eu-west': { 'ap-south': 60 } },
      jitterMs: 2,
    },
    seal: { maxPoints: 100_000, maxAgeMs: 500 },
  });
}, 80_000);

afterAll(async () => {
  await cluster?.close();
});

/** Rows of the given tables for a collection in a node's catalog.db (read-only). */
function catalogRows(dataDir: string, collection: string) {
  const db = new Database(join(dataDir, 'catalog.db'), { readonly: true, fileMustExist: true });
  try {
    const count = (table: string) =>
      (
        db.prepare(`select count(*) as n from ${table} where collection = ?`).get(collection) as {
          n: number;
        }
      ).n;
    const applied = db
      .prepare('select max(applied_version) as v from replica_state where collection = ?')
      .get(collection) as { v: number | null };
    const digests = (
      db.prepare('select digest from segments where collection = ?').all(collection) as Array<{
        digest: string;
      }>
    ).map((r) => r.digest);
    return {
      walLog: count('wal_log'),
      manifests: count('manifests'),
      segments: count('segments'),
      appliedVersion: applied.v ?? 0,
      digests,
    };
  } finally {
    db.close();
  }
}

/**
 * How many messages on `subjects` (a wildcard) each stream of a region's NATS server holds,
 * summed, and the names of its streams.
 */
async function storedOn(natsUrl: string, subjects: string) {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await nc.jetstreamManager();
    let messages = 0;
    const streams: string[] = [];
    for await (const s of jsm.streams.list()) {
      streams.push(s.config.name);
      const info = await jsm.streams.info(s.config.name, { subjects_filter: subjects });
      for (const n of Object.values(info.state.subjects ?? {})) messages += n;
    }
    return { messages, streams };
  } finally {
    await nc.close();
  }
}

/** Waits until every replica the primary's router knows has applied the WAL up to `seq`. */
async function waitForEveryReplica(seq: number): Promise<void> {
  const us = cluster.region('us-east');
  await waitFor(
    async () => {
      const r = await api(`${us.routerUrl}/v1/regions`, 'GET');
      return r.body.replicas.every((x: { appliedSeq: number }) => x.appliedSeq >= seq);
    },
    { message: `every replica at seq ${seq}` },
  );
}

/** The data subjects of a collection: WAL entries, manifests, segment chunks (not its definition). */
const dataSubjects = (c: string) => [
  Subjects.wal(c),
  Subjects.manifest(c, MODEL),
  Subjects.segmentsOf(c),
];

describe('placement', () => {
  describe('a collection placed in us-east and eu-west', () => {
    const rand = seededRandom(11);
    const vectors = Array.from({ length: N }, () =>
      Array.from({ length: DIM }, () => Math.round(rand() * 1e4) / 1e3),
    );
    let apDir = '';
    let euDir = '';

    // Both collections get two writes: the first sealed (by age), the second left in the
    // memtable and WAL; then every replica has applied the WAL past all of them.
    beforeAll(async () => {
      const us = cluster.region('us-east');
      const put = await api(`${us.routerUrl}/v1/collections/${PLACED}`, 'PUT', {
        dim: DIM,
        metric: 'l2',
        model: MODEL,
        placement: ['us-east', 'eu-west'],
      });
      expect(put.status, JSON.stringify(put.body)).toBe(201);
      expect(put.body.placement).toEqual(['eu-west', 'us-east']);
      const ctl = { dim: DIM, metric: 'l2', model: MODEL };
      expect((await api(`${us.routerUrl}/v1/collections/${EVERYWHERE}`, 'PUT', ctl)).status).toBe(
        201,
      );
      const points = vectors.map((vector, i) => ({ id: `p${i}`, vector, metadata: { i } }));
      const write = async (c: string, batch: typeof points) => {
        const w = await api(`${us.routerUrl}/v1/collections/${c}/points`, 'POST', {
          points: batch,
        });
        expect(w.status, JSON.stringify(w.body)).toBe(200);
        return w.body.seq as number;
      };
      for (const c of [PLACED, EVERYWHERE]) await write(c, points.slice(0, N - 20));
      await waitForVersion(cluster.region('eu-west').followerUrl, PLACED, 1);
      await waitForVersion(cluster.region('ap-south').followerUrl, EVERYWHERE, 1);
      let lastSeq = 0;
      for (const c of [PLACED, EVERYWHERE])
        lastSeq = Math.max(lastSeq, await write(c, points.slice(N - 20)));
      await waitForEveryReplica(lastSeq);
      apDir = cluster.dataDir('ap-south', 'follower');
      euDir = cluster.dataDir('eu-west', 'follower');
    }, 80_000);

    it('control: ap-south stores the collection placed everywhere (manifest, segments, WAL rows)', () => {
      const rows = catalogRows(apDir, EVERYWHERE);
      expect(rows.appliedVersion).toBeGreaterThanOrEqual(1);
      expect(rows.segments).toBeGreaterThan(0);
      expect(rows.walLog).toBeGreaterThan(0);
      const files = segmentFiles(apDir);
      expect(rows.digests.filter((d) => !files.has(d))).toEqual([]);
    });

    it("eu-west's follower stores the placed collection's manifest and segment files", () => {
      const rows = catalogRows(euDir, PLACED);
      expect(rows.appliedVersion).toBeGreaterThanOrEqual(1);
      expect(rows.digests.length).toBeGreaterThan(0);
      const files = segmentFiles(euDir);
      expect(rows.digests.filter((d) => !files.has(d))).toEqual([]);
    });

    it("eu-west's NATS server stores the placed collection's data, ap-south's the control's", async () => {
      for (const [region, c] of [
        ['eu-west', PLACED],
        ['ap-south', EVERYWHERE],
      ] as const) {
        for (const subjects of dataSubjects(c)) {
          const stored = await storedOn(cluster.region(region).natsUrl, subjects);
          expect(stored.messages, `${region} ${subjects}`).toBeGreaterThan(0);
        }
      }
    });

    it("ap-south's NATS server stores none of the placed collection's data, only its definition", async () => {
      const ap = cluster.region('ap-south');
      for (const subjects of dataSubjects(PLACED)) {
        const stored = await storedOn(ap.natsUrl, subjects);
        expect(stored.messages, `ap-south ${subjects}`).toBe(0);
        expect(stored.streams.filter((n) => n.endsWith(`__${PLACED}`))).toEqual([]);
      }
      expect((await storedOn(ap.natsUrl, Subjects.collectionDef(PLACED))).messages).toBe(1);
    });

    it("ap-south's follower stores nothing of the placed collection and reports it empty", async () => {
      const files = segmentFiles(apDir);
      const euDigests = catalogRows(euDir, PLACED).digests;
      expect(euDigests.filter((d) => files.has(d))).toEqual([]);
      expect(catalogRows(apDir, PLACED)).toEqual({
        walLog: 0,
        manifests: 0,
        segments: 0,
        appliedVersion: 0,
        digests: [],
      });
      const got = await api(
        `${cluster.region('ap-south').followerUrl}/v1/collections/${PLACED}`,
        'GET',
      );
      if (got.status === 200) {
        for (const g of got.body.generations) expect([g.version, g.points]).toEqual([0, 0]);
      } else {
        expect(got.status).toBe(404);
      }
    });

    it("eu-west's router serves the placed collection from eu-west at every level", async () => {
      for (const consistency of ['eventual', 'bounded', 'session', 'strong'] as const) {
        const q = await api(
          `${cluster.region('eu-west').routerUrl}/v1/collections/${PLACED}/query`,
          'POST',
          {
            vector: vectors[N - 1],
            k: 1,
            consistency,
            ...(consistency === 'bounded' ? { maxStalenessMs: 5_000 } : {}),
          },
        );
        expect(q.status, `${consistency}: ${JSON.stringify(q.body)}`).toBe(200);
        expect([q.body.region, q.body.results[0]?.id]).toEqual(['eu-west', `p${N - 1}`]);
      }
    });

    it("ap-south's router and follower answer 404 wrong_region naming the regions it lives in", async () => {
      const ap = cluster.region('ap-south');
      const asked = [
        ...(['eventual', 'bounded', 'strong'] as const).map((consistency) => ({
          url: ap.routerUrl,
          consistency,
        })),
        { url: ap.followerUrl, consistency: 'eventual' },
      ];
      for (const { url, consistency } of asked) {
        const q = await api(`${url}/v1/collections/${PLACED}/query`, 'POST', {
          vector: vectors[0],
          k: 1,
          consistency,
        });
        expect(q.status, JSON.stringify(q.body)).toBe(404);
        expect(q.body.error.code).toBe('wrong_region');
        expect(q.body.error.message).toMatch(/lives in eu-west, us-east/);
        expect(q.body.results).toBeUndefined();
      }
    });

    it('control: the collection placed everywhere is served in ap-south, from ap-south', async () => {
      const ap = cluster.region('ap-south');
      const q = await api(`${ap.routerUrl}/v1/collections/${EVERYWHERE}/query`, 'POST', {
        vector: vectors[0],
        k: 1,
        consistency: 'eventual',
      });
      expect(q.status).toBe(200);
      expect([q.body.region, q.body.results[0].id]).toEqual(['ap-south', 'p0']);
    });

    it("the WAN link to ap-south does not carry the placed collection's writes", async () => {
      // A write of ~200 KiB crosses the hub→eu-west link and not the hub→ap-south one;
      // beacons and heartbeats still flow to ap-south.
      const euLink = cluster.links.get('nats:us-east~eu-west')!;
      const apLink = cluster.links.get('nats:us-east~ap-south')!;
      const before = { eu: euLink.counters.backward, ap: apLink.counters.backward };
      const big = Array.from({ length: 3_000 }, (_, i) => ({
        id: `big${i}`,
        vector: Array.from({ length: DIM }, () => rand()),
      }));
      const us = cluster.region('us-east');
      const w = await api(`${us.routerUrl}/v1/collections/${PLACED}/points`, 'POST', {
        points: big,
      });
      expect(w.status).toBe(200);
      await waitForEveryReplica(w.body.seq as number);
      const euBytes = euLink.counters.backward - before.eu;
      const apBytes = apLink.counters.backward - before.ap;
      const payload = big.length * DIM * 4;
      console.log(
        `write of ${big.length} × ${DIM} to ${PLACED}: hub→eu-west ${euBytes} B, hub→ap-south ${apBytes} B`,
      );
      expect(euBytes, 'the write reached eu-west over its link').toBeGreaterThan(payload);
      expect(apBytes, `hub→ap-south ${apBytes} B vs hub→eu-west ${euBytes} B`).toBeLessThan(
        payload / 4,
      );
    });
  });

  it('a leaf follower restarted from its data dir resumes each placed collection where it stopped', async () => {
    const us = cluster.region('us-east');
    const f = await cluster.startFollower('eu-west', 'restarted');
    await waitForVersion(f.url, PLACED, 1);
    const replicaOf = async () => {
      const r = await api(`${us.routerUrl}/v1/regions`, 'GET');
      return r.body.replicas.find(
        (x: { region: string; node: string }) => x.region === 'eu-west' && x.node === 'restarted',
      ) as { appliedSeq: number } | undefined;
    };
    const first = await api(`${us.routerUrl}/v1/collections/${PLACED}/points`, 'POST', {
      points: [{ id: 'before-stop', vector: Array.from({ length: DIM }, () => 0.5) }],
    });
    await waitFor(async () => ((await replicaOf())?.appliedSeq ?? 0) >= first.body.seq, {
      message: 'the new follower at the first write',
    });
    await f.stop();

    // Written while it is down: to the placed collection and to the other one.
    const whileDown = await api(`${us.routerUrl}/v1/collections/${PLACED}/points`, 'POST', {
      points: [{ id: 'while-down', vector: Array.from({ length: DIM }, () => 7) }],
    });
    expect(whileDown.status).toBe(200);
    const other = await api(`${us.routerUrl}/v1/collections/${EVERYWHERE}/points`, 'POST', {
      points: [{ id: 'other-while-down', vector: Array.from({ length: DIM }, () => 7) }],
    });
    expect(other.status).toBe(200);

    const again = await cluster.startFollower('eu-west', 'restarted');
    expect(again.dataDir).toBe(f.dataDir);
    const target = Math.max(whileDown.body.seq as number, other.body.seq as number);
    await waitFor(async () => ((await replicaOf())?.appliedSeq ?? 0) >= target, {
      message: `the restarted follower at seq ${target}`,
    });
    for (const [c, id] of [
      [PLACED, 'while-down'],
      [EVERYWHERE, 'other-while-down'],
    ] as const) {
      const q = await api(`${again.url}/v1/collections/${c}/query`, 'POST', {
        vector: Array.from({ length: DIM }, () => 7),
        k: 1,
        consistency: 'eventual',
      });
      expect(q.status, JSON.stringify(q.body)).toBe(200);
      expect(q.body.results[0].id).toBe(id);
    }
    // It recovered its applied manifest from disk rather than starting over.
    const rows = catalogRows(again.dataDir, PLACED);
    expect(rows.appliedVersion).toBeGreaterThanOrEqual(1);
  }, 80_000);

  it('a leaf replica never claims a position it lacks: session reads right after interleaved writes to held and unheld collections', async () => {
    // eu-west holds PLACED and EVERYWHERE, ap-south only EVERYWHERE; each closes the gaps
    // the others leave in the WAL with the primary's beacons (ADR 0011). A session read
    // asked the moment a write is acknowledged, straight at the region's follower, waits
    // for the write and sees it, and a write to a collection the region does not hold
    // does not hold its reads back. (The race of a beacon overtaking a slow apply is
    // forced in test/replication/leaf-position.test.ts.)
    const us = cluster.region('us-east');
    const eu = cluster.region('eu-west');
    const ap = cluster.region('ap-south');
    const rand = seededRandom(29);
    let lastEverywhere: { id: string; vector: number[] } | null = null;
    let checked = 0;
    for (let i = 0; i < 40; i++) {
      const c = i % 3 === 0 ? EVERYWHERE : PLACED;
      const point = {
        id: `interleaved${i}`,
        vector: Array.from({ length: DIM }, () => 20 + rand()),
      };
      const w = await api(`${us.routerUrl}/v1/collections/${c}/points`, 'POST', {
        points: [point],
        ack: 'async',
      });
      expect(w.status, JSON.stringify(w.body)).toBe(200);
      if (c === EVERYWHERE) lastEverywhere = point;
      const reads = [{ url: eu.followerUrl, collection: c, expect: point }];
      // ap-south does not hold PLACED: a PLACED write's token must not hold back its
      // session reads, which still see EVERYWHERE's latest write.
      if (lastEverywhere) {
        reads.push({ url: ap.followerUrl, collection: EVERYWHERE, expect: lastEverywhere });
      }
      for (const r of reads) {
        const q = await api(`${r.url}/v1/collections/${r.collection}/query`, 'POST', {
          vector: r.expect.vector,
          k: 1,
          consistency: 'session',
          token: w.body.token,
          waitMs: 10_000,
        });
        expect(q.status, `${r.url} ${r.collection}: ${JSON.stringify(q.body)}`).toBe(200);
        expect(q.body.appliedSeq).toBeGreaterThanOrEqual(w.body.seq);
        expect(q.body.results[0]?.id, `${r.url} ${r.collection} after write ${i}`).toBe(
          r.expect.id,
        );
        checked++;
      }
    }
    expect(checked).toBe(80);
  }, 80_000);
});
