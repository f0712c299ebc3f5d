import { describe, expect, it } from 'vitest';
import { PRIMARY_FOLLOWER_ROUTER, TEST_KEYS, http } from '../harness/services.ts';
import { useServiceCluster } from '../harness/service-fixture.ts';

const fx = useServiceCluster(['us-east', 'eu-west'], PRIMARY_FOLLOWER_ROUTER);

describe('read by id', () => {
  it('answers the live copy of each id at a consistency level, sealed or not, and names the missing', async () => {
    const primary = fx.cluster.node('p1').url;
    await http(`${primary}/v1/collections/byid`, 'PUT', { dim: 3, metric: 'l2', model: 'm@1' });
    const w = (points: unknown[]) =>
      http(`${primary}/v1/collections/byid/points`, 'POST', { points }, TEST_KEYS.write);
    await w([
      { id: 'a', vector: [1, 0, 0], metadata: { v: 1 } },
      { id: 'b', vector: [0, 1, 0] },
    ]);
    await http(`${primary}/v1/collections/byid/points/delete`, 'POST', { ids: ['b'] });
    await fx.cluster.node('p1').primary!.seal('byid');
    const last = await w([
      { id: 'c', vector: [0, 0, 1] },
      { id: 'a', vector: [2, 0, 0], metadata: { v: 2 } }, // shadows the sealed copy
    ]);
    for (const url of [fx.cluster.node('f1').url, fx.cluster.node('r1').url, primary]) {
      const res = await http(
        `${url}/v1/collections/byid/points/get`,
        'POST',
        {
          ids: ['a', 'b', 'c', 'zz'],
          consistency: 'session',
          token: last.body.token,
          withVector: true,
        },
        TEST_KEYS.read,
      );
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.points).toEqual([
        { id: 'a', metadata: { v: 2 }, vector: [2, 0, 0] },
        { id: 'c', metadata: null, vector: [0, 0, 1] },
      ]);
      expect(res.body.missing).toEqual(['b', 'zz']);
      expect(res.body.appliedSeq).toBeGreaterThanOrEqual(last.body.seq);
    }
    const bad = await http(`${primary}/v1/collections/byid/points/get`, 'POST', { ids: [] });
    expect(bad.status).toBe(400);
    const none = await http(`${primary}/v1/collections/nope/points/get`, 'POST', { ids: ['a'] });
    expect(none.status).toBe(404);
  });
});
