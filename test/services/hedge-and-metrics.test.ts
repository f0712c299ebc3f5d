import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinkProxy } from '../../dev/wan/link-proxy.ts';
import { TEST_KEYS, http, waitUntilRouterSees } from '../../dev/harness/services.ts';
import { useServiceCluster } from '../harness/service-fixture.ts';

const fx = useServiceCluster(
  ['us-east', 'eu-west'],
  [
    { role: 'primary', region: 'us-east', node: 'p1' },
    { role: 'follower', region: 'eu-west', node: 'fa' },
    { role: 'follower', region: 'eu-west', node: 'fb' },
  ],
);
const proxies: LinkProxy[] = [];

beforeAll(async () => {
  const { cluster } = fx;
  // The router reaches each follower through a link proxy it can slow down.
  const overrides: Record<string, string> = {};
  for (const name of ['fa', 'fb']) {
    const port = Number(new URL(cluster.node(name).url).port);
    const p = new LinkProxy(name, { host: '127.0.0.1', port }, { delayMs: 0 });
    overrides[`eu-west/${name}`] = `http://127.0.0.1:${await p.start()}`;
    proxies.push(p);
  }
  await cluster.start({
    role: 'router',
    region: 'eu-west',
    node: 'r1',
    overrides: {
      router: {
        hostReplica: false,
        probeIntervalMs: 100,
        hedgeAfterMs: 40,
        urlOverrides: overrides,
      },
    },
  });
});

afterAll(async () => {
  for (const p of proxies) await p.stop();
});

describe('router hedging and metrics', () => {
  it('answers from the second-best replica when the best one turns slow, and counts it in /metrics', async () => {
    const router = fx.cluster.node('r1').url;
    expect(
      (await http(`${router}/v1/collections/h`, 'PUT', { dim: 2, metric: 'l2', model: 'm@1' }))
        .status,
    ).toBe(201);
    const w = await http(`${router}/v1/collections/h/points`, 'POST', {
      points: [{ id: 'a', vector: [1, 2] }],
      ack: 'sync',
    });
    expect(w.status).toBe(200);
    await waitUntilRouterSees(router, ['fa', 'fb'], 'h');
    const first = await http(
      `${router}/v1/collections/h/query`,
      'POST',
      { vector: [1, 2], k: 1 },
      TEST_KEYS.read,
    );
    expect(first.status).toBe(200);
    const best = first.body.node as string;
    const other = best === 'fa' ? 'fb' : 'fa';
    // The replica the router prefers becomes slow (its measured RTT has not caught up yet).
    proxies.find((p) => p.name === best)!.setShape({ delayMs: 400 });
    const hedgedRes = await http(
      `${router}/v1/collections/h/query`,
      'POST',
      { vector: [1, 2], k: 1 },
      TEST_KEYS.read,
    );
    expect(hedgedRes.status).toBe(200);
    expect(hedgedRes.body.node).toBe(other);

    const metrics = await (await fetch(`${router}/metrics`)).text();
    expect(metrics).toMatch(
      /meridian_query_seconds_count\{[^}]*level="eventual"[^}]*region="eu-west"/,
    );
    const fm = await (await fetch(`${fx.cluster.node('fa').url}/metrics`)).text();
    expect(fm).toMatch(/meridian_wal_seq\{[^}]*kind="applied"/);
    expect(fm).toMatch(/meridian_replication_lag_ms\{[^}]*collection="h",generation="[^"]+"/);
    // Each replica's generations, from heartbeats: points served and applied version.
    expect(fm).toMatch(
      /meridian_replica_generation\{[^}]*collection="h"[^}]*node="fa",state="active",kind="points"[^}]*\} \d+/,
    );
    // Its searches ran on its search thread (the default), which is still serving.
    expect(fm).toMatch(/meridian_segment_fetch_bytes_total\{[^}]*\} \d+/);
    expect(fm).toMatch(/meridian_search_threads\{[^}]*state="serving"[^}]*\} 1/);
  });
});
