import { describe, expect, it } from 'vitest';
import type { Manifest, ManifestSegment, Tombstone } from '../../catalog/index.ts';
import { planAll, planMerge, tierOf } from './merge-policy.ts';

const policy = { mergeFactor: 4, maxSegments: 16, tombstoneRatio: 0.2 };
let next = 0;
/** A segment of `count` points whose writes span seqs [minSeq, minSeq + count). */
const seg = (count: number, minSeq = (next += 1_000_000)): ManifestSegment => ({
  digest: `d${minSeq}`.padEnd(64, '0'),
  count,
  minSeq,
  maxSeq: minSeq + count - 1,
  bytes: count * 100,
});
const manifest = (segments: ManifestSegment[], tombstones: Tombstone[] = []): Manifest => ({
  collection: 'c',
  generation: 'm@1',
  version: 1,
  segments,
  tombstones,
  coversSeq: 10_000_000,
  createdAt: new Date(0).toISOString(),
  group: null,
});

describe('planMerge (size-tiered)', () => {
  it('puts segments within a factor F of each other in one tier', () => {
    expect(tierOf(1, 4)).toBe(0);
    expect(tierOf(3, 4)).toBe(0);
    expect(tierOf(4, 4)).toBe(1);
    expect(tierOf(2_500, 4)).toBe(5);
    expect(tierOf(10_000, 4)).toBe(6);
    expect(tierOf(0, 4)).toBe(0);
  });

  it('merges nothing until a tier holds F segments', () => {
    const big = seg(100_000);
    expect(planMerge(manifest([big, seg(2_500), seg(2_600), seg(2_400)]), policy)).toBeNull();
    const small = [seg(2_500), seg(2_600), seg(2_400), seg(2_700)];
    const plan = planMerge(manifest([big, ...small]), policy)!;
    expect(plan.reason).toBe('tier');
    // The big segment is left alone: the merge costs what the small ones hold.
    expect(plan.segments.map((s) => s.digest)).toEqual(small.map((s) => s.digest));
  });

  it('takes the lowest full tier first', () => {
    const mid = [seg(20_000), seg(21_000), seg(22_000), seg(23_000)];
    const low = [seg(300), seg(310), seg(320), seg(330)];
    const plan = planMerge(manifest([...mid, ...low]), policy)!;
    expect(plan.segments).toEqual(low);
  });

  it('rewrites each point about log_F(N / seal) times over a stream of seals', () => {
    // Simulate 400 seals of 2,500 points onto a 100k segment, merging as planned.
    let segs: ManifestSegment[] = [seg(100_000)];
    let rewritten = 0;
    const written = 400 * 2_500;
    for (let i = 0; i < 400; i++) {
      segs.push(seg(2_500));
      for (
        let plan = planMerge(manifest(segs), policy);
        plan;
        plan = planMerge(manifest(segs), policy)
      ) {
        const n = plan.segments.reduce((a, s) => a + s.count, 0);
        rewritten += n;
        const gone = new Set(plan.segments);
        segs = [...segs.filter((s) => !gone.has(s)), seg(n)];
      }
      expect(segs.length).toBeLessThanOrEqual(policy.maxSegments);
    }
    // log_4(1.1M / 2.5k) ≈ 4.4 tiers climbed at most.
    expect(rewritten / written).toBeLessThan(5);
    expect(rewritten / written).toBeGreaterThan(1);
  });

  it('merges the smallest segments when there are too many', () => {
    const segs = [1, 10, 100, 1_000, 10_000, 100_000].map((n) => seg(n));
    const plan = planMerge(manifest(segs), { ...policy, maxSegments: 4 })!;
    expect(plan.reason).toBe('cap');
    expect(plan.segments.map((s) => s.count)).toEqual([1, 10, 100]);
  });

  it('merges everything and purges tombstones once they reach their share', () => {
    const segs = [seg(1_000), seg(50)];
    const few = Array.from({ length: 100 }, (_, i) => ({ id: `t${i}`, seq: 20_000_000 + i }));
    expect(planMerge(manifest(segs, few), policy)).toBeNull();
    const many = Array.from({ length: 300 }, (_, i) => ({ id: `t${i}`, seq: 20_000_000 + i }));
    const plan = planMerge(manifest(segs, many), policy)!;
    expect(plan.reason).toBe('tombstones');
    expect(plan.segments).toEqual(segs);
    expect(plan.purge).toHaveLength(300);
  });

  it('purges a tombstone only when every segment that could hold an older copy is merged', () => {
    // A big segment newer than the small ones (a bulk load after them).
    const big = seg(100_000, 500_000);
    const small = [seg(10, 200_001), seg(11, 200_100), seg(12, 200_200), seg(13, 200_300)];
    const later = { id: 'a', seq: 600_000 }; // may shadow a copy in `big`
    const early = { id: 'b', seq: 200_050 }; // only the merged segments hold older writes
    const plan = planMerge(manifest([big, ...small], [later, early]), policy)!;
    expect(plan.segments).toEqual(small);
    expect(plan.purge).toEqual([early]);
  });

  it('planAll is null when there is nothing to merge', () => {
    expect(planAll(manifest([seg(10)]))).toBeNull();
    expect(planAll(manifest([seg(10)], [{ id: 'x', seq: 1 }]))!.purge).toHaveLength(1);
  });
});
