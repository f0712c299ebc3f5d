import { describe, expect, it } from 'vitest';
import { encodePointColumns } from '../../index/index.ts';
import { ARROW_STREAM } from '../../services/index.ts';
import { PRIMARY_FOLLOWER_ROUTER, TEST_KEYS, http } from '../../dev/harness/services.ts';
import { useServiceCluster } from '../harness/service-fixture.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';

const fx = useServiceCluster(['us-east', 'eu-west'], PRIMARY_FOLLOWER_ROUTER);

/** Until the replica at `url` serves manifest `version` of the collection. */
async function waitForVersion(url: string, collection: string, version: number): Promise<void> {
  await waitFor(
    async () =>
      (await http(`${url}/v1/collections/${collection}`, 'GET')).body.generations?.[0]?.version >=
      version,
    { timeoutMs: 20_000 },
  );
}

describe('read by id', () => {
  it('answers the live copy of each id at a consistency level, sealed or not, and names the missing', async () => {
    const primary = fx.cluster.node('p1').url;
    await http(`${primary}/v1/collections/byid`, 'PUT', { dim: 3, metric: 'l2', model: 'm@1' });
    const w = (points: unknown[]) =>
      http(`${primary}/v1/collections/byid/points`, 'POST', { points }, TEST_KEYS.write);
    await w([
      { id: 'a', vector: [1, 0, 0], metadata: { v: 1 } },
      { id: 'b', vector: [0, 1, 0] },
      { id: 'd', vector: [0, 1, 1] },
    ]);
    await http(`${primary}/v1/collections/byid/points/delete`, 'POST', { ids: ['b'] });
    const sealed = await fx.cluster.node('p1').primary!.seal('byid');
    await waitForVersion(fx.cluster.node('f1').url, 'byid', sealed!.version);
    await waitForVersion(fx.cluster.node('r1').url, 'byid', sealed!.version);
    const last = await w([
      { id: 'c', vector: [0, 0, 1] },
      { id: 'a', vector: [2, 0, 0], metadata: { v: 2 } }, // shadows the sealed copy
    ]);
    for (const url of [fx.cluster.node('f1').url, fx.cluster.node('r1').url, primary]) {
      const res = await http(
        `${url}/v1/collections/byid/points/get`,
        'POST',
        {
          ids: ['a', 'b', 'c', 'd', 'zz'],
          consistency: 'session',
          token: last.body.token,
          withVector: true,
        },
        TEST_KEYS.read,
      );
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      // `sealed`: served from an HNSW segment, or from the memtable (not sealed yet).
      expect(res.body.points).toEqual([
        { id: 'a', metadata: { v: 2 }, vector: [2, 0, 0], sealed: false },
        { id: 'c', metadata: null, vector: [0, 0, 1], sealed: false },
        { id: 'd', metadata: null, vector: [0, 1, 1], sealed: true },
      ]);
      expect(res.body.missing).toEqual(['b', 'zz']);
      expect(res.body.appliedSeq).toBeGreaterThanOrEqual(last.body.seq);
    }
    const bad = await http(`${primary}/v1/collections/byid/points/get`, 'POST', { ids: [] });
    expect(bad.status).toBe(400);
    const none = await http(`${primary}/v1/collections/nope/points/get`, 'POST', { ids: ['a'] });
    expect(none.status).toBe(404);
  });

  it('GET …/points/:id answers one point at a consistency level; counts say sealed or not', async () => {
    const primary = fx.cluster.node('p1').url;
    await http(`${primary}/v1/collections/one`, 'PUT', { dim: 2, metric: 'l2', model: 'm@1' });
    const w = (points: unknown[]) =>
      http(`${primary}/v1/collections/one/points`, 'POST', { points }, TEST_KEYS.write);
    await w([
      { id: 's1', vector: [1, 0] },
      { id: 's2', vector: [2, 0] },
    ]);
    const sealed = await fx.cluster.node('p1').primary!.seal('one');
    await waitForVersion(fx.cluster.node('f1').url, 'one', sealed!.version);
    await waitForVersion(fx.cluster.node('r1').url, 'one', sealed!.version);
    const last = await w([{ id: 'm/1 é', vector: [0, 1], metadata: { t: 'x' } }]);
    const id = encodeURIComponent('m/1 é');
    for (const url of [fx.cluster.node('f1').url, fx.cluster.node('r1').url]) {
      const q = `consistency=session&token=${encodeURIComponent(last.body.token)}&withVector=true`;
      const got = await http(
        `${url}/v1/collections/one/points/${id}?${q}`,
        'GET',
        undefined,
        TEST_KEYS.read,
      );
      expect(got.status, `${url}: ${JSON.stringify(got.body)}`).toBe(200);
      expect(got.body.point).toEqual({
        id: 'm/1 é',
        metadata: { t: 'x' },
        vector: [0, 1],
        sealed: false,
      });
      expect(got.body.appliedSeq).toBeGreaterThanOrEqual(last.body.seq);
      const sealed = await http(`${url}/v1/collections/one/points/s1?consistency=strong`, 'GET');
      expect(sealed.body.point).toEqual({ id: 's1', metadata: null, sealed: true });
      const missing = await http(`${url}/v1/collections/one/points/zz`, 'GET');
      expect(missing.status).toBe(404);
      expect(missing.body.error.message).toMatch(/no point "zz" in one/);
      const bad = await http(`${url}/v1/collections/one/points/s1?consistency=sometimes`, 'GET');
      expect(bad.status).toBe(400);
      const badWait = await http(`${url}/v1/collections/one/points/s1?waitMs=-1`, 'GET');
      expect(badWait.status).toBe(400);
      // Per replica: how many points are served from HNSW, how many from the memtable.
      const d = await http(`${url}/v1/collections/one`, 'GET');
      expect(d.body.generations[0]).toMatchObject({
        points: 3,
        sealedPoints: 2,
        memtablePoints: 1,
        segments: 1,
      });
    }
    const metrics = await fetch(`${fx.cluster.node('f1').url}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/meridian_points\{[^}]*collection="one"[^}]*state="sealed"[^}]*\} 2/);
    expect(metrics).toMatch(/meridian_points\{[^}]*collection="one"[^}]*state="memtable"[^}]*\} 1/);
    const pm = await fetch(`${primary}/metrics`).then((r) => r.text());
    expect(pm).toMatch(/meridian_sealer_events_total\{[^}]*event="seals"[^}]*\} [1-9]/);
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
