import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Primary, Replica } from '../../sync/index.ts';
import { startFollower, startPrimary, stopAll } from '../../dev/harness/cluster.ts';
import type { NodeHandle } from '../../dev/harness/cluster.ts';
import { loadRecallDatasets } from '../../dev/harness/datasets.ts';
import { startNatsServer } from '../../dev/harness/nats-server.ts';
import type { NatsServerHandle } from '../../dev/harness/nats-server.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';

const ds = loadRecallDatasets()[0]!;
let nats: NatsServerHandle;
let primary: NodeHandle<Primary>;
let followers: Array<NodeHandle<Replica>> = [];

const point = (i: number, tag = 'v1') => ({
  id: `p${i}`,
  vector: ds.base.subarray(i * ds.dim, (i + 1) * ds.dim),
  metadata: { row: i, tag },
});

beforeAll(async () => {
  nats = await startNatsServer();
  primary = await startPrimary({
    natsUrl: nats.url,
    region: 'us-east',
    node: 'p1',
    regions: ['us-east', 'eu-west', 'ap-south'],
  });
  followers = [
    await startFollower({ natsUrl: nats.url, region: 'eu-west', node: 'f1' }),
    await startFollower({ natsUrl: nats.url, region: 'ap-south', node: 'f2' }),
  ];
});

afterAll(() => stopAll([primary, ...followers], [nats]));

describe('replication convergence', () => {
  it('gives identical top-k on the primary and two followers, with byte-identical segments', async () => {
    const p = primary.node;
    await p.createCollection({ name: 'docs', dim: ds.dim, metric: ds.metric, model: 'm@1' });
    const n = ds.baseCount;
    const half = Math.floor(n / 2);
    for (let i = 0; i < half; i += 500) {
      await p.upsert(
        'docs',
        Array.from({ length: Math.min(500, half - i) }, (_, j) => point(i + j)),
      );
    }
    await p.seal('docs');
    for (let i = half; i < n; i += 500) {
      await p.upsert(
        'docs',
        Array.from({ length: Math.min(500, n - i) }, (_, j) => point(i + j)),
      );
    }
    // Deletes and re-upserts that shadow sealed copies.
    await p.delete('docs', ['p1', 'p2', 'p3']);
    await p.upsert('docs', [point(10, 'v2'), point(11, 'v2')]);
    const m2 = await p.seal('docs');
    expect(m2?.version).toBe(2);
    // And some writes left in the memtable (not sealed).
    await p.upsert('docs', [point(20, 'v3')]);
    await p.delete('docs', ['p21']);

    const target = p.commitPosition.seq;
    for (const f of followers) {
      await waitFor(() => f.node.appliedSeq >= target && f.node.served('docs')?.version === 2, {
        timeoutMs: 30_000,
        message: `follower ${f.node.node} did not catch up`,
      });
    }
    await waitFor(() => p.replica.appliedSeq >= target, { timeoutMs: 10_000 });

    const views = [p.replica, ...followers.map((f) => f.node)].map((r) => r.served('docs')!.view);
    for (let q = 0; q < Math.min(100, ds.queryCount); q++) {
      const query = ds.queries.subarray(q * ds.dim, (q + 1) * ds.dim);
      const [first, ...rest] = await Promise.all(views.map((v) => v.search(query, { k: 10 })));
      expect(first).toHaveLength(10);
      for (const other of rest) expect(other).toEqual(first);
    }
    const all = (await views[0]!.search(ds.queries.subarray(0, ds.dim), { k: 1000 })).map(
      (h) => h.id,
    );
    expect(all).not.toContain('p1');
    expect(all).not.toContain('p21');
    expect((await views[1]!.search(point(10).vector, { k: 1 }))[0]!.metadata).toEqual({
      row: 10,
      tag: 'v2',
    });
    expect((await views[2]!.search(point(20).vector, { k: 1 }))[0]!.metadata).toEqual({
      row: 20,
      tag: 'v3',
    });

    for (const ref of m2!.segments) {
      const bytes = await Promise.all(
        [primary, ...followers].map((nd) => readFile(join(nd.dataDir, 'segments', ref.digest))),
      );
      for (const b of bytes.slice(1)) expect(b.equals(bytes[0]!)).toBe(true);
    }
  });
});
