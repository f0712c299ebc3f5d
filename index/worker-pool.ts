import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

import { IndexError, IndexErrorCodes } from './errors.ts';
import type { IndexErrorCode } from './errors.ts';

/**
 * A small pool of worker threads for CPU-heavy index work (HNSW builds, hashing and
 * unpacking segment files), so the event loop that serves queries never blocks on it.
 *
 * Workers are TypeScript modules; each thread starts in worker-bootstrap.mjs, which
 * registers tsx's loader, so the same file runs under vitest, tsx and the CLI. Idle workers are unref'd: a pool never keeps a
 * process alive on its own.
 */
export const bootstrap = fileURLToPath(new URL('./worker-bootstrap.mjs', import.meta.url));

interface Pending {
  request: unknown;
  transfer: ArrayBuffer[];
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  worker: Worker;
  busy: Pending | null;
}

export class WorkerPool {
  private readonly entry: string;
  private readonly size: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private closed = false;

  constructor(workerUrl: URL, size: number) {
    this.entry = workerUrl.href;
    this.size = Math.max(1, size);
  }

  /** Runs one request on a free worker. The worker answers `{ok, value}` or `{ok:false, error}`. */
  run<Req, Res>(request: Req, transfer: ArrayBuffer[] = []): Promise<Res> {
    if (this.closed) return Promise.reject(new Error('worker pool is closed'));
    return new Promise<Res>((resolve, reject) => {
      this.queue.push({ request, transfer, resolve: resolve as (v: unknown) => void, reject });
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new Error('worker pool closed'));
    await Promise.all(this.slots.splice(0).map((s) => s.worker.terminate()));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => s.busy === null);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const task = this.queue.shift()!;
      slot.busy = task;
      slot.worker.ref();
      slot.worker.postMessage(task.request, task.transfer);
    }
  }

  private spawn(): Slot {
    const worker = new Worker(bootstrap, { workerData: { entry: this.entry } });
    const slot: Slot = { worker, busy: null };
    worker.on('message', (msg: { ok: boolean; value?: unknown; error?: SerializedError }) => {
      const task = slot.busy;
      slot.busy = null;
      worker.unref();
      if (task) {
        if (msg.ok) task.resolve(msg.value);
        else task.reject(deserializeError(msg.error));
      }
      this.pump();
    });
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
