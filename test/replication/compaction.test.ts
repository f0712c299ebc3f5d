import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Primary, Replica } from '../../sync/index.ts';
import { startFollower, startPrimary, stopAll } from '../harness/cluster.ts';
import type { NodeHandle } from '../harness/cluster.ts';
import { startNatsServer } from '../harness/nats-server.ts';
import type { NatsServerHandle } from '../harness/nats-server.ts';
import { waitFor } from '../harness/wait-for.ts';

let nats: NatsServerHandle;
let primary: NodeHandle<Primary>;
let follower: NodeHandle<Replica>;
const DIM = 8;
const vec = (i: number) => Array.from({ length: DIM }, (_, j) => Math.cos(i * 7 + j * 3));

beforeAll(async () => {
  nats = await startNatsServer();
  primary = await startPrimary({
    natsUrl: nats.url,
    region: 'us-east',
    node: 'p1',
    regions: ['us-east', 'eu-west'],
    seal: { compactAbove: 2 },
  });
  follower = await startFollower({ natsUrl: nats.url, region: 'eu-west', node: 'f1' });
});

afterAll(() => stopAll([primary, follower], [nats]));

describe('compaction', () => {
  it('merges segments and tombstones into one segment that serves the same answers', async () => {
    const p = primary.node;
    await p.createCollection({ name: 'cmp', dim: DIM, metric: 'l2', model: 'm@1' });
    const live = new Map<string, number>();
    for (let round = 0; round < 3; round++) {
      const pts = Array.from({ length: 100 }, (_, i) => ({
        id: `k${round * 60 + i}`,
        vector: vec(round * 1000 + i),
      }));
      await p.upsert('cmp', pts);
      pts.forEach((pt, i) => live.set(pt.id, round * 1000 + i));
      const gone = [`k${round * 60 + 1}`, `k${round * 60 + 2}`];
      await p.delete('cmp', gone);
      gone.forEach((id) => live.delete(id));
      await p.seal('cmp');
    }
    // The third seal produced three segments, above compactAbove = 2: compacted to one.
    const m = p.catalog.appliedManifest('cmp', 'm@1')!;
    expect(m.segments).toHaveLength(1);
    expect(m.tombstones).toHaveLength(0);
    expect(m.segments[0]!.count).toBe(live.size);

    await waitFor(() => follower.node.served('cmp')?.version === m.version, { timeoutMs: 20_000 });
    for (const r of [p.replica, follower.node]) {
      const view = r.served('cmp')!.view;
      expect((await view.stats()).points).toBe(live.size);
      for (const [id, v] of [...live].slice(0, 50)) {
        expect((await view.search(vec(v), { k: 1 }))[0]!.id).toBe(id);
      }
      const all = new Set((await view.search(vec(0), { k: 1000 })).map((h) => h.id));
      expect(all).toEqual(new Set(live.keys()));
    }
  });
});
