import type { Worker } from 'node:worker_threads';
import { Backoff } from '../lib/wait.ts';
import { IndexError } from './errors.ts';
import { ViewHandle } from './view-handle.ts';
import type { ViewChannel, ViewHost } from './view-handle.ts';
import { resetScratchDir } from './view-store.ts';
import { deserializeError } from './worker-pool.ts';
import { unpackTo } from './segment-store.ts';
import { startIndexWorker } from './worker-script.ts';
import type { FromViewThread, ToViewThread, ViewAnswers, ViewCall } from './view-protocol.ts';
import type { Metric } from './types.ts';

interface Slot {
  worker: Worker;
  state: 'running' | 'lost' | 'closing';
  views: Set<ViewHandle>;
  /** Calls sent and not answered: an answer owed keeps the process up. */
  inflight: number;
  exited: Promise<void>;
}

interface Pending {
  slot: Slot;
  resolve: (v: unknown) => void;
  reject: (err: Error) => void;
}

export interface ThreadViewHostOptions {
  /**
   * Where the threads extract graphs while loading segments; emptied at start and close,
   * so a load cut short by a crash leaves nothing behind. Default the OS temp directory.
   */
  scratchDir?: string;
  /**
   * Told when a thread was lost (an error it could not recover from) and a new one took
   * its place: the given views are empty and refuse searches until their owner has
   * rebuilt them and called `markAvailable()`.
   */
  onRebound?: (views: ViewHandle[]) => void;
  /** Told when a thread is lost, with the delay before its replacement starts. */
  onLost?: (err: Error, restartInMs: number) => void;
}

/** Pause before a failed thread's replacement starts (reset after one that served 10 min). */
const restartBackoff = { firstMs: 1_000, maxMs: 60_000 };

/**
 * View threads (decision 0013): each served view lives on exactly one of `size` worker
 * threads, which holds its graphs, memtable and tombstones — the process's only copy — and
 * answers its searches beside the event loop. A view goes to the thread holding the fewest.
 *
 * Messages to one thread arrive in the order they were sent, so each view's writes,
 * installs and searches take effect in the order its {@link ViewHandle} made them.
 *
 * Threads end only by themselves (see view-thread.ts): `close()` asks and waits. A thread
 * that fails is replaced after a backoff (1 s, doubling to 60 s; back to 1 s after one that
 * served ten minutes), and its views are handed to `onRebound` to be rebuilt.
 */
export class ThreadViewHost implements ViewHost {
  readonly threads: number;
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private nextId = 1;
  private nextView = 1;
  private closed = false;
  private readonly restarts = new Backoff(restartBackoff);
  private startedAt = Date.now();

  constructor(
    size: number,
    private readonly o: ThreadViewHostOptions = {},
  ) {
    if (!Number.isInteger(size) || size < 1) throw new Error('view threads: size must be ≥ 1');
    this.threads = size;
    resetScratchDir(o.scratchDir);
    for (let i = 0; i < size; i++) this.slots.push(this.spawn(new Set()));
  }

  get serving(): number {
    return this.slots.filter((s) => s.state === 'running').length;
  }

  open(dim: number, metric: Metric): ViewHandle {
    const slot = this.slots.reduce((a, b) => (b.views.size < a.views.size ? b : a));
    const id = this.nextView++;
    const handle = new ViewHandle({ dim, metric, channel: this.channel(slot), id });
    slot.views.add(handle);
    this.send(slot, { op: 'open', view: id, dim, metric });
    return handle;
  }

  async segmentLoads(): Promise<number> {
    const running = this.slots.filter((s) => s.state === 'running');
    const counts = await Promise.all(running.map((s) => this.channel(s).call({ op: 'loads' })));
    return counts.reduce((a, b) => a + b, 0);
  }

  drop(view: ViewHandle): void {
    for (const slot of this.slots) {
      if (slot.views.delete(view)) this.send(slot, { op: 'drop', view: view.id });
    }
  }

  /** Test seam: makes thread `i` fail as a bug in it would. */
  fault(i = 0): void {
    const slot = this.slots[i];
    if (slot) this.send(slot, { op: 'fault' });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const closing = new IndexError('view_unavailable', 'view threads closed', { transient: true });
    for (const slot of this.slots) {
      if (slot.state === 'running') {
        slot.state = 'closing';
        slot.worker.ref(); // the process waits for the thread's own end
        slot.worker.postMessage({ op: 'close' } satisfies ToViewThread);
      }
    }
    this.rejectAll(null, closing);
    await Promise.all(this.slots.map((s) => s.exited));
    resetScratchDir(this.o.scratchDir, false);
  }

  private spawn(views: Set<ViewHandle>): Slot {
    const worker = startIndexWorker(
      'view-thread',
      this.o.scratchDir ? { scratchDir: this.o.scratchDir } : {},
    );
    let exited: () => void = () => undefined;
    const slot: Slot = {
      worker,
      state: 'running',
      views,
      inflight: 0,
      exited: new Promise<void>((r) => (exited = r)),
    };
    worker.on('message', (msg: FromViewThread) => this.receive(slot, msg));
    // An 'error' event means the thread's own handler could not run; it has ended.
    worker.on('error', (err) => this.lose(slot, err));
    worker.on('exit', (code) => {
      exited();
      this.lose(slot, new Error(`view thread exited with code ${code}`));
      if (slot.state === 'lost') this.replace(slot);
    });
    worker.unref();
    return slot;
  }

  private channel(slot: Slot): ViewChannel {
    return {
      post: (msg) => this.send(slot, msg),
      call: <C extends ViewCall>(msg: C) => {
        if (slot.state !== 'running') {
          return Promise.reject(
            new IndexError('view_unavailable', 'its view thread is being replaced', {
              transient: true,
            }),
          );
        }
        const id = this.nextId++;
        if (slot.inflight++ === 0) slot.worker.ref();
        return new Promise<ViewAnswers[C['op']]>((resolve, reject) => {
          this.pending.set(id, { slot, resolve: resolve as (v: unknown) => void, reject });
          slot.worker.postMessage({ ...msg, id } as ToViewThread);
        });
      },
    };
  }

  private send(slot: Slot, msg: ToViewThread): void {
    if (slot.state === 'running') slot.worker.postMessage(msg);
  }

  private receive(slot: Slot, msg: FromViewThread): void {
    if (msg.op === 'broken') {
      this.lose(slot, deserializeError(msg.error));
      return;
    }
    if (msg.op === 'unpack') {
      unpackTo(msg.request, msg.reply);
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    this.settled(p.slot);
    if (msg.op === 'answer') p.resolve(msg.value);
    else p.reject(deserializeError(msg.error));
  }

  private settled(slot: Slot): void {
    // An answer owed keeps the process up; so does a thread asked to close, until it ends.
    if (--slot.inflight === 0 && slot.state !== 'closing') slot.worker.unref();
  }

  /** Takes a failed thread out of service (once): its views refuse searches until rebuilt. */
  private lose(slot: Slot, err: Error): void {
    if (slot.state !== 'running') return;
    slot.state = 'lost';
    const reason = `view thread failed (${err.message}); this view is being rebuilt`;
    for (const v of slot.views) v.markUnavailable(reason);
    this.rejectAll(slot, new IndexError('view_unavailable', reason, { transient: true }));
    if (Date.now() - this.startedAt > 10 * 60_000) this.restarts.reset();
    this.o.onLost?.(err, this.restarts.peek());
  }

  /** Starts a replacement once the failed thread has ended, after the backoff delay. */
  private replace(slot: Slot): void {
    if (this.closed) return;
    const delay = this.restarts.next();
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.closed) return;
      const i = this.slots.indexOf(slot);
      const next = this.spawn(slot.views);
      this.slots[i] = next;
      this.startedAt = Date.now();
      const channel = this.channel(next);
      for (const v of next.views) {
        v.rebind(channel, this.nextView++, 'a new view thread is rebuilding this view');
      }
      this.o.onRebound?.([...next.views]);
    }, delay);
    t.unref();
    this.timers.add(t);
  }

  private rejectAll(slot: Slot | null, err: Error): void {
    for (const [id, p] of this.pending) {
      if (slot && p.slot !== slot) continue;
      this.pending.delete(id);
      this.settled(p.slot);
      p.reject(err);
    }
  }
}
