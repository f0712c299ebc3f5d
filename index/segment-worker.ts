/**
 * Worker thread for CPU-heavy segment work: building an HNSW graph and writing the
 * segment file, and hashing + unpacking a segment file before it is loaded. Runs only
 * inside a {@link WorkerPool}; the event loop that serves queries never does this.
 */
import { parentPort } from 'node:worker_threads';
import { serializeError } from './worker-pool.ts';
import { buildSegmentFile } from './segment-writer.ts';
import { unpackSegmentFile } from './segment-reader.ts';
import type { BuildRequest, UnpackRequest } from './segment-jobs.ts';

parentPort!.on('message', async (msg: BuildRequest | UnpackRequest) => {
  try {
    if (msg.op === 'build') {
      const value = await buildSegmentFile(msg);
      parentPort!.postMessage({ ok: true, value });
    } else {
      const value = await unpackSegmentFile(msg);
      const transfer = value.vectors ? [value.vectors.buffer as ArrayBuffer] : [];
      parentPort!.postMessage({ ok: true, value }, transfer);
    }
  } catch (err) {
    parentPort!.postMessage({ ok: false, error: serializeError(err) });
  }
});
