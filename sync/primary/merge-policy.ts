/**
 * Which segments of a manifest to merge next: size-tiered, so the work of merging follows
 * what was written, not the size of the collection (issue 12, decision 0015).
 *
 * A segment's tier is ⌊log_F(points)⌋ for the merge factor F. When a tier holds F segments
 * they are merged into one, which lands about one tier up. A point is therefore rewritten
 * at most once per tier it climbs: log_F(collection / seal size) times in its life, and a
 * large segment is never rebuilt because small ones arrived next to it.
 */
import type { Manifest, ManifestSegment, Tombstone } from '../../catalog/index.ts';

export interface MergePolicy {
  /** Segments of one tier that trigger their merge (≥ 2). */
  mergeFactor: number;
  /** More segments than this: the smallest are merged, whatever their tiers. */
  maxSegments: number;
  /**
   * Tombstones at or above this share of the sealed points: everything is merged and the
   * tombstones purged (each purge rewrites at most 1 / ratio points per tombstone).
   */
  tombstoneRatio: number;
}

export interface MergePlan {
  /** The segments to merge, in manifest order. */
  segments: ManifestSegment[];
  /** Tombstones the merged segment makes unnecessary: drop them from the manifest. */
  purge: Tombstone[];
  reason: 'tier' | 'cap' | 'tombstones' | 'all';
}

/** The tier of a segment of `count` points. */
export function tierOf(count: number, mergeFactor: number): number {
  return Math.floor(Math.log(Math.max(1, count)) / Math.log(mergeFactor));
}

/** The next merge the manifest needs, or null when none is due. */
export function planMerge(manifest: Manifest, policy: MergePolicy): MergePlan | null {
  const segs = manifest.segments;
  const sealed = segs.reduce((n, s) => n + s.count, 0);
  const t = manifest.tombstones.length;
  if (t > 0 && t >= policy.tombstoneRatio * Math.max(1, sealed)) {
    return planAll(manifest, 'tombstones');
  }
  const byTier = new Map<number, ManifestSegment[]>();
  for (const s of segs) {
    const tier = tierOf(s.count, policy.mergeFactor);
    byTier.set(tier, [...(byTier.get(tier) ?? []), s]);
  }
  // The lowest full tier first: the cheapest merge, and the one that feeds the next tier.
  for (const tier of [...byTier.keys()].sort((a, b) => a - b)) {
    const members = byTier.get(tier)!;
    if (members.length >= policy.mergeFactor) return withPurge(manifest, members, 'tier');
  }
  if (segs.length > policy.maxSegments) {
    const smallest = [...segs]
      .sort((a, b) => a.count - b.count)
      .slice(0, Math.max(2, segs.length - policy.maxSegments + 1));
    return withPurge(manifest, smallest, 'cap');
  }
  return null;
}

/** Every segment into one, every tombstone purged (the admin's full compaction). */
export function planAll(manifest: Manifest, reason: MergePlan['reason'] = 'all'): MergePlan | null {
  if (manifest.segments.length <= 1 && manifest.tombstones.length === 0) return null;
  return { segments: [...manifest.segments], purge: [...manifest.tombstones], reason };
}

/**
 * A tombstone is purged when the merge takes in every segment that could hold an older
 * copy of its id (every segment whose `minSeq` is below the tombstone's seq): the merge
 * drops that copy, and every other segment only holds newer writes.
 */
function withPurge(
  manifest: Manifest,
  members: readonly ManifestSegment[],
  reason: MergePlan['reason'],
): MergePlan {
  const inPlan = new Set(members.map((s) => s.digest));
  const outside = manifest.segments.filter((s) => !inPlan.has(s.digest));
  const oldestOutside = outside.reduce((m, s) => Math.min(m, s.minSeq), Number.POSITIVE_INFINITY);
  const purge = manifest.tombstones.filter((t) => t.seq < oldestOutside);
  const ordered = manifest.segments.filter((s) => inPlan.has(s.digest));
  return { segments: ordered, purge, reason };
}
