import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexStats } from '../../index/index.ts';
import { ChildFollower } from '../../dev/harness/child-follower.ts';
import { generateClustered } from '../../dev/harness/datasets.ts';
import { makeTempDir } from '../../dev/harness/tmp.ts';
import type { TempDir } from '../../dev/harness/tmp.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';
import { useReplicationCluster } from '../harness/replication-fixture.ts';

const N = 50_000;
const DIM = 32;
let child: ChildFollower | null = null;
let dir: TempDir;

const fx = useReplicationCluster();

beforeAll(async () => {
  dir = await makeTempDir('bootstrap');
});

afterAll(async () => {
  await child?.stop();
  await dir?.cleanup();
});

describe('bootstrap of a new follower', () => {
  it('joins a 50,000-point collection from manifest + segments + WAL tail without building a graph', async () => {
    const p = fx.primary.node;
    await p.createCollection({ name: 'big', dim: DIM, metric: 'cosine', model: 'm@1' });
    const data = generateClustered({ n: N + 200, dim: DIM, seed: 7 });
    const vec = (i: number) => data.subarray(i * DIM, (i + 1) * DIM);
    for (let i = 0; i < N; i += 2_000) {
      await p.upsert(
        'big',
        Array.from({ length: 2_000 }, (_, j) => ({ id: `b${i + j}`, vector: vec(i + j) })),
      );
    }
    const buildsBefore = indexStats().builds;
    const m = await p.seal('big');
    expect(m?.version).toBe(1);
    expect(indexStats().builds).toBe(buildsBefore + 1);
    // A WAL tail after the manifest: the follower must pick it up from coversSeq + 1.
    await p.upsert(
      'big',
      Array.from({ length: 200 }, (_, j) => ({ id: `t${j}`, vector: vec(N + j) })),
    );
    const target = p.commitPosition.seq;

    child = new ChildFollower({
      natsUrl: fx.nats.url,
      dataDir: dir.path,
      region: 'eu-west',
      node: 'new1',
    });
    await child.next((e) => e.event === 'ready', 60_000);
    await waitFor(
      async () => {
        const s = await child!.request({ cmd: 'status' }, 'status');
        return (s.appliedSeq as number) >= target;
      },
      { timeoutMs: 60_000, message: 'new follower did not reach the WAL tail' },
    );
    const status = await child.request({ cmd: 'status' }, 'status');
    expect(status.builds).toBe(0);
    const [c] = status.collections as Array<{
      viewVersion: number;
      points: number;
      catalogVersion: number;
    }>;
    expect(c).toMatchObject({ viewVersion: 1, catalogVersion: 1, points: N + 200 });

    const view = p.replica.served('big')!.view;
    for (const i of [0, 777, 12_345, 49_999, N + 5]) {
      const q = Array.from(vec(i));
      const res = await child.request(
        { cmd: 'query', collection: 'big', vector: q, k: 10 },
        'result',
      );
      expect(res.hits).toEqual(
        (await view.search(q, { k: 10 })).map((h) => ({ id: h.id, score: h.score })),
      );
    }
  });
});
