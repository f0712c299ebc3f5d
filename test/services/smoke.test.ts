import { describe, expect, it } from 'vitest';
import { PRIMARY_FOLLOWER_ROUTER, http, waitUntilRouterSees } from '../../dev/harness/services.ts';
import { useServiceCluster } from '../harness/service-fixture.ts';

const fx = useServiceCluster(['us-east', 'eu-west'], PRIMARY_FOLLOWER_ROUTER);

describe('services over HTTP', () => {
  it('creates, writes, and reads through the router at every level', async () => {
    const router = fx.cluster.node('r1').url;
    const put = await http(`${router}/v1/collections/docs`, 'PUT', {
      dim: 3,
      metric: 'l2',
      model: 'm@1',
    });
    expect(put.status).toBe(201);
    const w = await http(`${router}/v1/collections/docs/points`, 'POST', {
      points: [{ id: 'a', vector: [1, 0, 0], metadata: { t: 1 } }],
      ack: 'sync',
      timeoutMs: 5000,
    });
    expect(w.status).toBe(200);
    expect(w.body.ack.replicated).toBe(true);
    await waitUntilRouterSees(router, ['f1'], 'docs');
    for (const level of ['eventual', 'bounded', 'session', 'strong']) {
      const q = await http(
        `${router}/v1/collections/docs/query`,
        'POST',
        {
          vector: [1, 0, 0],
          k: 1,
          consistency: level,
          ...(level === 'session' ? { token: w.body.token } : {}),
        },
        'read-key-0123456789abcdef0',
      );
      expect(q.status, JSON.stringify(q.body)).toBe(200);
      expect(q.body.results[0].id).toBe('a');
      expect(q.body.region).toBe('eu-west');
    }
  });
});
