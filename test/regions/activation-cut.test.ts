/**
 * A region cut off during an activation (issue 14), three regions through link proxies.
 * With policy `all` nothing flips anywhere and the answer names the region behind. With
 * `quorum` the two connected regions flip, the cut one keeps serving the old generation
 * and flips when it heals. Readers at session and strong level in every region, each
 * carrying its token, never see the old generation as active after they saw the new one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startRegions } from '../../dev/harness/regions.ts';
import type { RegionCluster } from '../../dev/harness/regions.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';

const CUT = 'ap-south';
const C = 'cut3';
const A = 'a@1';
const B = 'b@2';
const IDS = 20;
const vec = (i: number) => [i, 1, 0, 0];

let cluster: RegionCluster;

beforeAll(async () => {
  cluster = await startRegions({
    prefix: 'activation-cut',
    topology: {
      regions: [{ name: 'us-east', primary: true }, { name: 'eu-west' }, { name: CUT }],
      rttMs: { 'us-east': { 'eu-west': 20, [CUT]: 40 }, 'eu-west': { [CUT]: 30 } },
      jitterMs: 1,
    },
  });
  const hub = cluster.hub.routerUrl;
  expect(
    (await api(`${hub}/v1/collections/${C}`, 'PUT', { dim: 4, metric: 'l2', model: A })).status,
  ).toBe(201);
  const points = Array.from({ length: IDS }, (_, i) => ({ id: `p${i}`, vector: vec(i) }));
  expect((await api(`${hub}/v1/collections/${C}/points`, 'POST', { points })).status).toBe(200);
  expect(
    (await api(`${hub}/v1/collections/${C}/generations`, 'POST', { model: B, dim: 4 })).status,
  ).toBe(201);
  expect(
    (await api(`${hub}/v1/collections/${C}/points`, 'POST', { points, model: B })).status,
  ).toBe(200);
}, 90_000);

afterAll(async () => {
  await cluster?.close();
});

/** The generation a region's follower serves as active (a query naming no model). */
async function activeAt(region: string): Promise<string | null> {
  const r = await api(`${cluster.region(region).followerUrl}/v1/collections/${C}/query`, 'POST', {
    vector: vec(1),
    k: 1,
    consistency: 'eventual',
  });
  return r.status === 200 ? r.body.generation : null;
}

const activate = (body: Record<string, unknown>) =>
  api(`${cluster.hub.routerUrl}/v1/collections/${C}/generations/${B}/activate`, 'POST', body);

describe('a region cut during an activation', () => {
  it('with policy all, nothing flips anywhere and the answer names the region behind', async () => {
    cluster.cut(CUT);
    // Written while ap-south is away: the fence moves past what it holds.
    const w = await api(`${cluster.hub.routerUrl}/v1/collections/${C}/points`, 'POST', {
      points: [{ id: 'late', vector: vec(99) }],
    });
    expect(w.status).toBe(200);
    const refused = await activate({ policy: 'all', timeoutMs: 1_500, minCoverage: 0.9 });
    expect(refused.status, JSON.stringify(refused.body)).toBe(409);
    expect(refused.body.error.code).toBe('activation_blocked');
    const behind = refused.body.error.details.regions
      .filter((r: { behind: number }) => r.behind > 0)
      .map((r: { region: string }) => r.region);
    expect(behind).toEqual([CUT]);
    for (const region of ['us-east', 'eu-west']) expect(await activeAt(region)).toBe(A);
  });

  it('with quorum, the connected regions flip, the cut one on heal; session and strong readers never go back', async () => {
    type Seen = { generation: string; start: number; t: number };
    const seen = new Map<string, Seen[]>();
    const failures: number[] = [];
    let reading = true;
    const reader = async (region: string, level: 'session' | 'strong') => {
      const name = `${region}/${level}`;
      seen.set(name, []);
      let token: string | undefined;
      while (reading) {
        const start = performance.now();
        const r = await api(
          `${cluster.region(region).routerUrl}/v1/collections/${C}/query`,
          'POST',
          {
            vector: vec(2),
            k: 1,
            consistency: level,
            waitMs: 200,
            ...(token ? { token } : {}),
          },
        );
        if (r.status === 200) {
          token = r.body.token;
          seen.get(name)!.push({ generation: r.body.generation, start, t: performance.now() });
        } else {
          failures.push(r.status);
          // The cut region cannot serve these levels while away: ask again a little later.
          await new Promise((res) => setTimeout(res, 50));
        }
      }
    };
    const readers = cluster.regions.flatMap((r) => [
      reader(r.name, 'session'),
      reader(r.name, 'strong'),
    ]);

    const done = await activate({ policy: 'quorum', timeoutMs: 10_000, minCoverage: 0.9 });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    const flippedAt = performance.now();
    for (const region of ['us-east', 'eu-west']) {
      await waitFor(async () => (await activeAt(region)) === B, { message: `${region} flips` });
    }
    // The cut region has not applied the activation: it keeps serving A as active.
    expect(await activeAt(CUT)).toBe(A);

    cluster.heal(CUT);
    await waitFor(async () => (await activeAt(CUT)) === B, {
      timeoutMs: 30_000,
      message: `${CUT} flips once healed`,
    });
    // Every reader sees B after the heal before the reading stops.
    await waitFor(
      () => [...seen.values()].every((s) => s.some((x) => x.generation === B && x.t > flippedAt)),
      { timeoutMs: 30_000, message: 'every reader to see B' },
    );
    reading = false;
    await Promise.all(readers);

    for (const [name, s] of seen) {
      const firstB = s.findIndex((x) => x.generation === B);
      const back = s.slice(firstB).filter((x) => x.generation !== B);
      expect(back, `${name} saw A as active after B`).toEqual([]);
      // Each session reader went through the change: it saw A first. (A strong reader may
      // first be answered after the commit: in the cut region, or after a wait.)
      if (name.endsWith('/session')) expect(s[0]?.generation, name).toBe(A);
      // A strong read sent after the commit was answered is served B, wherever it runs.
      if (name.endsWith('/strong')) {
        expect(
          s.filter((x) => x.start > flippedAt && x.generation !== B),
          name,
        ).toEqual([]);
      }
    }
    // Failures were the cut region's fresh reads only (503), never a wrong answer.
    expect(failures.every((st) => st === 503)).toBe(true);
  });
});
