/**
 * Worker thread for CPU-heavy segment work: building an HNSW graph and writing the
 * segment file, and hashing + unpacking a segment file before it is loaded. Runs only
 * inside a {@link WorkerPool}; the event loop that serves queries never does this.
 */
import { parentPort } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { serializeError } from './worker-pool.ts';
import type { CLOSE_WORKER } from './worker-pool.ts';
import { buildSegmentFile } from './segment-writer.ts';
import { unpackSegmentFile } from './segment-reader.ts';
import type { BuildRequest, UnpackRequest } from './segment-jobs.ts';

let busy = false;
let closing = false;

type Job = (BuildRequest | UnpackRequest) & { reply?: MessagePort };

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
  const out = reply ?? parentPort!;
  try {
    if (job.op === 'build') {
      const value = await buildSegmentFile(job);
      out.postMessage({ ok: true, value });
    } else {
      const value = await unpackSegmentFile(job);
      const transfer = value.vectors ? [value.vectors.buffer as ArrayBuffer] : [];
      out.postMessage({ ok: true, value }, transfer);
    }
  } catch (err) {
    out.postMessage({ ok: false, error: serializeError(err) });
  }
  if (reply) {
    reply.close();
    parentPort!.postMessage({ ok: true, value: null });
  }
  busy = false;
  if (closing) process.exit(0);
});
