import { describe, expect, it } from 'vitest';
import { useReplicationCluster } from '../harness/replication-fixture.ts';
import { ThreadViewHost } from '../../index/index.ts';
import { startNatsServer } from '../../dev/harness/nats-server.ts';
import { startPrimary, stopAll } from '../../dev/harness/cluster.ts';
import { generateClustered } from '../../dev/harness/datasets.ts';

const DIM = 16;

const fx = useReplicationCluster({ primary: { regions: ['us-east'], searchThreads: 1 } });

describe("a replica's view thread", () => {
  it('holds the only copy; when it fails, a new one is rebuilt from the catalog and WAL log, answering the same', async () => {
    const p = fx.primary.node;
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

describe("a primary's view thread rebuilt while its WAL follower lags", () => {
  it('gets the writes it had applied from the WAL again, not skipped as already applied', async () => {
    // Review of issue 12: the primary skips its own writes when its WAL follower brings
    // them back. A write posted to the lost thread, not yet in the WAL log when the
    // rebuild read it, must still reach the new thread.
    const own = await startNatsServer();
    let hold: Promise<void> | null = null;
    const p2 = await startPrimary({
      natsUrl: own.url,
      region: 'us-east',
      node: 'p2',
      regions: ['us-east'],
      searchThreads: 1,
      hooks: {
        beforeWalBatch: async () => {
          if (hold) await hold;
        },
      },
    });
    try {
      const p = p2.node;
      await p.createCollection({ name: 'lag', dim: 4, metric: 'l2', model: 'm@1' });
      await p.upsert('lag', [{ id: 'first', vector: [1, 0, 0, 0] }]);
      let release!: () => void;
      hold = new Promise<void>((r) => (release = r));
      await p.upsert('lag', [{ id: 'held', vector: [0, 1, 0, 0] }]);
      const view = p.replica.served('lag')!.view;
      expect((await view.search([0, 1, 0, 0], { k: 1 }))[0]!.id).toBe('held');

      const host = p.replica.viewHost as ThreadViewHost;
      host.fault();
      await expect.poll(() => view.unavailableReason, { timeout: 10_000 }).not.toBeNull();
      // The new thread serves again and the rebuild has read the WAL log (without 'held')
      // and waits for the position: only now does the WAL follower deliver 'held'.
      await expect.poll(() => host.serving, { timeout: 10_000 }).toBe(1);
      await new Promise((r) => setTimeout(r, 300));
      expect(view.unavailableReason).not.toBeNull();
      release();
      hold = null;
      await expect.poll(() => view.unavailableReason, { timeout: 30_000 }).toBeNull();
      const ids = (await view.search([0, 1, 0, 0], { k: 2 })).map((h) => h.id);
      expect(ids).toEqual(['held', 'first']);
    } finally {
      await stopAll([p2], [own]);
    }
  });
});
