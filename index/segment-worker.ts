/**
 * Worker thread for CPU-heavy segment work: building an HNSW graph and writing the
 * segment file, and hashing + unpacking a segment file before it is loaded. Runs only
 * inside a {@link WorkerPool}; the event loop that serves queries never does this.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { serializeError } from './worker-pool.ts';
import type { CLOSE_WORKER, SerializedError } from './worker-pool.ts';
import { buildSegmentFile } from './segment-writer.ts';
import { unpackSegmentFile } from './segment-reader.ts';
import type { BuildRequest, UnpackRequest } from './segment-jobs.ts';

let busy = false;
let closing = false;

// A background worker (merges) lowers its own thread's CPU priority: on Linux,
// setpriority on a thread id applies to that thread only. Best effort elsewhere.
const nice = (workerData as { nice?: number } | null)?.nice;
if (nice !== undefined) {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, nice);
  } catch {
    // no /proc (not Linux): the merge runs at normal priority
  }
}

type Job = (BuildRequest | UnpackRequest) & { reply?: MessagePort };
/** Memory left in this isolate after a job above which the worker should not stay warm. */
const HEAVY_BYTES = 64 * 1024 * 1024;

parentPort!.on('message', async (msg: Job | typeof CLOSE_WORKER) => {
  if (msg.op === 'close') {
    // Asked to end: now if idle, else right after the job in hand.
    closing = true;
    if (!busy) process.exit(0);
    return;
  }
  busy = true;
  // The answer goes to the job's own port when it has one (a view thread's unpack), else
  // back to the pool; the pool always hears that the job is done.
  const { reply, ...job } = msg;
  // A job that leaves much garbage in this isolate (which an idle isolate never collects)
  // tells the pool, which then lets this worker end soon instead of keeping it warm.
  const heavy = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers > HEAVY_BYTES;
  };
  let done: { ok: true; value: unknown } | { ok: false; error: SerializedError };
  let transfer: ArrayBuffer[] = [];
  try {
    if (job.op === 'build') {
      done = { ok: true, value: await buildSegmentFile(job) };
    } else {
      const value = await unpackSegmentFile(job);
      transfer = value.vectors ? [value.vectors.buffer as ArrayBuffer] : [];
      done = { ok: true, value };
    }
  } catch (err) {
    done = { ok: false, error: serializeError(err) };
  }
  if (reply) {
    reply.postMessage(done, transfer);
    reply.close();
    parentPort!.postMessage({ ok: true, value: null, heavy: heavy() });
  } else {
    parentPort!.postMessage({ ...done, heavy: heavy() }, transfer);
  }
  busy = false;
  if (closing) process.exit(0);
});
