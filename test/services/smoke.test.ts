import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer } from '../harness/nats-server.ts';
import type { NatsServerHandle } from '../harness/nats-server.ts';
import { http, startCluster, waitUntilRouterSees } from '../harness/services.ts';
import type { TestCluster } from '../harness/services.ts';

let nats: NatsServerHandle;
let cluster: TestCluster;

beforeAll(async () => {
  nats = await startNatsServer();
  cluster = await startCluster(
    nats.url,
    ['us-east', 'eu-west'],
    [
      { role: 'primary', region: 'us-east', node: 'p1' },
      { role: 'follower', region: 'eu-west', node: 'f1' },
      {
        role: 'router',
        region: 'eu-west',
        node: 'r1',
        overrides: { router: { hostReplica: false, probeIntervalMs: 200, hedgeAfterMs: 0 } },
      },
    ],
  );
});

afterAll(async () => {
  await cluster?.close();
  await nats?.stop();
});

describe('services over HTTP', () => {
  it('creates, writes, and reads through the router at every level', async () => {
    const router = cluster.node('r1').url;
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
