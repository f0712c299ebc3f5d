import type { PrimaryBeacon } from './types.ts';

/**
 * Judges replica staleness from what has been heard from the primary: its beacons
 * (commit position, time, and commit buckets). Staleness of a replica at `appliedSeq`
 * is the age of the oldest committed write it has not applied (0 when caught up).
 *
 * Never optimistic: the oldest missing write (appliedSeq + 1) lies in some commit
 * bucket; its commit time is at least that bucket's first commit time, so `now − that`
 * bounds the staleness from above (by at most one bucket). When the primary has been
 * silent for `t` ms, every replica is at least `t` ms stale. Unknown history (older
 * than the window kept) counts as infinitely stale.
 */
export class StalenessEstimator {
  /** Commit buckets by first seq, ascending. */
  private buckets: Array<{ first: number; time: number; last: number }> = [];
  private beacon: PrimaryBeacon | null = null;
  private heardAt = 0;

  constructor(private readonly windowMs = 120_000) {}

  /** Takes a beacon (in arrival order). `receivedAt` is this process's clock. */
  observe(beacon: PrimaryBeacon, receivedAt = Date.now()): void {
    if (this.beacon && beacon.time < this.beacon.time) return;
    this.beacon = beacon;
    this.heardAt = receivedAt;
    for (const [first, time, last] of beacon.commits) {
      const cur = this.buckets.find((b) => b.first === first);
      if (cur) cur.last = Math.max(cur.last, last);
      else this.buckets.push({ first, time, last });
    }
    this.buckets.sort((a, b) => a.first - b.first);
    const horizon = beacon.time - this.windowMs;
    while (this.buckets.length > 1 && this.buckets[0]!.time < horizon) this.buckets.shift();
  }

  /** The primary's last committed seq as last heard (0 before any beacon). */
  get lastSeq(): number {
    return this.beacon?.lastSeq ?? 0;
  }

  get lastBeacon(): PrimaryBeacon | null {
    return this.beacon;
  }

  /** ms since the last beacon arrived (Infinity before any). */
  silenceMs(now = Date.now()): number {
    return this.beacon ? Math.max(0, now - this.heardAt) : Infinity;
  }

  /** Upper bound of the staleness (ms) of a replica that has applied up to `appliedSeq`. */
  stalenessMs(appliedSeq: number, now = Date.now()): number {
    const b = this.beacon;
    if (!b) return Infinity;
    const silence = this.silenceMs(now);
    if (appliedSeq >= b.lastSeq) return silence;
    // The primary's clock now, from its last beacon plus the time since it arrived.
    const primaryNow = b.time + silence;
    const missing = appliedSeq + 1;
    let holder: { first: number; time: number; last: number } | null = null;
    for (const bk of this.buckets) {
      if (bk.first > missing) break;
      holder = bk;
    }
    // A seq before the oldest bucket kept: its time is unknown, so it is too old to tell.
    if (!holder) return Infinity;
    // The missing seq is in `holder` (first <= missing <= last), or it was committed after
    // holder.last and before the next bucket's first commit: either way not before holder.time.
    return Math.max(silence, primaryNow - holder.time);
  }
}
