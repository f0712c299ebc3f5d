import { describe, expect, it } from 'vitest';
import type { Primary } from '../../sync/index.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';
import { useReplicationCluster } from '../harness/replication-fixture.ts';

const DIM = 8;
const vec = (i: number) => Array.from({ length: DIM }, (_, j) => Math.cos(i * 7 + j * 3));

const fx = useReplicationCluster({
  primary: { seal: { mergeFactor: 4, compactAbove: 16 } },
  follower: true,
});

/** Every replica answers exactly the live points, each id found by its own vector. */
async function expectServes(collection: string, live: Map<string, number>): Promise<void> {
  const m = fx.primary.catalog.appliedManifest(collection, 'm@1')!;
  await waitFor(() => fx.follower.node.served(collection)?.version === m.version, {
    timeoutMs: 20_000,
  });
  for (const r of [fx.primary.node.replica, fx.follower.node]) {
    const view = r.served(collection)!.view;
    expect((await view.stats()).points).toBe(live.size);
    for (const [id, v] of [...live].slice(0, 40)) {
      expect((await view.search(vec(v), { k: 1 }))[0]!.id).toBe(id);
    }
    const all = new Set((await view.search(vec(0), { k: 1_000 })).map((h) => h.id));
    expect(all).toEqual(new Set(live.keys()));
  }
}

/** Upserts `n` points from `base`, deletes two of them, seals. */
async function sealRound(
  collection: string,
  live: Map<string, number>,
  base: number,
  n: number,
): Promise<void> {
  const p = fx.primary.node;
  const pts = Array.from({ length: n }, (_, i) => ({ id: `k${base + i}`, vector: vec(base + i) }));
  await p.upsert(collection, pts);
  pts.forEach((pt, i) => live.set(pt.id, base + i));
  const gone = [`k${base + 1}`, `k${base + 2}`];
  await p.delete(collection, gone);
  gone.forEach((id) => live.delete(id));
  await p.seal(collection);
}

/**
 * Holds every merge after it is built and uploaded, before it takes the seal lock:
 * `reachedHold` resolves when one gets there, `release` lets it (and later ones) go.
 */
function holdMerges(p: Primary): { reachedHold: Promise<void>; release: () => void } {
  let open!: () => void;
  const held = new Promise<void>((r) => (open = r));
  let reached!: () => void;
  const reachedHold = new Promise<void>((r) => (reached = r));
  p.sealer.onMergeBuilt = async () => {
    reached();
    await held;
  };
  const release = (): void => {
    p.sealer.onMergeBuilt = null;
    open();
  };
  return { reachedHold, release };
}

describe('compaction', () => {
  it('a full compaction merges segments and tombstones into one that serves the same', async () => {
    const p = fx.primary.node;
    await p.createCollection({ name: 'cmp', dim: DIM, metric: 'l2', model: 'm@1' });
    const live = new Map<string, number>();
    // Sizes of different tiers: no tiered merge is due.
    for (const [round, n] of [100, 20, 3].entries()) await sealRound('cmp', live, round * 1000, n);
    const before = p.catalog.appliedManifest('cmp', 'm@1')!;
    expect(before.segments).toHaveLength(3);
    expect(before.tombstones.length).toBeGreaterThan(0);

    const m = (await p.compact('cmp'))!;
    expect(m.segments).toHaveLength(1);
    expect(m.tombstones).toHaveLength(0);
    expect(m.segments[0]!.count).toBe(live.size);
    await expectServes('cmp', live);
  });

  it('a full compaction runs once: seals that land meanwhile stay beside its segment', async () => {
    const p = fx.primary.node;
    await p.createCollection({ name: 'once', dim: DIM, metric: 'l2', model: 'm@1' });
    const live = new Map<string, number>();
    for (const [round, n] of [100, 20, 3].entries()) await sealRound('once', live, round * 1000, n);
    const { reachedHold, release } = holdMerges(p);
    let compacted: Promise<unknown> = Promise.resolve();
    try {
      compacted = p.compact('once');
      await reachedHold;
      await sealRound('once', live, 5000, 5);
      await sealRound('once', live, 6000, 6);
    } finally {
      release();
    }
    await compacted;
    // Under a steady stream a compaction that planned again after each publish would
    // never end; it publishes once and keeps the two seals.
    const m = p.catalog.appliedManifest('once', 'm@1')!;
    expect(m.segments.map((x) => x.count)).toEqual([98 + 18 + 1, 3, 4]);
    await expectServes('once', live);
  });

  it('merges a tier of small segments and leaves the large segment alone', async () => {
    const p = fx.primary.node;
    await p.createCollection({ name: 'tier', dim: DIM, metric: 'l2', model: 'm@1' });
    const live = new Map<string, number>();
    await sealRound('tier', live, 0, 400);
    const large = p.catalog.appliedManifest('tier', 'm@1')!.segments[0]!;
    for (let round = 1; round <= 4; round++) await sealRound('tier', live, round * 1000, 20);
    // The fourth 18–20-point segment fills the tier: the four are merged into one.
    await waitFor(() => p.catalog.appliedManifest('tier', 'm@1')!.segments.length === 2, {
      timeoutMs: 20_000,
    });
    const m = p.catalog.appliedManifest('tier', 'm@1')!;
    expect(m.segments[0]).toEqual(large);
    expect(m.segments[1]!.count).toBe(4 * 18);
    // The small segments' tombstones are newer than the large segment's writes, so they
    // stay; the first round's shadow copies in the large segment.
    expect(m.tombstones.length).toBeGreaterThan(0);
    expect(p.sealer.stats.mergedPoints).toBeGreaterThanOrEqual(4 * 18);
    await expectServes('tier', live);
  });

  it('seals go on while a merge is under way', async () => {
    const p = fx.primary.node;
    await p.createCollection({ name: 'busy', dim: DIM, metric: 'l2', model: 'm@1' });
    const live = new Map<string, number>();
    for (let round = 0; round < 3; round++) await sealRound('busy', live, round * 1000, 30);
    const { reachedHold, release } = holdMerges(p);
    try {
      // The fourth segment of the tier starts a merge, which waits at the hold.
      await sealRound('busy', live, 3000, 30);
      await reachedHold;
      const during = p.catalog.appliedManifest('busy', 'm@1')!.version;
      // Two more seals publish while the merge waits.
      await sealRound('busy', live, 4000, 5);
      await sealRound('busy', live, 5000, 5);
      const sealed = p.catalog.appliedManifest('busy', 'm@1')!;
      expect(sealed.version).toBe(during + 2);
      expect(sealed.segments).toHaveLength(6);
      release();
      await waitFor(() => p.catalog.appliedManifest('busy', 'm@1')!.segments.length === 3, {
        timeoutMs: 20_000,
      });
    } finally {
      release();
    }
    // The merge replaced its four segments and kept the two sealed meanwhile.
    const m = p.catalog.appliedManifest('busy', 'm@1')!;
    expect(m.segments.map((s) => s.count)).toEqual([4 * 28, 3, 3]);
    await expectServes('busy', live);
  });
});
