import { Worker } from 'node:worker_threads';
import { bootstrap, deserializeError } from './worker-pool.ts';
import type { FromSearchThread, SegmentRef, ToSearchThread } from './search-protocol.ts';
import type { Metric, SearchHit, SearchOptions } from './types.ts';

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
  inflight: number;
}

interface PendingSearch {
  slot: Slot;
  resolve: (hits: SearchHit[]) => void;
  reject: (err: Error) => void;
}

/**
 * Worker threads that answer a process's searches (ADR 0012). Each thread holds a mirror
 * of every attached {@link IndexView}: the view posts each write and install to every
 * thread as it applies it, and a search goes to the thread with the fewest in flight.
 * A thread handles its messages in order, so an answer reflects every write the view
 * had applied when the search was asked — what the caller reported as applied.
 *
 * Costs: each thread holds its own copy of every segment graph and memtable (memory ×
 * (1 + threads)), and loads each new segment file itself.
 */
export class SearchThreads {
  readonly size: number;
  private readonly slots: Slot[] = [];
  private readonly searches = new Map<number, PendingSearch>();
  private readonly prepares = new Map<number, { left: number; done: () => void }>();
  private nextId = 1;
  private nextView = 1;
  private down: SearchThreadsDown | null = null;
  private readonly onDown: ((err: Error) => void) | undefined;

  constructor(size: number, opts: { onDown?: (err: Error) => void } = {}) {
    if (!Number.isInteger(size) || size < 1) throw new Error('search threads: size must be ≥ 1');
    this.size = size;
    this.onDown = opts.onDown;
    const entry = new URL('./search-thread.ts', import.meta.url).href;
    for (let i = 0; i < size; i++) {
      const worker = new Worker(bootstrap, { workerData: { entry } });
      const slot: Slot = { worker, inflight: 0 };
      worker.on('message', (msg: FromSearchThread) => this.receive(msg));
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

  /** Registers a new, empty view; returns the id its messages carry. */
  open(dim: number, metric: Metric): number {
    const view = this.nextView++;
    this.broadcast({ op: 'open', view, dim, metric });
    return view;
  }

  /** Posts a write or install to every thread, in the caller's order. */
  broadcast(msg: ToSearchThread): void {
    if (this.down) return;
    for (const s of this.slots) s.worker.postMessage(msg);
  }

  /**
   * Has every thread load these segments now, so that their install later holds no
   * search up. Never rejects: a thread that cannot load one is taken out of service.
   */
  prepare(segments: SegmentRef[]): Promise<void> {
    if (this.down || segments.length === 0) return Promise.resolve();
    const id = this.nextId++;
    return new Promise<void>((resolve) => {
      this.prepares.set(id, { left: this.slots.length, done: resolve });
      this.broadcast({ op: 'prepare', id, segments });
    });
  }

  /** Searches view `view` on the least busy thread. Rejects with {@link SearchThreadsDown} when none can. */
  search(view: number, query: Float32Array, options: SearchOptions): Promise<SearchHit[]> {
    if (this.down) return Promise.reject(this.down);
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.inflight < slot.inflight) slot = s;
    const id = this.nextId++;
    slot.inflight++;
    if (slot.inflight === 1) slot.worker.ref(); // an answer owed keeps the process up
    return new Promise<SearchHit[]>((resolve, reject) => {
      this.searches.set(id, { slot, resolve, reject });
      const msg: ToSearchThread = { op: 'search', id, view, query, options };
      slot.worker.postMessage(msg);
    });
  }

  /** Stops every thread; searches in flight reject with {@link SearchThreadsDown}. */
  async close(): Promise<void> {
    this.fail(new SearchThreadsDown('search threads closed'), false);
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private receive(msg: FromSearchThread): void {
    if (msg.op === 'prepared') {
      const p = this.prepares.get(msg.id);
      if (msg.error) this.fail(new SearchThreadsDown(`search thread: ${msg.error.message}`));
      if (!p) return;
      if (--p.left === 0) {
        this.prepares.delete(msg.id);
        p.done();
      }
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
    if (msg.op === 'result') p.resolve(msg.hits);
    else p.reject(deserializeError(msg.error));
  }

  /** Takes every thread out of service (once); pending work settles at once. */
  private fail(err: SearchThreadsDown, report = true): void {
    if (this.down) return;
    this.down = err;
    for (const p of this.searches.values()) p.reject(err);
    this.searches.clear();
    for (const p of this.prepares.values()) p.done();
    this.prepares.clear();
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
