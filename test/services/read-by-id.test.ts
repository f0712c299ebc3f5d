import { describe, expect, it } from 'vitest';
import { encodePointColumns } from '../../index/index.ts';
import { ARROW_STREAM } from '../../services/index.ts';
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

describe('ids', () => {
  it('are stored byte-exact through JSON, Arrow, the WAL, a seal and the catalog', async () => {
    const primary = fx.cluster.node('p1').url;
    await http(`${primary}/v1/collections/ids`, 'PUT', { dim: 2, metric: 'l2', model: 'm@1' });
    // Non-BMP characters (surrogate pairs in JS), combining marks, and their NFC look-alike.
    const viaJson = ['𝄞a', 'e\u0301', '\u00e9', '日本', 'a b'];
    await http(
      `${primary}/v1/collections/ids/points`,
      'POST',
      { points: viaJson.map((id, i) => ({ id, vector: [i, 1] })) },
      TEST_KEYS.write,
    );
    const viaArrow = ['🙂x', 'ß'];
    const body = encodePointColumns(
      {
        ids: viaArrow,
        vectors: Float32Array.from([7, 1, 8, 1]),
        metadata: [null, null],
        seqs: null,
      },
      2,
    );
    const res = await fetch(`${primary}/v1/collections/ids/points`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEYS.write}`, 'content-type': ARROW_STREAM },
      body,
    });
    expect(res.status).toBe(200);
    await fx.cluster.node('p1').primary!.seal('ids');
    const all = [...viaJson, ...viaArrow];
    const got = await http(
      `${fx.cluster.node('f1').url}/v1/collections/ids/points/get`,
      'POST',
      { ids: all, consistency: 'strong' },
      TEST_KEYS.read,
    );
    expect(got.body.missing).toEqual([]);
    expect(got.body.points.map((p: { id: string }) => p.id)).toEqual(all);
    // Seven distinct ids stay seven (none collapsed into another).
    const described = await http(`${primary}/v1/collections/ids`, 'GET');
    expect(described.body.generations[0].points).toBe(7);
  });
});
