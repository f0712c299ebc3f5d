/**
 * "Bytes cross the WAN once per region" (DESIGN.md, Regions on NATS): a leaf region with
 * TWO followers fetches a sealed segment of several MiB, and the hub→leaf link carries it
 * once — both followers read it from their region's SEGMENTS mirror, not from the hub.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../dev/harness/datasets.ts';
import { api, segmentFiles, startRegions, waitForVersion } from '../../dev/harness/regions.ts';
import type { ExtraFollower, RegionCluster } from '../../dev/harness/regions.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';

const HUB = 'us-east';
const LEAF = 'eu-west';
const C = 'wanonce';
const DIM = 256;
const POINTS = 6_000;

let cluster: RegionCluster;
let second: ExtraFollower;

beforeAll(async () => {
  cluster = await startRegions({
    prefix: 'wan-once',
    topology: {
      regions: [{ name: HUB, primary: true }, { name: LEAF }],
      rttMs: { [HUB]: { [LEAF]: 20 } },
    },
    // Seal 500 ms after the memtable first holds a point (one write below: one segment).
    seal: { maxPoints: 100_000, maxAgeMs: 500 },
  });
  second = await cluster.startFollower(LEAF, 'follower2');
}, 80_000);

afterAll(async () => {
  await cluster?.close();
});

describe('WAN bytes once per region', () => {
  it('a segment fetched by two followers of a leaf region crosses the hub→leaf link once', async () => {
    const hub = cluster.hub;
    const leaf = cluster.region(LEAF);
    const followers = [leaf.followerUrl, second.url];
    const link = cluster.links.get(`nats:${HUB}~${LEAF}`);
    expect(link, 'the leaf connection runs through a link proxy').toBeDefined();

    expect(
      (
        await api(`${hub.routerUrl}/v1/collections/${C}`, 'PUT', {
          dim: DIM,
          metric: 'l2',
          model: 'm@1',
        })
      ).status,
    ).toBe(201);
    // Both leaf followers know the collection before any point is written.
    for (const f of followers) {
      await waitFor(async () => (await api(`${f}/v1/collections/${C}`, 'GET')).status === 200, {
        message: `${f} to know ${C}`,
      });
    }

    // One write of 6,000 × 256: a single memtable, sealed by age into one segment.
    const rand = seededRandom(7);
    const points = Array.from({ length: POINTS }, (_, i) => ({
      id: `p${i}`,
      vector: Array.from({ length: DIM }, () => Math.round((rand() * 2 - 1) * 1e4) / 1e4),
      metadata: { i },
    }));
    const w = await api(`${hub.primaryUrl}/v1/collections/${C}/points`, 'POST', { points });
    expect(w.status, JSON.stringify(w.body).slice(0, 300)).toBe(200);
    const lastSeq: number = w.body.seq;

    // Phase 1: the WAL reaches both followers (through the mirror). The seal (an HNSW
    // build of 6,000 × 256, seconds) has not uploaded anything yet; checked below.
    for (const f of followers) {
      await waitFor(
        async () => {
          const res = await api(`${f}/v1/collections/${C}`, 'GET');
          return res.status === 200 && (res.body.generations?.[0]?.points ?? 0) >= POINTS;
        },
        { timeoutMs: 20_000, message: `${f} to hold the ${POINTS} WAL points` },
      );
    }
    const primaryVersionAtStart = (await api(`${hub.primaryUrl}/v1/collections/${C}`, 'GET')).body
      .generations[0].version as number;
    const before = { ...link!.counters };

    // Phase 2: seal, upload, mirror, fetch by both followers.
    const t0 = performance.now();
    for (const f of followers) await waitForVersion(f, C, 1, 60_000);
    const phaseMs = performance.now() - t0;
    const after = { ...link!.counters };

    const segs = segmentFiles(cluster.dataDir(HUB, 'primary'));
    const segBytes = [...segs.values()].reduce((a, b) => a + b, 0);
    const hubToLeaf = after.backward - before.backward;
    const leafToHub = after.forward - before.forward;
    console.log(
      `segment(s) ${segs.size}, ${(segBytes / 2 ** 20).toFixed(2)} MiB; hub→leaf during seal+fetch ` +
        `${(hubToLeaf / 2 ** 20).toFixed(2)} MiB (${(hubToLeaf / segBytes).toFixed(2)}× the segment), ` +
        `leaf→hub ${(leafToHub / 2 ** 10).toFixed(1)} KiB, ${Math.round(phaseMs)} ms; last WAL seq ${lastSeq}`,
    );

    // The measurement is about the seal: nothing was sealed when it started, one segment
    // of several MiB was sealed during it, and both followers hold exactly that segment.
    expect(primaryVersionAtStart).toBe(0);
    expect(segs.size).toBe(1);
    expect(segBytes).toBeGreaterThan(4 * 2 ** 20);
    for (const dir of [cluster.dataDir(LEAF, 'follower'), second.dataDir]) {
      expect([...segmentFiles(dir).keys()]).toEqual([...segs.keys()]);
    }
    // It crossed (the counter saw it) …
    expect(hubToLeaf).toBeGreaterThan(0.9 * segBytes);
    // … once, not once per follower.
    expect(hubToLeaf).toBeLessThan(1.5 * segBytes);
  }, 80_000);
});
