import { compareHits } from './metric.ts';
import { Memtable } from './memtable.ts';
import { assertSearchOptions } from './search-options.ts';
import { toVector } from './validate.ts';
import type { Segment } from './segment.ts';
import type { Metric, Point, SearchHit, SearchOptions } from './types.ts';

/** A point as a replica holds it: in a sealed segment, or in the memtable. */
export type StoredPoint = Point & { sealed: boolean };

/** A delete of an id whose copy is sealed in a segment. */
export interface IndexTombstone {
  id: string;
  seq: number;
}

/** What a manifest says a replica serves: sealed segments, tombstones, and the seq they cover. */
export interface SealedState {
  segments: readonly Segment[];
  tombstones: readonly IndexTombstone[];
  coversSeq: number;
}

/**
 * One collection generation as a replica serves it: the sealed segments of its applied
 * manifest, that manifest's tombstones, and the memtable of newer WAL writes.
 *
 * Rule: for each id the write with the highest WAL seq wins, wherever it is. Every
 * other copy is marked dead in its segment, so the graph search skips it natively.
 * `install` swaps in a new manifest's state in one synchronous step; hnswlib searches
 * are synchronous too, so no query ever sees half of a swap.
 *
 * A process holds each view once, in a {@link ViewStore} on its view thread (or its event
 * loop); the event loop reaches it through a {@link ViewHandle} (decision 0013).
 */
export class IndexView {
  readonly dim: number;
  readonly metric: Metric;
  readonly memtable: Memtable;
  private sealed: SealedState = { segments: [], tombstones: [], coversSeq: 0 };
  private lastSeq = 0;

  constructor(opts: { dim: number; metric: Metric }) {
    this.dim = opts.dim;
    this.metric = opts.metric;
    this.memtable = new Memtable(opts.dim, opts.metric);
  }

  get segments(): readonly Segment[] {
    return this.sealed.segments;
  }
  get tombstones(): readonly IndexTombstone[] {
    return this.sealed.tombstones;
  }
  /** Every WAL write at or below this seq is inside the sealed segments or tombstones. */
  get coversSeq(): number {
    return this.sealed.coversSeq;
  }
  /** The highest WAL seq this view reflects, sealed or in the memtable. */
  get appliedSeq(): number {
    return Math.max(this.lastSeq, this.sealed.coversSeq);
  }

  /**
   * Applies a WAL upsert. Safe under redelivery: a write at or below `coversSeq`, or
   * older than the id's newest write, changes nothing. Returns whether it changed anything.
   */
  upsert(points: readonly Point[], seq: number): boolean {
    this.lastSeq = Math.max(this.lastSeq, seq);
    if (seq <= this.sealed.coversSeq) return false;
    let changed = false;
    for (const p of points) {
      if (this.memtable.upsert(p, seq)) {
        changed = true;
        this.shadow(p.id, seq);
      }
    }
    return changed;
  }

  /** Applies a WAL delete; same redelivery rules as {@link upsert}. */
  delete(ids: readonly string[], seq: number): boolean {
    this.lastSeq = Math.max(this.lastSeq, seq);
    if (seq <= this.sealed.coversSeq) return false;
    let changed = false;
    for (const id of ids) {
      if (this.memtable.delete(id, seq)) {
        changed = true;
        this.shadow(id, seq);
      }
    }
    return changed;
  }

  /**
   * Swaps in a new sealed state (a manifest just applied, or the one loaded at start),
   * trims memtable entries it covers, and recomputes which segment copies are dead.
   * Idempotent. Synchronous: queries see the old state or the new, never a mix.
   *
   * The work follows what changed, not the collection (issue 12): when the new state
   * keeps segments of the current one, only the ids of the segments added or removed,
   * of the tombstones added or dropped and of the trimmed memtable entries are decided
   * again; a copy no such id touches keeps its mark. A first install, a state that goes
   * back (a lower `coversSeq`) or one that replaces most of the data is decided in full.
   */
  install(next: SealedState): void {
    const prev = this.sealed;
    const trimmed = this.memtable.trim(next.coversSeq);
    const kept = new Set(next.segments.filter((s) => prev.segments.includes(s)));
    const added = next.segments.filter((s) => !kept.has(s));
    const removed = prev.segments.filter((s) => !next.segments.includes(s));
    const changedPoints = [...added, ...removed].reduce((n, s) => n + s.count, 0);
    const keptPoints = [...kept].reduce((n, s) => n + s.count, 0);
    const full = kept.size === 0 || next.coversSeq < prev.coversSeq || changedPoints > keptPoints;
    const tombstones = new Map<string, number>();
    for (const t of next.tombstones)
      tombstones.set(t.id, Math.max(tombstones.get(t.id) ?? -1, t.seq));
    if (full) {
      this.decideAll(next, tombstones);
    } else {
      const ids = new Set<string>(trimmed);
      for (const s of [...added, ...removed]) for (const id of s.ids) ids.add(id);
      const before = new Map(prev.tombstones.map((t) => [t.id, t.seq]));
      for (const [id, seq] of tombstones) if (before.get(id) !== seq) ids.add(id);
      for (const [id, seq] of before) if (tombstones.get(id) !== seq) ids.add(id);
      for (const id of ids) this.decide(id, next.segments, tombstones);
    }
    this.sealed = {
      segments: [...next.segments],
      tombstones: [...next.tombstones],
      coversSeq: next.coversSeq,
    };
  }

  /** Every copy of every id decided again (a first install, a rollback). */
  private decideAll(next: SealedState, tombstones: ReadonlyMap<string, number>): void {
    const winner = new Map<string, number>(tombstones);
    const bump = (id: string, seq: number) => {
      const cur = winner.get(id);
      if (cur === undefined || seq > cur) winner.set(id, seq);
    };
    for (const s of next.segments) s.ids.forEach((id, label) => bump(id, s.seqs[label]!));
    for (const [id, e] of this.memtable.entriesView()) bump(id, e.seq);
    // Newest segment first: if two copies carry the same seq (never in normal operation),
    // the one in the later segment is served.
    const claimed = new Set<string>();
    for (let i = next.segments.length - 1; i >= 0; i--) {
      const s = next.segments[i]!;
      s.ids.forEach((id, label) => {
        const live = winner.get(id) === s.seqs[label] && !claimed.has(id);
        if (live) claimed.add(id);
        s.setDead(label, !live);
      });
    }
  }

  /** Marks the copies of one id: only the newest write of it, wherever it is, stays live. */
  private decide(
    id: string,
    segments: readonly Segment[],
    tombstones: ReadonlyMap<string, number>,
  ): void {
    let best = tombstones.get(id) ?? -1;
    const m = this.memtable.get(id);
    if (m && m.seq > best) best = m.seq;
    const labels: Array<number | null> = segments.map((s) => s.labelOf(id));
    segments.forEach((s, i) => {
      const label = labels[i];
      if (label !== null && label !== undefined && s.seqs[label]! > best) best = s.seqs[label]!;
    });
    let claimed = false;
    for (let i = segments.length - 1; i >= 0; i--) {
      const label = labels[i];
      if (label === null || label === undefined) continue;
      const s = segments[i]!;
      const live = !claimed && s.seqs[label] === best;
      if (live) claimed = true;
      s.setDead(label, !live);
    }
  }

  /** Top-k over every segment and the memtable, best first, each id at most once. */
  search(query: ArrayLike<number>, options: SearchOptions): SearchHit[] {
    assertSearchOptions(options);
    const q = Array.from(toVector(query, this.dim, 'query'));
    const all: SearchHit[] = [];
    for (const s of this.sealed.segments) all.push(...s.searchPrepared(q, options));
    if (this.memtable.liveCount > 0) all.push(...this.memtable.search(q, options));
    all.sort(compareHits);
    const seen = new Set<string>();
    const out: SearchHit[] = [];
    for (const h of all) {
      if (seen.has(h.id)) continue;
      seen.add(h.id);
      out.push(h);
      if (out.length === options.k) break;
    }
    return out;
  }

  /**
   * The live copy of each id, or null where it is absent or deleted: the memtable's entry
   * when it has one (the newest write), else the one segment copy not shadowed. `sealed`
   * says which: served from an HNSW segment, or from the memtable (searched exactly).
   */
  get(ids: readonly string[]): Array<StoredPoint | null> {
    return ids.map((id) => {
      const e = this.memtable.get(id);
      if (e) return e.point ? { ...e.point, sealed: false } : null;
      for (let i = this.sealed.segments.length - 1; i >= 0; i--) {
        const s = this.sealed.segments[i]!;
        const label = s.labelOf(id);
        if (label === null || s.isDead(label)) continue;
        return { id, vector: s.vectorOf(label), metadata: s.metadata[label] ?? null, sealed: true };
      }
      return null;
    });
  }

  /**
   * The WAL seq of each id's live copy (null where absent or deleted): what a backfill
   * write's `sourceSeq` is checked against (issue 14).
   */
  seqsOf(ids: readonly string[]): Array<number | null> {
    return ids.map((id) => {
      const e = this.memtable.get(id);
      if (e) return e.point ? e.seq : null;
      for (let i = this.sealed.segments.length - 1; i >= 0; i--) {
        const s = this.sealed.segments[i]!;
        const label = s.labelOf(id);
        if (label === null || s.isDead(label)) continue;
        return s.seqs[label]!;
      }
      return null;
    });
  }

  /** Every live id, each once (memtable and the one live copy in the segments). */
  liveIds(): string[] {
    const out: string[] = [];
    for (const [id, e] of this.memtable.entriesView()) if (e.point) out.push(id);
    for (const s of this.sealed.segments) {
      s.ids.forEach((id, label) => {
        if (!s.isDead(label) && !this.memtable.get(id)) out.push(id);
      });
    }
    return out;
  }

  /** Live points across segments and memtable. */
  get size(): number {
    let n = this.memtable.liveCount;
    for (const s of this.sealed.segments) n += s.size;
    return n;
  }

  private shadow(id: string, seq: number): void {
    for (const s of this.sealed.segments) {
      const label = s.labelOf(id);
      if (label !== null && s.seqs[label]! < seq) s.setDead(label, true);
    }
  }
}
