import { IndexError } from './errors.ts';
import { compileFilter } from './filter.ts';
import { assertSearchOptions } from './search-options.ts';
import { toVector } from './validate.ts';
import { emptyViewStats } from './view-protocol.ts';
import type { IndexTombstone, StoredPoint } from './index-view.ts';
import type {
  IdCoverage,
  MemtableSnapshot,
  SegmentExpect,
  SegmentRef,
  ViewAnswers,
  ViewCall,
  ViewPost,
  ViewStats,
} from './view-protocol.ts';
import type { Metric, Point, SearchHit, SearchOptions } from './types.ts';

/** How a handle reaches its view: in order, on a view thread or on this thread. */
export interface ViewChannel {
  post(msg: ViewPost): void;
  call<C extends ViewCall>(msg: C): Promise<ViewAnswers[C['op']]>;
}

/** An install whose segments are loaded beside the view, waiting for {@link ViewHandle.commit}. */
export interface PreparedInstall {
  readonly install: number;
  /** The store it was prepared in: a view rebuilt since (its thread lost) holds no such install. */
  readonly epoch: number;
}

let nextInstall = 1;

/**
 * The event loop's handle on one served view. The view itself — graphs, memtable,
 * tombstones — lives once, in a {@link ViewStore} on a view thread or on this thread
 * (decision 0013); the handle sends it each write, install and search in the order they
 * are made, so a search reflects every write and install made through the handle before
 * it. What the event loop needs synchronously (the sealed position, the last known
 * counts) the handle keeps itself.
 */
export class ViewHandle {
  readonly dim: number;
  readonly metric: Metric;
  private channel: ViewChannel;
  private viewId: number;
  private covers = 0;
  private epoch = 0;
  private stats_: ViewStats = emptyViewStats;
  private unavailable: string | null = null;
  private dirty = false;

  constructor(o: { dim: number; metric: Metric; channel: ViewChannel; id: number }) {
    this.dim = o.dim;
    this.metric = o.metric;
    this.channel = o.channel;
    this.viewId = o.id;
  }

  /** Every WAL write at or below this seq is inside the committed install. */
  get coversSeq(): number {
    return this.covers;
  }

  /** The counts the view reported last (refreshed by {@link stats} and by the host). */
  get lastStats(): ViewStats {
    return this.stats_;
  }

  /** Null while the view answers; else why it cannot (its thread was lost, a rebuild runs). */
  get unavailableReason(): string | null {
    return this.unavailable;
  }

  /** Writes since the counts were last refreshed (the host polls those views). */
  get changedSinceStats(): boolean {
    return this.dirty;
  }

  /**
   * Applies a WAL upsert to the view. Safe under redelivery: the view keeps the newest seq
   * of each id, and a write at or below its sealed position changes nothing.
   */
  upsert(points: readonly Point[], seq: number): void {
    this.dirty = true;
    this.channel.post({ op: 'upsert', view: this.viewId, points: points as Point[], seq });
  }

  /** Applies a WAL delete; same redelivery rules as {@link upsert}. */
  delete(ids: readonly string[], seq: number): void {
    this.dirty = true;
    this.channel.post({ op: 'delete', view: this.viewId, ids: ids as string[], seq });
  }

  /**
   * Loads and verifies an install's segments beside the view, which keeps answering from
   * its current install. Segments it holds already are shared, not loaded again. Rejects
   * with a typed {@link IndexError} (its `details.digest` names the bad file) and holds
   * nothing then. Safe to abort: an install never committed is dropped by {@link abort}.
   */
  async prepare(segments: readonly SegmentRef[], expect: SegmentExpect): Promise<PreparedInstall> {
    const install = nextInstall++;
    const epoch = this.epoch;
    await this.channel.call({
      op: 'prepare',
      view: this.viewId,
      install,
      segments: [...segments],
      expect,
    });
    return { install, epoch };
  }

  /**
   * Swaps a prepared install in: searches asked after this call see it, with the memtable
   * trimmed at `coversSeq`. Call it right after the catalog records the install. Returns
   * false, changing nothing, when the view was rebound since the install was prepared: its
   * rebuild installs what the catalog records instead.
   */
  commit(p: PreparedInstall, tombstones: readonly IndexTombstone[], coversSeq: number): boolean {
    if (p.epoch !== this.epoch) return false;
    this.channel.post({
      op: 'commit',
      view: this.viewId,
      install: p.install,
      tombstones: [...tombstones],
      coversSeq,
    });
    this.covers = coversSeq;
    this.dirty = true;
    return true;
  }

  /** Drops a prepared install that will not be committed. Idempotent. */
  abort(p: PreparedInstall): void {
    if (p.epoch === this.epoch) this.channel.post({ op: 'abort', install: p.install });
  }

  /**
   * Top-k over the view as it stands after every write and install made before this call.
   * Bad input fails here, on the calling thread, with the same typed error a view raises.
   */
  search(query: ArrayLike<number>, options: SearchOptions): Promise<SearchHit[]> {
    try {
      assertSearchOptions(options);
      compileFilter(options.filter);
      // A compact copy: a message carries a typed array's whole buffer, not just its view.
      const q = Float32Array.from(toVector(query, this.dim, 'query'));
      if (this.unavailable !== null) {
        throw new IndexError('view_unavailable', this.unavailable, { transient: true });
      }
      return this.channel.call({ op: 'search', view: this.viewId, query: q, options });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * The live copy of each id (null where absent or deleted), reflecting every write made
   * before this call. Refused like a search while the view is rebuilt.
   */
  get(ids: readonly string[]): Promise<Array<StoredPoint | null>> {
    if (this.unavailable !== null) {
      return Promise.reject(
        new IndexError('view_unavailable', this.unavailable, { transient: true }),
      );
    }
    return this.channel.call({ op: 'get', view: this.viewId, ids: [...ids] });
  }

  /** The WAL seq of each id's live copy (null where absent or deleted); refused like {@link get}. */
  getSeqs(ids: readonly string[]): Promise<Array<number | null>> {
    if (this.unavailable !== null) {
      return Promise.reject(
        new IndexError('view_unavailable', this.unavailable, { transient: true }),
      );
    }
    return this.channel.call({ op: 'seqs', view: this.viewId, ids: [...ids] });
  }

  /**
   * How this view's ids compare with `reference`'s (issue 14: a staging generation's
   * coverage of the active one). The id lists move between the view threads as bytes;
   * the sets are built on the thread of this view, never on the event loop.
   */
  async coverage(reference: ViewHandle): Promise<IdCoverage> {
    for (const v of [this, reference]) {
      if (v.unavailable !== null) {
        throw new IndexError('view_unavailable', v.unavailable, { transient: true });
      }
    }
    const ids = await reference.channel.call({ op: 'ids', view: reference.viewId });
    return this.channel.call({ op: 'coverage', view: this.viewId, reference: ids });
  }

  /** The memtable's writes at or below `upTo`, for a seal. Refused while the view is rebuilt. */
  snapshot(upTo: number): Promise<MemtableSnapshot> {
    if (this.unavailable !== null) {
      return Promise.reject(
        new IndexError('view_unavailable', this.unavailable, { transient: true }),
      );
    }
    return this.channel.call({ op: 'snapshot', view: this.viewId, upTo });
  }

  /** The view's counts after every write made before this call. */
  async stats(): Promise<ViewStats> {
    this.dirty = false;
    const s = await this.channel.call({ op: 'stats', view: this.viewId });
    this.stats_ = s;
    return s;
  }

  /**
   * The host moved this view to a new, empty store (its thread was lost): it answers no
   * search until its owner has rebuilt it and calls {@link markAvailable}.
   * @internal hosts only.
   */
  rebind(channel: ViewChannel, id: number, reason: string): void {
    this.channel = channel;
    this.viewId = id;
    this.epoch++;
    this.unavailable = reason;
    this.covers = 0;
    this.stats_ = emptyViewStats;
    this.channel.post({ op: 'open', view: id, dim: this.dim, metric: this.metric });
  }

  /** The rebuild is complete: searches go to the view again. */
  markAvailable(): void {
    this.unavailable = null;
  }

  /** Searches are refused with `view_unavailable` (503) and this reason until {@link markAvailable}. */
  markUnavailable(reason: string): void {
    this.unavailable = reason;
  }

  /** @internal hosts only. */
  get id(): number {
    return this.viewId;
  }
}

/** Where a process's views live: on view threads, or on the event loop. */
export interface ViewHost {
  /** View threads (0: the event loop holds the views). */
  readonly threads: number;
  /** Threads answering now (less than `threads` while one is being replaced). */
  readonly serving: number;
  /** A new, empty view. */
  open(dim: number, metric: Metric): ViewHandle;
  /** Segment files loaded by this host so far: each once while some install holds it. */
  segmentLoads(): Promise<number>;
  /** Frees a view and its segments. */
  drop(view: ViewHandle): void;
  /**
   * Stops the host: each thread finishes its native calls in flight and ends by itself;
   * none is ever terminated from outside. Calls in flight reject. Idempotent.
   */
  close(): Promise<void>;
}
