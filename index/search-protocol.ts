import type { SerializedError } from './worker-pool.ts';
import type { IndexTombstone } from './index-view.ts';
import type { Metric, Point, SearchHit, SearchOptions } from './types.ts';

/**
 * Messages between the main thread and a search thread ({@link SearchThreads}). A search
 * thread holds a mirror of every {@link IndexView} of its process, fed the same writes in
 * the same order; one port carries them all, so a search always runs after every write
 * posted before it.
 */

/** A segment a mirror loads by itself, from the same immutable, content-addressed file. */
export interface SegmentRef {
  digest: string;
  path: string;
}

export type ToSearchThread =
  | { op: 'open'; view: number; dim: number; metric: Metric }
  | { op: 'upsert'; view: number; points: Point[]; seq: number }
  | { op: 'delete'; view: number; ids: string[]; seq: number }
  | {
      op: 'install';
      view: number;
      segments: SegmentRef[];
      tombstones: IndexTombstone[];
      coversSeq: number;
    }
  /** Starts loading segments ahead of their install; answered once they are in memory. */
  | { op: 'prepare'; id: number; segments: SegmentRef[] }
  | { op: 'search'; id: number; view: number; query: Float32Array; options: SearchOptions };

export type FromSearchThread =
  | { op: 'prepared'; id: number; error?: SerializedError }
  | { op: 'result'; id: number; hits: SearchHit[] }
  | { op: 'failed'; id: number; error: SerializedError }
  /** The mirror can no longer follow its views (a segment it could not load): stop using it. */
  | { op: 'broken'; error: SerializedError };
