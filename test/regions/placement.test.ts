/**
 * Placement (DESIGN.md, Reads and consistency): "A collection placed in some regions is
 * never copied to, or served from, any other region." A collection placed in us-east and
 * eu-west is served there, and ap-south's follower neither stores it (no segment files,
 * no applied manifest, no WAL log rows) nor serves it; its router answers 404
 * `wrong_region` naming where the collection lives.
 *
 * What this test does NOT check: ap-south's NATS server still receives the collection's
 * bytes. Its leaf mirrors copy the hub's WAL, CATALOG and SEGMENTS streams whole, so the
 * placed collection's WAL entries and segment chunks sit in ap-south's JetStream store
 * (`<baseDir>/nats-ap-south`) even though no Meridian node there keeps or serves them —
 * the known gap recorded in docs/decisions/0007. This test asserts only what Meridian's
 * nodes store and serve, not what the region's NATS store holds.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../harness/datasets.ts';
import { api, segmentFiles, startRegions, waitForVersion } from '../harness/regions.ts';
import type { RegionCluster } from '../harness/regions.ts';
import { waitFor } from '../harness/wait-for.ts';

const PLACED = 'placed';
/** A control collection placed everywhere: proves ap-south does receive what it should. */
const EVERYWHERE = 'everywhere';
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

describe('placement', () => {
  it('a collection placed in us-east and eu-west is never stored in or served from ap-south', async () => {
    const us = cluster.region('us-east');
    const eu = cluster.region('eu-west');
    const ap = cluster.region('ap-south');

    const put = await api(`${us.routerUrl}/v1/collections/${PLACED}`, 'PUT', {
      dim: DIM,
      metric: 'l2',
      model: 'm@1',
      placement: ['us-east', 'eu-west'],
    });
    expect(put.status, JSON.stringify(put.body)).toBe(201);
    expect(put.body.placement).toEqual(['eu-west', 'us-east']);
    expect(
      (
        await api(`${us.routerUrl}/v1/collections/${EVERYWHERE}`, 'PUT', {
          dim: DIM,
          metric: 'l2',
          model: 'm@1',
        })
      ).status,
    ).toBe(201);

    const rand = seededRandom(11);
    const vectors = Array.from({ length: N }, () =>
      Array.from({ length: DIM }, () => Math.round(rand() * 1e4) / 1e3),
    );
    const points = vectors.map((vector, i) => ({ id: `p${i}`, vector, metadata: { i } }));
    // Two writes each: the first sealed (by age), the second left in the memtable/WAL.
    for (const c of [PLACED, EVERYWHERE]) {
      const w = await api(`${us.routerUrl}/v1/collections/${c}/points`, 'POST', {
        points: points.slice(0, N - 20),
      });
      expect(w.status, JSON.stringify(w.body)).toBe(200);
    }
    await waitForVersion(eu.followerUrl, PLACED, 1);
    await waitForVersion(ap.followerUrl, EVERYWHERE, 1);
    let lastSeq = 0;
    for (const c of [PLACED, EVERYWHERE]) {
      const w = await api(`${us.routerUrl}/v1/collections/${c}/points`, 'POST', {
        points: points.slice(N - 20),
      });
      expect(w.status).toBe(200);
      lastSeq = Math.max(lastSeq, w.body.seq as number);
    }
    // ap-south has consumed the WAL past every write of both collections.
    await waitFor(
      async () => {
        const r = await api(`${us.routerUrl}/v1/regions`, 'GET');
        const f = r.body.replicas.find(
          (x: { region: string; node: string }) => x.region === 'ap-south' && x.node === 'follower',
        );
        return (f?.appliedSeq ?? 0) >= lastSeq;
      },
      { message: `ap-south's follower to apply WAL seq ${lastSeq}` },
    );

    // Control: ap-south holds the unplaced collection (segments, manifest, WAL rows) …
    const apDir = cluster.dataDir('ap-south', 'follower');
    const apEverywhere = catalogRows(apDir, EVERYWHERE);
    expect(apEverywhere.appliedVersion).toBeGreaterThanOrEqual(1);
    expect(apEverywhere.segments).toBeGreaterThan(0);
    expect(apEverywhere.walLog).toBeGreaterThan(0);
    const apFiles = segmentFiles(apDir);
    for (const d of apEverywhere.digests) expect(apFiles.has(d)).toBe(true);

    // … and eu-west holds the placed one …
    const euPlaced = catalogRows(cluster.dataDir('eu-west', 'follower'), PLACED);
    expect(euPlaced.appliedVersion).toBeGreaterThanOrEqual(1);
    expect(euPlaced.digests.length).toBeGreaterThan(0);
    const euFiles = segmentFiles(cluster.dataDir('eu-west', 'follower'));
    for (const d of euPlaced.digests) expect(euFiles.has(d)).toBe(true);

    // … but ap-south holds none of it: no segment file, no manifest, no WAL log row.
    for (const d of euPlaced.digests)
      expect(apFiles.has(d), `segment ${d} in ap-south`).toBe(false);
    const apPlaced = catalogRows(apDir, PLACED);
    expect(apPlaced).toEqual({
      walLog: 0,
      manifests: 0,
      segments: 0,
      appliedVersion: 0,
      digests: [],
    });
    const apGet = await api(`${ap.followerUrl}/v1/collections/${PLACED}`, 'GET');
    if (apGet.status === 200) {
      for (const g of apGet.body.generations) {
        expect(g.version).toBe(0);
        expect(g.points).toBe(0);
      }
    } else {
      expect(apGet.status).toBe(404);
    }

    // Served in eu-west through eu-west's router, at every level.
    for (const consistency of ['eventual', 'bounded', 'session', 'strong'] as const) {
      const q = await api(`${eu.routerUrl}/v1/collections/${PLACED}/query`, 'POST', {
        vector: vectors[N - 1],
        k: 1,
        consistency,
        ...(consistency === 'bounded' ? { maxStalenessMs: 5_000 } : {}),
      });
      expect(q.status, `${consistency}: ${JSON.stringify(q.body)}`).toBe(200);
      expect(q.body.region).toBe('eu-west');
      expect(q.body.results[0]?.id).toBe(`p${N - 1}`);
    }

    // Not served in ap-south: its router answers 404 wrong_region naming where it lives …
    for (const consistency of ['eventual', 'bounded', 'strong'] as const) {
      const q = await api(`${ap.routerUrl}/v1/collections/${PLACED}/query`, 'POST', {
        vector: vectors[0],
        k: 1,
        consistency,
      });
      expect(q.status, JSON.stringify(q.body)).toBe(404);
      expect(q.body.error.code).toBe('wrong_region');
      expect(q.body.error.message).toContain('us-east');
      expect(q.body.error.message).toContain('eu-west');
      expect(q.body.results).toBeUndefined();
    }
    // … and so does its follower asked directly (no empty answer from a replica that holds nothing).
    const direct = await api(`${ap.followerUrl}/v1/collections/${PLACED}/query`, 'POST', {
      vector: vectors[0],
      k: 1,
      consistency: 'eventual',
    });
    expect(direct.status, JSON.stringify(direct.body)).toBe(404);
    expect(direct.body.error.code).toBe('wrong_region');
    expect(direct.body.error.message).toContain('eu-west');
    // The unplaced collection is served in ap-south, from ap-south.
    const ctl = await api(`${ap.routerUrl}/v1/collections/${EVERYWHERE}/query`, 'POST', {
      vector: vectors[0],
      k: 1,
      consistency: 'eventual',
    });
    expect(ctl.status).toBe(200);
    expect(ctl.body.region).toBe('ap-south');
    expect(ctl.body.results[0].id).toBe('p0');
  }, 80_000);
});
