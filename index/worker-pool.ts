import type { MessagePort, Worker } from 'node:worker_threads';

import { IndexError, IndexErrorCodes } from './errors.ts';
import type { IndexErrorCode } from './errors.ts';
import { startIndexWorker } from './worker-script.ts';
import type { WorkerEntry } from './worker-script.ts';

/**
 * A small pool of worker threads for CPU-heavy index work (HNSW builds, hashing and
 * unpacking segment files), so the event loop that serves queries never blocks on it.
 * Workers start from a bundled entry (see worker-script.ts). Idle workers are unref'd (a
 * pool never keeps a process alive on its own) and end after a while; a pool never
 * terminates a worker in the middle of a job unless it outlives the grace period of
 * `close`.
 */
interface Pending {
  request: unknown;
  transfer: Array<ArrayBuffer | MessagePort>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  worker: Worker;
  busy: Pending | null;
  idle: NodeJS.Timeout | null;
  exited: Promise<void>;
}

/** The message that asks a pool worker to end once its job (if any) is done. */
export const CLOSE_WORKER = { op: 'close' } as const;

/**
 * Pool workers end by themselves when asked ({@link CLOSE_WORKER}): after the job in hand,
 * never in the middle of one. A worker still busy after `graceMs` is terminated; that is
 * safe only because pool jobs make no asynchronous hnswlib call (builds use the
 * synchronous ones; the asynchronous loader runs on view threads, see native-calls.ts).
 */
export class WorkerPool {
  private readonly entry: WorkerEntry;
  private readonly size: number;
  private readonly slots: Slot[] = [];
  private readonly ending = new Set<Slot>();
  private readonly queue: Pending[] = [];
  private closed = false;

  /**
   * @param idleMs a worker idle this long ends; the next job starts a new one.
   * @param heavyIdleMs the same after a job that left much garbage in the worker's isolate
   *   (the worker says so: an idle isolate never collects it, so it ends soon and its
   *   memory is returned).
   */
  constructor(
    entry: WorkerEntry,
    size: number,
    private readonly idleMs = 30_000,
    private readonly heavyIdleMs = idleMs,
    /** Given to each worker (`workerData`): e.g. `{ nice: 19 }` for background work. */
    private readonly workerData: Record<string, unknown> = {},
  ) {
    this.entry = entry;
    this.size = Math.max(1, size);
  }

  /** Runs one request on a free worker. The worker answers `{ok, value}` or `{ok:false, error}`. */
  run<Req, Res>(request: Req, transfer: Array<ArrayBuffer | MessagePort> = []): Promise<Res> {
    if (this.closed) return Promise.reject(new Error('worker pool is closed'));
    return new Promise<Res>((resolve, reject) => {
      this.queue.push({ request, transfer, resolve: resolve as (v: unknown) => void, reject });
      this.pump();
    });
  }

  /**
   * Runs one request whose answer goes to `reply` instead of back to this thread (the
   * worker posts `{ok, value}` or `{ok: false, error}` there). Resolves when it is done.
   */
  runTo(request: object, reply: MessagePort): Promise<void> {
    return this.run<object, void>({ ...request, reply }, [reply]);
  }

  /** Rejects queued jobs, lets running ones finish (up to `graceMs`), and ends every worker. */
  async close(graceMs = 5_000): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new Error('worker pool closed'));
    for (const s of [...this.slots]) this.retire(s);
    const all = [...this.ending];
    const timer = setTimeout(() => {
      for (const s of all) void s.worker.terminate();
    }, graceMs);
    await Promise.all(all.map((s) => s.exited));
    clearTimeout(timer);
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => s.busy === null);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const task = this.queue.shift()!;
      if (slot.idle) clearTimeout(slot.idle);
      slot.idle = null;
      try {
        slot.worker.postMessage(task.request, task.transfer);
      } catch (err) {
        // e.g. the reply port of a thread that has ended since the job was queued
        task.reject(err);
        continue;
      }
      slot.busy = task;
      slot.worker.ref();
    }
  }

  /** Out of the pool; the worker ends after its job in hand. */
  private retire(slot: Slot): void {
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    if (slot.idle) clearTimeout(slot.idle);
    slot.idle = null;
    if (this.ending.has(slot)) return;
    this.ending.add(slot);
    if (this.closed) slot.worker.ref(); // close() waits for it: keep the process up meanwhile
    slot.worker.postMessage(CLOSE_WORKER);
  }

  private spawn(): Slot {
    const worker = startIndexWorker(this.entry, this.workerData);
    let exited: () => void = () => undefined;
    const slot: Slot = {
      worker,
      busy: null,
      idle: null,
      exited: new Promise<void>((r) => (exited = r)),
    };
    worker.on(
      'message',
      (msg: { ok: boolean; value?: unknown; error?: SerializedError; heavy?: boolean }) => {
        const task = slot.busy;
        slot.busy = null;
        worker.unref();
        if (task) {
          if (msg.ok) task.resolve(msg.value);
          else task.reject(deserializeError(msg.error));
        }
        this.pump();
        if (slot.busy === null && !this.ending.has(slot)) {
          slot.idle = setTimeout(
            () => this.retire(slot),
            msg.heavy ? this.heavyIdleMs : this.idleMs,
          );
          slot.idle.unref();
        }
      },
    );
    const fail = (err: unknown) => {
      const task = slot.busy;
      slot.busy = null;
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      task?.reject(err instanceof Error ? err : new Error(`worker exited: ${String(err)}`));
      this.pump();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      this.ending.delete(slot);
      if (slot.idle) clearTimeout(slot.idle);
      exited();
      if (slot.busy) fail(new Error(`index worker exited with code ${code}`));
      else {
        const i = this.slots.indexOf(slot);
        if (i >= 0) this.slots.splice(i, 1);
      }
    });
    worker.unref();
    this.slots.push(slot);
    return slot;
  }
}

/** An error as it crosses the thread boundary: typed index errors keep their code. */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  details?: Record<string, unknown>;
}

export function deserializeError(e: SerializedError | undefined): Error {
  if (!e) return new Error('index worker failed without an error');
  if (e.code && (IndexErrorCodes as readonly string[]).includes(e.code)) {
    return new IndexError(e.code as IndexErrorCode, e.message, { details: e.details });
  }
  return Object.assign(new Error(e.message), { name: e.name });
}

/** The worker side: turns any thrown value into what {@link deserializeError} reads. */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof IndexError) {
    return { name: err.name, message: err.message, code: err.code, details: err.details };
  }
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}
