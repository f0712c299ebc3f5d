import { describe, expect, it } from 'vitest';
import { TokenCodec } from '../../services/index.ts';
import {
  TEST_KEYS,
  TEST_TOKEN_SECRET,
  http,
  waitUntilRouterSees,
} from '../../dev/harness/services.ts';
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
    // Directly: a forwarded query (with its resolved position, signed as a router signs it)
    // to the eu-west router is answered by its replica.
    const forward = (extra: Record<string, unknown>) =>
      fetch(`${fx.cluster.node('r-eu').url}/v1/collections/rh/query`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TEST_KEYS.read}`,
          'content-type': 'application/json',
          'x-meridian-forwarded': '1',
        },
        body: JSON.stringify({ vector: [3, 4], k: 1, consistency: 'strong', ...extra }),
      });
    const readIndex = new TokenCodec(TEST_TOKEN_SECRET).encode(w.body.seq);
    const res = await forward({ readIndex });
    const body = (await res.json()) as any;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.node).toBe('r-eu');
    // Regression (issue 17): a client's own minSeq was taken (a huge one made the replica
    // wait, then answer 503). Only a signed read index is, and a forged one is a 400.
    expect((await forward({ minSeq: 1e15 })).status).toBe(400);
    expect((await forward({ readIndex: 'm1.zz.0123456789abcdef' })).status).toBe(400);
    // Without the forwarding mark, neither is part of the public API.
    for (const extra of [{ minSeq: 1 }, { readIndex }]) {
      const pub = await http(
        `${fx.cluster.node('r-eu').url}/v1/collections/rh/query`,
        'POST',
        { vector: [3, 4], k: 1, ...extra },
        TEST_KEYS.read,
      );
      expect(pub.status).toBe(400);
    }
  });
});
