import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ThreadViewHost } from '../../index/index.ts';
import type { Primary } from '../../sync/index.ts';
import { startPrimary, stopAll } from '../harness/cluster.ts';
import type { NodeHandle } from '../harness/cluster.ts';
import { generateClustered } from '../harness/datasets.ts';
import { startNatsServer } from '../harness/nats-server.ts';
import type { NatsServerHandle } from '../harness/nats-server.ts';

const DIM = 16;
let nats: NatsServerHandle;
let primary: NodeHandle<Primary>;

beforeAll(async () => {
  nats = await startNatsServer();
  primary = await startPrimary({
    natsUrl: nats.url,
    region: 'us-east',
    node: 'p1',
    regions: ['us-east'],
    searchThreads: 1,
  });
});

afterAll(() => stopAll([primary], [nats]));

describe("a replica's view thread", () => {
  it('holds the only copy; when it fails, a new one is rebuilt from the catalog and WAL log, answering the same', async () => {
    const p = primary.node;
    await p.createCollection({ name: 'st', dim: DIM, metric: 'l2', model: 'm@1' });
    const data = generateClustered({ n: 3_000, dim: DIM, seed: 3 });
    const vec = (i: number) => data.subarray(i * DIM, (i + 1) * DIM);
    const put = (from: number, to: number) =>
      p.upsert(
        'st',
        Array.from({ length: to - from }, (_, j) => ({
          id: `s${from + j}`,
          vector: vec(from + j),
        })),
      );
    await put(0, 2_000);
    await p.seal('st');
    await put(2_000, 3_000); // a memtable on top of the segment
    const view = p.replica.served('st')!.view;
    const host = p.replica.viewHost as ThreadViewHost;
    expect(host).toBeInstanceOf(ThreadViewHost);
    const queries = Array.from({ length: 30 }, (_, i) => vec(i * 97));
    const answers = () => Promise.all(queries.map((q) => view.search(q, { k: 10 })));
    const before = await answers();
    expect((await view.stats()).sealedPoints).toBe(2_000);
    expect((await view.stats()).memtablePoints).toBe(1_000);

    host.fault(); // an error in the thread, as a bug would raise
    await expect.poll(() => view.unavailableReason, { timeout: 10_000 }).not.toBeNull();
    // Meanwhile a search is refused (503 view_unavailable), never answered from a partial view.
    await expect(view.search(queries[0]!, { k: 10 })).rejects.toMatchObject({
      code: 'view_unavailable',
    });

    await expect.poll(() => view.unavailableReason, { timeout: 30_000 }).toBeNull();
    expect(host.serving).toBe(1);
    expect(await answers()).toEqual(before);
    const stats = await view.stats();
    expect(stats.sealedPoints).toBe(2_000);
    expect(stats.memtablePoints).toBe(1_000);

    // Writes after the rebuild reach the new thread's view.
    await p.upsert('st', [{ id: 'late', vector: vec(5) }]);
    expect((await view.search(vec(5), { k: 2 })).map((h) => h.id)).toContain('late');
  });
});
