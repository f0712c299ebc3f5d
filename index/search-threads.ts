import { mkdirSync, rmSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { bootstrap, deserializeError } from './worker-pool.ts';
import type { IndexTombstone } from './index-view.ts';
import type {
  FromSearchThread,
  ReplayEntry,
  SegmentRef,
  ToSearchThread,
} from './search-protocol.ts';
import type { Metric, Point, SearchHit, SearchOptions } from './types.ts';

/**
 * Search threads are gone (one crashed, could not load a segment, or they were closed).
 * Views catch it and search on the calling thread, whose own index is always current.
 */
export class SearchThreadsDown extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SearchThreadsDown';
  }
}

interface Slot {
  worker: Worker;
  /** Searches sent and not answered: the least busy ready thread gets the next. */
  inflight: number;
  /** Per view: the newest install this thread has applied. */
  installed: Map<number, number>;
}

interface PendingSearch {
  slot: Slot;
  resolve: (hits: SearchHit[]) => void;
  reject: (err: Error) => void;
}

/**
 * Worker threads that answer a process's searches (decision 0012). Each thread holds a
 * mirror of every attached {@link IndexView}: the view posts each write and install to
 * every thread as it applies it, and a search goes to the least busy thread whose mirror
 * of that view has applied the view's newest install. A thread handles each view's
 * messages in order, so an answer reflects every write the view had applied when the
 * search was asked — what the caller reported as applied.
 *
 * A new install is applied by the main thread at once; each thread loads its segments
 * after that, and until it has, {@link trySearch} returns null for that view and the
 * caller searches on its own thread. So a manifest apply never waits for the mirrors.
 *
 * Costs: each thread holds its own copy of every segment graph and memtable (memory ×
 * (1 + threads)), and loads each new segment file itself.
 */
export class SearchThreads {
  readonly size: number;
  private readonly slots: Slot[] = [];
  private readonly searches = new Map<number, PendingSearch>();
  /** Per view: its newest install posted. */
  private readonly epochs = new Map<number, number>();
  private nextId = 1;
  private nextView = 1;
  private answeredCount = 0;
  private down: SearchThreadsDown | null = null;
  private readonly onDown: ((err: Error) => void) | undefined;

  private readonly scratchDir: string | null;

  /**
   * @param opts.scratchDir Where the threads extract graphs while loading segments. It is
   *   emptied now and on {@link close}, so that a load cut short leaves nothing behind;
   *   give each SearchThreads its own. Default: the OS temp directory, not cleaned.
   */
  constructor(size: number, opts: { onDown?: (err: Error) => void; scratchDir?: string } = {}) {
    if (!Number.isInteger(size) || size < 1) throw new Error('search threads: size must be ≥ 1');
    this.size = size;
    this.onDown = opts.onDown;
    this.scratchDir = opts.scratchDir ?? null;
    if (this.scratchDir) {
      rmSync(this.scratchDir, { recursive: true, force: true });
      mkdirSync(this.scratchDir, { recursive: true });
    }
    const entry = new URL('./search-thread.ts', import.meta.url).href;
    for (let i = 0; i < size; i++) {
      const worker = new Worker(bootstrap, {
        workerData: { entry, ...(this.scratchDir ? { scratchDir: this.scratchDir } : {}) },
      });
      const slot: Slot = { worker, inflight: 0, installed: new Map() };
      worker.on('message', (msg: FromSearchThread) => this.receive(slot, msg));
      worker.on('error', (err) =>
        this.fail(new SearchThreadsDown('search thread failed', { cause: err })),
      );
      worker.on('exit', (code) =>
        this.fail(new SearchThreadsDown(`search thread exited with code ${code}`)),
      );
      worker.unref();
      this.slots.push(slot);
    }
  }

  /** False once any thread is gone: callers search on their own thread from then on. */
  get healthy(): boolean {
    return this.down === null;
  }

  /** Searches answered by the threads so far (the rest ran on the caller's thread). */
  get answered(): number {
    return this.answeredCount;
  }

  /** Whether some thread's mirror of `view` holds the view's newest install. */
  ready(view: number): boolean {
    if (this.down) return false;
    const epoch = this.epochs.get(view) ?? 0;
    return this.slots.some((s) => (s.installed.get(view) ?? 0) === epoch);
  }

  /** Registers a new, empty view; returns the id its messages carry. */
  open(dim: number, metric: Metric): number {
    const view = this.nextView++;
    this.epochs.set(view, 0);
    this.broadcast({ op: 'open', view, dim, metric });
    return view;
  }

  upsert(view: number, points: Point[], seq: number): void {
    this.broadcast({ op: 'upsert', view, points, seq });
  }

  delete(view: number, ids: string[], seq: number): void {
    this.broadcast({ op: 'delete', view, ids, seq });
  }

  /** Sends a view's memtable whole (see {@link IndexView.attachSearchThreads}). */
  replay(view: number, entries: ReplayEntry[]): void {
    this.broadcast({ op: 'replay', view, entries });
  }

  /** Posts an install the view has just applied; its mirrors catch up in the background. */
  install(
    view: number,
    state: { segments: SegmentRef[]; tombstones: IndexTombstone[]; coversSeq: number },
  ): void {
    const epoch = (this.epochs.get(view) ?? 0) + 1;
    this.epochs.set(view, epoch);
    this.broadcast({ op: 'install', view, epoch, ...state });
  }

  /**
   * Searches `view` on the least busy thread whose mirror holds the view's newest
   * install; null when none does yet (or the threads are down): search on your own.
   * Rejects with {@link SearchThreadsDown} if the threads fail before answering.
   */
  trySearch(
    view: number,
    query: Float32Array,
    options: SearchOptions,
  ): Promise<SearchHit[]> | null {
    if (this.down) return null;
    const epoch = this.epochs.get(view) ?? 0;
    let slot: Slot | null = null;
    for (const s of this.slots) {
      if ((s.installed.get(view) ?? 0) !== epoch) continue;
      if (!slot || s.inflight < slot.inflight) slot = s;
    }
    if (!slot) return null;
    const chosen = slot;
    const id = this.nextId++;
    const msg: ToSearchThread = { op: 'search', id, view, query, options };
    try {
      chosen.worker.postMessage(msg);
    } catch {
      return null; // e.g. options a message cannot carry: the caller searches itself
    }
    if (chosen.inflight++ === 0) chosen.worker.ref(); // an answer owed keeps the process up
    return new Promise<SearchHit[]>((resolve, reject) => {
      this.searches.set(id, { slot: chosen, resolve, reject });
    });
  }

  /** Stops every thread; searches in flight reject with {@link SearchThreadsDown}. */
  async close(): Promise<void> {
    this.fail(new SearchThreadsDown('search threads closed'), false);
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    if (this.scratchDir) rmSync(this.scratchDir, { recursive: true, force: true });
  }

  private broadcast(msg: ToSearchThread): void {
    if (this.down) return;
    for (const s of this.slots) s.worker.postMessage(msg);
  }

  private receive(slot: Slot, msg: FromSearchThread): void {
    if (msg.op === 'installed') {
      slot.installed.set(msg.view, msg.epoch);
      return;
    }
    if (msg.op === 'broken') {
      this.fail(new SearchThreadsDown(`search thread: ${msg.error.message}`));
      return;
    }
    const p = this.searches.get(msg.id);
    if (!p) return;
    this.searches.delete(msg.id);
    if (--p.slot.inflight === 0) p.slot.worker.unref();
    if (msg.op === 'result') {
      this.answeredCount++;
      p.resolve(msg.hits);
    } else p.reject(deserializeError(msg.error));
  }

  /** Takes every thread out of service (once); searches in flight reject at once. */
  private fail(err: SearchThreadsDown, report = true): void {
    if (this.down) return;
    this.down = err;
    for (const p of this.searches.values()) p.reject(err);
    this.searches.clear();
    for (const s of this.slots) {
      s.inflight = 0;
      s.worker.unref();
    }
    if (report) {
      this.onDown?.(err);
      void Promise.all(this.slots.map((s) => s.worker.terminate()));
    }
  }
}
