import type { PrimaryBeacon } from '../types.ts';

/**
 * The global WAL position of a replica in a leaf region, which receives only the WAL
 * entries of the collections placed there (ADR 0011).
 *
 * The position P it reports means what it means everywhere: every WAL entry with seq ≤ P
 * *of a collection this region holds* is applied. Entries of other collections are never
 * seen, so the gaps they leave are closed with the primary's beacons, which carry the last
 * committed seq of every collection: when the replica has applied collection C up to at
 * least `beacon.collections[C]`, it has every entry of C up to `beacon.lastSeq`.
 *
 * Per collection it keeps `effective[C]`, the highest seq up to which C is complete here;
 * the position is the minimum over the collections that could be held here (held ones,
 * and ones the beacon names whose definition has not arrived yet), never going back.
 * Collections placed elsewhere never hold it back.
 *
 * Relies on the primary's beacon being consistent: `lastSeq` is only published once every
 * write at or below it has been recorded in `collections` (the primary records acks in
 * seq order: JetStream answers one connection's publishes to a stream in order).
 */
export class PlacedPosition {
  private readonly applied = new Map<string, number>();
  private readonly effective = new Map<string, number>();
  private readonly excluded = new Set<string>();
  private beacon: Pick<PrimaryBeacon, 'lastSeq' | 'lastCommitTime' | 'collections'> | null = null;
  private position = 0;
  private positionTime = 0;

  constructor(initial = 0) {
    this.position = initial;
  }

  /** Highest seq such that every entry at or below it of every collection held here is applied. */
  get seq(): number {
    return this.position;
  }

  /** The primary's commit time of the last beacon position reached (0 when unknown). */
  get commitTime(): number {
    return this.positionTime;
  }

  /** A collection this region holds; `appliedSeq` is how far its entries are all applied here. */
  hold(collection: string, appliedSeq: number): void {
    this.excluded.delete(collection);
    this.applied.set(collection, Math.max(this.applied.get(collection) ?? 0, appliedSeq));
    const cur = this.effective.get(collection) ?? 0;
    this.effective.set(collection, Math.max(cur, appliedSeq));
    this.completeFromBeacon(collection);
    this.recompute();
  }

  /** A collection placed elsewhere: it never holds this region's position back. */
  exclude(collection: string): void {
    this.excluded.add(collection);
    this.applied.delete(collection);
    this.effective.delete(collection);
    this.recompute();
  }

  /** Entries of `collection` up to `seq` are applied (they arrive in seq order per collection). */
  advance(collection: string, seq: number): void {
    if (this.excluded.has(collection)) return;
    this.applied.set(collection, Math.max(this.applied.get(collection) ?? 0, seq));
    this.effective.set(collection, Math.max(this.effective.get(collection) ?? 0, seq));
    this.completeFromBeacon(collection);
    this.recompute();
  }

  /** Takes the primary's beacon (commit position and each collection's last committed seq). */
  observe(b: Pick<PrimaryBeacon, 'lastSeq' | 'lastCommitTime' | 'collections'>): void {
    if (this.beacon && b.lastSeq < this.beacon.lastSeq) return;
    this.beacon = b;
    for (const name of Object.keys(b.collections ?? {})) {
      // Named by the primary but neither held nor excluded here: its definition has not
      // arrived yet, so it may be placed here. It counts as held with nothing applied. It
      // is new since the last beacon this replica saw (or this replica just started), so
      // none of its entries lie at or below the current position.
      if (!this.excluded.has(name) && !this.applied.has(name)) {
        this.applied.set(name, 0);
        this.effective.set(name, this.position);
      }
    }
    for (const name of this.applied.keys()) this.completeFromBeacon(name);
    this.recompute();
  }

  private completeFromBeacon(collection: string): void {
    const b = this.beacon;
    if (!b) return;
    const last = b.collections?.[collection] ?? 0;
    if ((this.applied.get(collection) ?? 0) >= last) {
      this.effective.set(collection, Math.max(this.effective.get(collection) ?? 0, b.lastSeq));
    }
  }

  private recompute(): void {
    let min = Infinity;
    for (const v of this.effective.values()) min = Math.min(min, v);
    // Holding nothing (yet): complete up to whatever the primary has committed.
    if (min === Infinity) min = this.beacon?.lastSeq ?? this.position;
    if (min > this.position) {
      this.position = min;
      if (this.beacon && min >= this.beacon.lastSeq) this.positionTime = this.beacon.lastCommitTime;
    }
  }
}
