import { describe, expect, it } from 'vitest';
import { TEST_KEYS, http, waitUntilRouterSees } from '../harness/services.ts';
import { useServiceCluster } from '../harness/service-fixture.ts';

const fx = useServiceCluster(
  ['us-east', 'eu-west'],
  [
    { role: 'primary', region: 'us-east', node: 'p1' },
    // eu-west's only replica lives inside its router.
    { role: 'router', region: 'eu-west', node: 'r-eu' },
    {
      role: 'router',
      region: 'us-east',
      node: 'r-us',
      overrides: { router: { hostReplica: false, probeIntervalMs: 100, hedgeAfterMs: 0 } },
    },
  ],
);

describe('a replica hosted in a router', () => {
  // Regression: another router forwarding a strong read (with its resolved minSeq) to a
  // router-hosted replica got 400 "Unrecognized key: minSeq": the receiving router re-routed
  // the query instead of serving it from its replica.
  it('serves queries other routers forward to it, at every level', async () => {
    const rUs = fx.cluster.node('r-us').url;
    expect(
      (await http(`${rUs}/v1/collections/rh`, 'PUT', { dim: 2, metric: 'l2', model: 'm@1' }))
        .status,
    ).toBe(201);
    const w = await http(`${rUs}/v1/collections/rh/points`, 'POST', {
      points: [{ id: 'a', vector: [3, 4] }],
      ack: 'sync',
    });
    expect(w.status).toBe(200);
    await waitUntilRouterSees(rUs, ['r-eu'], 'rh');
    for (const level of ['strong', 'session', 'bounded', 'eventual']) {
      const q = await http(
        `${rUs}/v1/collections/rh/query`,
        'POST',
        {
          vector: [3, 4],
          k: 1,
          consistency: level,
          ...(level === 'session' ? { token: w.body.token } : {}),
        },
        TEST_KEYS.read,
      );
      expect(q.status, JSON.stringify(q.body)).toBe(200);
      expect(q.body.results[0].id).toBe('a');
    }
    // Directly: a forwarded query (with minSeq) to the eu-west router is answered by its replica.
    const res = await fetch(`${fx.cluster.node('r-eu').url}/v1/collections/rh/query`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TEST_KEYS.read}`,
        'content-type': 'application/json',
        'x-meridian-forwarded': '1',
      },
      body: JSON.stringify({ vector: [3, 4], k: 1, consistency: 'strong', minSeq: w.body.seq }),
    });
    const body = (await res.json()) as any;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.node).toBe('r-eu');
    // Without the forwarding mark, minSeq is not part of the public API.
    const pub = await http(
      `${fx.cluster.node('r-eu').url}/v1/collections/rh/query`,
      'POST',
      { vector: [3, 4], k: 1, minSeq: 1 },
      TEST_KEYS.read,
    );
    expect(pub.status).toBe(400);
  });
});
