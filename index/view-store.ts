import { mkdirSync, rmSync } from 'node:fs';
import { IndexError, isIndexError } from './errors.ts';
import { IndexView } from './index-view.ts';
import { loadSegment } from './segment-store.ts';
import type { Segment } from './segment.ts';
import type {
  SegmentExpect,
  SegmentRef,
  ViewAnswers,
  ViewCall,
  ViewPost,
  ViewStats,
} from './view-protocol.ts';
import { compareIds, decodeIds, encodeIds } from './view-protocol.ts';

interface CachedSegment {
  segment: Promise<Segment>;
  /** Installs (served or prepared) that hold it; at 0 its graph is freed. */
  holders: number;
}

/**
 * The one copy of a process's served views: graphs, memtables and tombstones. It lives on
 * a view thread (or on the event loop with `searchThreads: 0`) and carries out the
 * {@link ViewPost} and {@link ViewCall} operations in the order they come.
 *
 * A new install is prepared beside the view — its segments loaded and verified (sha256,
 * header, Arrow data: once per node) while the view keeps answering — and swapped in by
 * `commit` in one synchronous step, after the caller's catalog transaction. Each segment
 * is loaded once: installs share it by digest, and its native memory is freed as soon as
 * no install holds it.
 */
export class ViewStore {
  private readonly views = new Map<number, IndexView>();
  private readonly segments = new Map<string, CachedSegment>();
  private readonly prepared = new Map<number, { view: number; segments: Segment[] }>();
  private loads = 0;

  /** @param scratchDir where loads extract graphs (hnswlib reads paths only). */
  constructor(private readonly scratchDir?: string) {}

  post(msg: ViewPost): void {
    switch (msg.op) {
      case 'open':
        if (!this.views.has(msg.view)) {
          this.views.set(msg.view, new IndexView({ dim: msg.dim, metric: msg.metric }));
        }
        return;
      case 'drop': {
        const v = this.views.get(msg.view);
        this.views.delete(msg.view);
        for (const s of v?.segments ?? []) this.release(s.digest);
        return;
      }
      case 'upsert':
        this.view(msg.view).upsert(msg.points, msg.seq);
        return;
      case 'delete':
        this.view(msg.view).delete(msg.ids, msg.seq);
        return;
      case 'commit':
        this.commit(msg);
        return;
      case 'abort': {
        const p = this.prepared.get(msg.install);
        this.prepared.delete(msg.install);
        for (const s of p?.segments ?? []) this.release(s.digest);
        return;
      }
    }
  }

  /** Answers a call; only `prepare` waits (for its loads), the rest answer at once. */
  call<C extends ViewCall>(msg: C): ViewAnswers[C['op']] | Promise<ViewAnswers[C['op']]> {
    type A = ViewAnswers[C['op']];
    switch (msg.op) {
      case 'prepare':
        return this.prepare(msg.view, msg.install, msg.segments, msg.expect) as Promise<A>;
      case 'search':
        return this.view(msg.view).search(msg.query, msg.options) as A;
      case 'get':
        return this.view(msg.view).get(msg.ids) as A;
      case 'seqs':
        return this.view(msg.view).seqsOf(msg.ids) as A;
      case 'ids':
        return encodeIds(this.view(msg.view).liveIds()) as A;
      case 'coverage':
        return compareIds(this.view(msg.view).liveIds(), decodeIds(msg.reference)) as A;
      case 'snapshot':
        return this.view(msg.view).memtable.snapshot(msg.upTo) as A;
      case 'stats':
        return this.stats(msg.view) as A;
      case 'loads':
        return this.loads as A;
    }
    throw new Error(`view store: unknown call ${(msg as { op: string }).op}`);
  }

  /** Views held, for tests. */
  get size(): number {
    return this.views.size;
  }

  /** Segments loaded or loading (shared by digest), for tests. */
  get loadedSegments(): number {
    return this.segments.size;
  }

  private view(id: number): IndexView {
    const v = this.views.get(id);
    if (!v) throw new Error(`view store: no view ${id}`);
    return v;
  }

  private stats(id: number): ViewStats {
    const v = this.view(id);
    let sealedPoints = 0;
    for (const s of v.segments) sealedPoints += s.size;
    return {
      points: v.size,
      sealedPoints,
      memtablePoints: v.memtable.liveCount,
      memtableEntries: v.memtable.size,
      segments: v.segments.length,
      coversSeq: v.coversSeq,
    };
  }

  private async prepare(
    view: number,
    install: number,
    refs: SegmentRef[],
    expect: SegmentExpect,
  ): Promise<{ loaded: number }> {
    this.view(view);
    const before = this.segments.size;
    const held: string[] = [];
    try {
      const loads = refs.map((ref) => {
        held.push(ref.digest);
        return this.acquire(ref, expect);
      });
      const segments = await Promise.all(loads);
      if (!this.views.has(view)) throw new Error(`view store: view ${view} was dropped`);
      this.prepared.set(install, { view, segments });
      return { loaded: Math.max(0, this.segments.size - before) };
    } catch (err) {
      for (const d of held) this.release(d);
      throw err;
    }
  }

  private commit(msg: Extract<ViewPost, { op: 'commit' }>): void {
    const p = this.prepared.get(msg.install);
    if (!p || p.view !== msg.view) {
      throw new Error(`view store: install ${msg.install} of view ${msg.view} was not prepared`);
    }
    this.prepared.delete(msg.install);
    const v = this.view(msg.view);
    const old = v.segments.map((s) => s.digest);
    v.install({ segments: p.segments, tombstones: msg.tombstones, coversSeq: msg.coversSeq });
    for (const d of old) this.release(d);
  }

  private acquire(ref: SegmentRef, expect: SegmentExpect): Promise<Segment> {
    let c = this.segments.get(ref.digest);
    if (!c) {
      this.loads++;
      const segment = loadSegment(ref.path, {
        expectedDigest: ref.digest,
        expect,
        ...(ref.verified ? { trustDigest: true } : {}),
        ...(this.scratchDir ? { scratchDir: this.scratchDir } : {}),
      }).then(
        (r) => r.segment,
        (err: unknown) => {
          // A failed load is forgotten, so that the next prepare (after a refetch) loads again.
          if (this.segments.get(ref.digest) === entry) this.segments.delete(ref.digest);
          throw withDigest(err, ref.digest);
        },
      );
      const entry: CachedSegment = { segment, holders: 0 };
      c = entry;
      this.segments.set(ref.digest, c);
    }
    c.holders++;
    return c.segment;
  }

  private release(digest: string): void {
    const c = this.segments.get(digest);
    if (!c) return;
    if (--c.holders > 0) return;
    this.segments.delete(digest);
    c.segment.then(
      (s) => s.release(),
      () => undefined,
    );
  }
}

/** Typed errors say which segment failed, so the caller can delete and refetch that file. */
function withDigest(err: unknown, digest: string): unknown {
  if (!isIndexError(err)) return err;
  return new IndexError(err.code, err.message, {
    cause: err,
    transient: err.transient,
    details: { ...err.details, digest },
  });
}

/**
 * Empties a host's scratch directory (graphs extracted for loading), so that a load cut
 * short by a crash leaves nothing behind. `keep` false removes the directory itself.
 *
 * An index worker may still be writing a graph here for a load whose thread has ended
 * (its unpack outlives the thread): the removal then meets a file created after it listed
 * the directory (ENOTEMPTY), and is retried. On close (`keep` false) a removal that still
 * fails is left to the next start, which empties the directory first: closing never throws.
 */
export function resetScratchDir(dir: string | undefined, keep = true): void {
  if (!dir) return;
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
  } catch (err) {
    if (keep) throw err;
    return;
  }
  if (keep) mkdirSync(dir, { recursive: true });
}
