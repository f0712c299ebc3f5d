import type { SeqWalEntry } from '../wal-codec.ts';
import type { ServedViews } from './views.ts';

/**
 * WAL entries into the served views, each once: the primary applies its own writes
 * before acknowledging them, and when the WAL delivers the same seqs again they are not
 * posted to the view thread a second time (a structured clone each).
 */
export class ViewWrites {
  /** Seqs the primary's write path applied already. */
  private readonly own = new Set<number>();

  constructor(private readonly views: ServedViews) {}

  /** Applies entries (in seq order) to the views they belong to; unknown generations are skipped. */
  apply(entries: readonly SeqWalEntry[]): void {
    for (const e of entries) {
      if (this.own.size > 0 && this.own.delete(e.seq)) continue;
      if (e.op === 'activate') {
        // A commit group's member flips with the whole group (Replica.applyWal), not alone.
        if (!e.group) this.views.activate(e.collection, e.generation);
        continue;
      }
      const served = this.views.get(e.collection, e.generation);
      if (!served) continue;
      if (e.op === 'upsert') served.view.upsert(e.points, e.seq);
      else served.view.delete(e.ids, e.seq);
    }
  }

  /** Applies a write the primary just appended; the WAL's copy of it will be skipped. */
  applyOwn(entry: SeqWalEntry): void {
    this.apply([entry]);
    // Bounded: were the WAL never to bring some back, a second apply changes nothing.
    if (this.own.size >= 100_000) this.own.clear();
    this.own.add(entry.seq);
  }

  /** The position passed `seq`: an own write the WAL delivered before it was applied stays behind. */
  passed(seq: number): void {
    for (const s of this.own) if (s <= seq) this.own.delete(s);
  }

  /**
   * Forgets every own write: a view rebuilt after its thread was lost must get them again
   * from the WAL (review of issue 12); a second apply of a write changes nothing.
   */
  forgetOwn(): void {
    this.own.clear();
  }
}
