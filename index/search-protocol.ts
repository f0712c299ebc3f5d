import type { SerializedError } from './worker-pool.ts';
import type { IndexTombstone } from './index-view.ts';
import type { Metric, Point, SearchHit, SearchOptions } from './types.ts';

/**
 * Messages between the main thread and a search thread ({@link SearchThreads}). A search
 * thread holds a mirror of every {@link IndexView} of its process, fed the same writes in
 * the same order; a thread handles each view's messages in the order they were posted,
 * so a search always runs after every write of its view posted before it.
 */

/** A segment a mirror loads by itself, from the same immutable, content-addressed file. */
export interface SegmentRef {
  digest: string;
  path: string;
}

/** One memtable entry: the id's newest write, an upsert (`point`) or a delete (null). */
export interface ReplayEntry {
  id: string;
  seq: number;
  point: Point | null;
}

export type ToSearchThread =
  | { op: 'open'; view: number; dim: number; metric: Metric }
  | { op: 'upsert'; view: number; points: Point[]; seq: number }
  | { op: 'delete'; view: number; ids: string[]; seq: number }
  /** A memtable sent whole (threads attached to a view that holds data): each entry's write. */
  | { op: 'replay'; view: number; entries: ReplayEntry[] }
  | {
      op: 'install';
      view: number;
      /** Counts the view's installs; the thread says when it has applied each. */
      epoch: number;
      segments: SegmentRef[];
      tombstones: IndexTombstone[];
      coversSeq: number;
    }
  | { op: 'search'; id: number; view: number; query: Float32Array; options: SearchOptions };

export type FromSearchThread =
  /** The view's mirror has applied its install `epoch` (its segments are loaded). */
  | { op: 'installed'; view: number; epoch: number }
  | { op: 'result'; id: number; hits: SearchHit[] }
  | { op: 'failed'; id: number; error: SerializedError }
  /** The mirror can no longer follow its views (a segment it could not load): stop using it. */
  | { op: 'broken'; error: SerializedError };
