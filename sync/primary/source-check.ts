import type { Point, ViewHandle } from '../../index/index.ts';

/**
 * Backfill writes that carry `sourceSeq` (issue 14): a point is written only while the
 * active generation's copy of its id is still the one at or below `sourceSeq` — the
 * version the pipeline embedded. An id updated, deleted (or never present) since is
 * skipped and counted, so a backfill never resurrects deleted data nor overwrites a newer
 * embedding with one of an older text.
 *
 * The check is exact against the WAL order, without a lock on the write path:
 * - the active view answers "which seq is each id's live copy" (asked off the event loop);
 * - a write to the active generation that began before the check and has not yet reached
 *   the view, or began while the check was running, makes its ids skipped: its WAL seq is
 *   above every committed seq a pipeline can have read, so `sourceSeq` is older than it;
 * - the filter runs synchronously right before the part's WAL append is issued. NATS keeps
 *   one connection's publishes in order, so a write that begins after that moment is
 *   appended after the backfill and wins over it (a delete deletes it again).
 */
export class SourceGuard {
  /** Ids of writes to the active generation in flight, by collection: id → writers. */
  private readonly pending = new Map<string, Map<string, number>>();
  /** Checks in progress, by collection: each collects the ids touched while it runs. */
  private readonly watches = new Map<string, Set<Set<string>>>();

  /** Marks a write to `collection`'s active generation as begun; call the result when it ends. */
  begin(collection: string, ids: readonly string[]): () => void {
    let p = this.pending.get(collection);
    if (!p) this.pending.set(collection, (p = new Map()));
    for (const id of ids) p.set(id, (p.get(id) ?? 0) + 1);
    for (const w of this.watches.get(collection) ?? []) for (const id of ids) w.add(id);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const m = this.pending.get(collection);
      if (!m) return;
      for (const id of ids) {
        const n = (m.get(id) ?? 1) - 1;
        if (n <= 0) m.delete(id);
        else m.set(id, n);
      }
      if (m.size === 0) this.pending.delete(collection);
    };
  }

  /**
   * Starts a check of `points` against `active` (the active generation's view). The
   * returned `filter` must be called synchronously before each WAL append it guards, and
   * `close` once the last part is issued.
   */
  async check(
    collection: string,
    active: ViewHandle,
    points: readonly Point[],
    sourceSeq: number,
  ): Promise<SourceCheck> {
    const touched = new Set<string>();
    let set = this.watches.get(collection);
    if (!set) this.watches.set(collection, (set = new Set()));
    set.add(touched);
    const inFlight = this.pending.get(collection);
    const stale = new Set<string>();
    for (const p of points) if (inFlight?.has(p.id)) stale.add(p.id);
    try {
      const copies = await active.getSeqs(points.map((p) => p.id));
      points.forEach((p, i) => {
        const seq = copies[i];
        if (seq === null || seq === undefined || seq > sourceSeq) stale.add(p.id);
      });
    } catch (err) {
      this.unwatch(collection, touched);
      throw err;
    }
    const skipped = new Set<string>();
    return {
      filter: (part) => {
        const kept: Point[] = [];
        for (const p of part) {
          if (stale.has(p.id) || touched.has(p.id)) skipped.add(p.id);
          else kept.push(p);
        }
        return kept;
      },
      skipped: () => [...skipped],
      close: () => this.unwatch(collection, touched),
    };
  }

  private unwatch(collection: string, touched: Set<string>): void {
    const set = this.watches.get(collection);
    set?.delete(touched);
    if (set?.size === 0) this.watches.delete(collection);
  }
}

export interface SourceCheck {
  /** The points of a part still to write; call synchronously before issuing its append. */
  filter(part: readonly Point[]): Point[];
  /** Ids skipped so far. */
  skipped(): string[];
  close(): void;
}
