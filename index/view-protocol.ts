import type { MessagePort } from 'node:worker_threads';
import type { UnpackRequest } from './segment-jobs.ts';
import type { SerializedError } from './worker-pool.ts';
import type { IndexTombstone, StoredPoint } from './index-view.ts';
import type { Metric, Point, SearchHit, SearchOptions, SeqPoint } from './types.ts';

/**
 * The operations on a served view, as the event loop asks them of the place where the
 * view lives — a view thread ({@link ThreadViewHost}) or the event loop itself
 * ({@link InlineViewHost}). The same {@link ViewStore} carries them out in both places, in
 * the order they were asked: a search asked after a write is answered after that write.
 */

/** A segment file to load, named by the sha256 it must hash to. */
export interface SegmentRef {
  digest: string;
  path: string;
  /**
   * This process hashed the file against `digest` as it wrote it (a fetch that just
   * completed): loading checks its structure but does not hash it again.
   */
  verified?: boolean;
}

/** What a segment's header must say to be installed in a view. */
export interface SegmentExpect {
  collection: string;
  generation: string;
  dim: number;
}

/** What a view holds, for heartbeats, `/metrics` and `GET /v1/collections/C`. */
export interface ViewStats {
  /** Live points, sealed and unsealed (the answer to "how many points does it serve"). */
  points: number;
  /** Live points served from HNSW segments. */
  sealedPoints: number;
  /** Live points in the memtable (searched exactly, not yet sealed here). */
  memtablePoints: number;
  /** Memtable entries, deletes included: what a seal would take. */
  memtableEntries: number;
  segments: number;
  coversSeq: number;
}

export const emptyViewStats: ViewStats = {
  points: 0,
  sealedPoints: 0,
  memtablePoints: 0,
  memtableEntries: 0,
  segments: 0,
  coversSeq: 0,
};

/**
 * A generation's ids against a reference generation's (issue 14): how many of the
 * reference ids it lacks and how many it has that the reference does not.
 */
export interface IdCoverage {
  /** Ids in the reference (the active generation). */
  reference: number;
  /** Reference ids this view also holds. */
  covered: number;
  /** Reference ids this view lacks. */
  missing: number;
  /** Ids only this view holds. */
  extra: number;
  /** A few of each, for a pipeline to look at. */
  missingSample: string[];
  extraSample: string[];
}

/** Ids as bytes a thread can pass on without the event loop parsing them. */
export function encodeIds(ids: readonly string[]): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(ids));
}

export function decodeIds(bytes: Uint8Array): string[] {
  return JSON.parse(new TextDecoder().decode(bytes)) as string[];
}

/** Compares `ids` with `reference` (each id once in each); keeps up to `sample` of each side. */
export function compareIds(
  ids: readonly string[],
  reference: readonly string[],
  sample = 10,
): IdCoverage {
  const mine = new Set(ids);
  const ref = new Set(reference);
  let covered = 0;
  const missingSample: string[] = [];
  for (const id of ref) {
    if (mine.has(id)) covered++;
    else if (missingSample.length < sample) missingSample.push(id);
  }
  const extraSample: string[] = [];
  let extra = 0;
  for (const id of mine) {
    if (ref.has(id)) continue;
    extra++;
    if (extraSample.length < sample) extraSample.push(id);
  }
  return {
    reference: ref.size,
    covered,
    missing: ref.size - covered,
    extra,
    missingSample,
    extraSample,
  };
}

/** The memtable's writes at or below a seq, as a seal takes them. */
export interface MemtableSnapshot {
  upserts: SeqPoint[];
  deletes: IndexTombstone[];
}

/** Operations that change a view and answer nothing. */
export type ViewPost =
  | { op: 'open'; view: number; dim: number; metric: Metric }
  | { op: 'drop'; view: number }
  | { op: 'upsert'; view: number; points: Point[]; seq: number }
  | { op: 'delete'; view: number; ids: string[]; seq: number }
  /** Swaps in an install prepared before: one synchronous step, as searches see it. */
  | {
      op: 'commit';
      view: number;
      install: number;
      tombstones: IndexTombstone[];
      coversSeq: number;
    }
  /** Forgets a prepared install (its catalog transaction failed). */
  | { op: 'abort'; install: number };

/** Operations that answer. */
export type ViewCall =
  /** Loads and verifies an install's segments beside the view, which keeps serving. */
  | {
      op: 'prepare';
      view: number;
      install: number;
      segments: SegmentRef[];
      expect: SegmentExpect;
    }
  | { op: 'search'; view: number; query: Float32Array; options: SearchOptions }
  /** The live copy of each id (null where absent or deleted). */
  | { op: 'get'; view: number; ids: string[] }
  /** The WAL seq of each id's live copy (null where absent or deleted). */
  | { op: 'seqs'; view: number; ids: string[] }
  /** Every live id, as {@link encodeIds} bytes: moved between threads, never parsed on the event loop. */
  | { op: 'ids'; view: number }
  /** How the view's ids compare with a reference set (another generation's `ids`). */
  | { op: 'coverage'; view: number; reference: Uint8Array }
  | { op: 'snapshot'; view: number; upTo: number }
  | { op: 'stats'; view: number }
  /** Segment files this store has loaded since it started (each once while held). */
  | { op: 'loads' };

/** What each call answers. */
export interface ViewAnswers {
  prepare: { loaded: number };
  search: SearchHit[];
  get: Array<StoredPoint | null>;
  seqs: Array<number | null>;
  ids: Uint8Array;
  coverage: IdCoverage;
  snapshot: MemtableSnapshot;
  stats: ViewStats;
  loads: number;
}

export type ToViewThread =
  | ViewPost
  | (ViewCall & { id: number })
  /** Finish what is in flight, then end the thread (never terminated from outside). */
  | { op: 'close' }
  /** Test seam: an uncaught error in the thread, as a bug would raise. */
  | { op: 'fault' };

export type FromViewThread =
  | { op: 'answer'; id: number; value: unknown }
  | { op: 'failed'; id: number; error: SerializedError }
  /** The thread hit an error it cannot recover from; it ends once its native calls settle. */
  | { op: 'broken'; error: SerializedError }
  /** Verify and unpack a segment file on the process's index workers, answering on `reply`. */
  | { op: 'unpack'; request: UnpackRequest; reply: MessagePort };
