import { FlatIndex } from './flat-index.ts';
import type { Metric, Point, SearchHit, SearchOptions, SeqPoint } from './types.ts';

/** The newest write of one id that is not sealed into a segment yet. */
export interface MemtableEntry {
  seq: number;
  /** null for a delete. */
  point: Point | null;
}

/**
 * Recent writes that no segment holds yet, searched exactly. Followers fill it from
 * the WAL so that a write is visible within transfer time, not seal time; a manifest
 * that covers seq S trims every entry at or below S.
 *
 * Every write carries its WAL seq and an older seq never replaces a newer one, so a
 * redelivered or replayed WAL entry changes nothing.
 */
export class Memtable {
  private readonly flat: FlatIndex;
  private readonly entries = new Map<string, MemtableEntry>();

  constructor(dim: number, metric: Metric) {
    this.flat = new FlatIndex(dim, metric);
  }

  /** Ids with an entry (upsert or delete). */
  get size(): number {
    return this.entries.size;
  }

  get liveCount(): number {
    return this.flat.size;
  }

  get(id: string): MemtableEntry | null {
    return this.entries.get(id) ?? null;
  }

  /** Records an upsert; returns false when a newer write of the id is already here. */
  upsert(point: Point, seq: number): boolean {
    const cur = this.entries.get(point.id);
    if (cur && cur.seq >= seq) return false;
    this.entries.set(point.id, { seq, point });
    this.flat.upsert(point.id, point.vector, point.metadata);
    return true;
  }

  /** Records a delete; returns false when a newer write of the id is already here. */
  delete(id: string, seq: number): boolean {
    const cur = this.entries.get(id);
    if (cur && cur.seq >= seq) return false;
    this.entries.set(id, { seq, point: null });
    this.flat.remove(id);
    return true;
  }

  /** Drops every entry whose write is at or below `coversSeq` (a segment holds it now); returns their ids. */
  trim(coversSeq: number): string[] {
    const dropped: string[] = [];
    for (const [id, e] of this.entries) {
      if (e.seq <= coversSeq) {
        this.entries.delete(id);
        if (e.point) this.flat.remove(id);
        dropped.push(id);
      }
    }
    return dropped;
  }

  /** The writes at or below `upTo`, as a segment builder takes them. */
  snapshot(upTo: number): { upserts: SeqPoint[]; deletes: Array<{ id: string; seq: number }> } {
    const upserts: SeqPoint[] = [];
    const deletes: Array<{ id: string; seq: number }> = [];
    for (const [id, e] of this.entries) {
      if (e.seq > upTo) continue;
      if (e.point) upserts.push({ ...e.point, seq: e.seq });
      else deletes.push({ id, seq: e.seq });
    }
    return { upserts, deletes };
  }

  entriesView(): IterableIterator<[string, MemtableEntry]> {
    return this.entries.entries();
  }

  search(query: ArrayLike<number>, options: SearchOptions): SearchHit[] {
    return this.flat.search(query, options);
  }
}
