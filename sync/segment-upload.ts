/**
 * Upload of a sealed segment file to the SEGMENTS stream as a run of chunk messages
 * (format in segment-chunks.ts). Publishes are pipelined: up to `window` chunks wait for
 * their PubAck at once, which is what makes 1 MiB messages move at stream speed instead of
 * one round trip per MiB.
 */
import { randomUUID } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import type { JetStreamClient, JetStreamManager, PubAck } from 'nats';
import { SyncError, fromNatsError, isTransientNatsError, jsErrorCode } from './errors.ts';
import {
  DEFAULT_CHUNK_BYTES,
  DEFAULT_WINDOW,
  chunkCountFor,
  assertDigest,
  chunkHeaders,
  parseChunkHeaders,
  positiveInt,
  sha256File,
} from './segment-chunks.ts';
import { Streams, Subjects } from './subjects.ts';

/** Inputs of {@link uploadSegment}. */
export interface UploadSegmentOptions {
  /** The collection the segment belongs to (part of the chunk subject, so regions mirror only theirs). */
  collection: string;
  /** sha256 of the file, lowercase hex: the segment's name. */
  digest: string;
  /** The sealed segment file. */
  path: string;
  /** Publishes awaiting their ack at once. Default 32. */
  window?: number;
  /** Bytes per chunk. Default 1 MiB − 8 KiB; keep it constant across uploads of one digest. */
  chunkBytes?: number;
  /** Check the file's sha256 against `digest` before publishing anything. Default true. */
  verify?: boolean;
  /** Stops between chunks; the call then rejects with a `stopped` SyncError. */
  signal?: AbortSignal;
}

/** What {@link uploadSegment} did. */
export interface UploadSegmentResult {
  chunks: number;
  bytes: number;
  /** True when the subject already held a complete copy and nothing was published. */
  skipped: boolean;
  ms: number;
}

/**
 * Publishes the segment file at `path` as chunks on `Subjects.segment(collection, digest)`, unless the
 * subject already holds a complete copy (then `skipped: true`, nothing published).
 *
 * - Refuses (`segment_corrupt`, not transient) a file whose sha256 is not `digest`, before
 *   publishing a byte: a wrong copy under a right name would also poison the duplicate
 *   window for the right one.
 * - Idempotent and safe to retry: each chunk carries `msgID = digest:index`, so a retry
 *   within the stream's duplicate window stores each chunk once, and a retry after a
 *   complete upload is skipped. A failed publish rejects with a typed SyncError
 *   (`publish_timeout` / `nats_unavailable` are transient).
 * - Safe to abort: an interrupted upload leaves an incomplete copy, which readers skip and
 *   the next upload completes or supersedes.
 */
export async function uploadSegment(
  js: JetStreamClient,
  jsm: JetStreamManager,
  opts: UploadSegmentOptions,
): Promise<UploadSegmentResult> {
  const started = performance.now();
  const window = positiveInt('window', opts.window ?? DEFAULT_WINDOW);
  const chunkBytes = positiveInt('chunkBytes', opts.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  assertDigest(opts.digest);
  const subject = Subjects.segment(opts.collection, opts.digest);
  const bytes = (await stat(opts.path)).size;
  const chunks = chunkCountFor(bytes, chunkBytes);
  const ms = (): number => performance.now() - started;

  if (await hasCompleteCopy(jsm, subject, bytes)) return { chunks, bytes, skipped: true, ms: ms() };
  if (opts.verify ?? true) {
    const actual = await sha256File(opts.path);
    if (actual !== opts.digest) {
      throw new SyncError(
        'segment_corrupt',
        `refusing to upload ${opts.path}: its sha256 is ${actual}, not ${opts.digest}`,
        { details: { digest: opts.digest, actual, path: opts.path } },
      );
    }
  }

  const uploadId = randomUUID();
  const inflight: Promise<PubAck>[] = [];
  const fh = await open(opts.path, 'r');
  try {
    for (let index = 0; index < chunks; index++) {
      throwIfStopped(opts.signal, opts.digest);
      const offset = index * chunkBytes;
      const len = Math.min(chunkBytes, bytes - offset);
      // A fresh buffer per chunk: the client may still hold the previous one.
      const data = Buffer.allocUnsafe(len);
      const { bytesRead } = await fh.read(data, 0, len, offset);
      if (bytesRead !== len) {
        throw new SyncError('segment_corrupt', `${opts.path} shrank while it was uploaded`);
      }
      if (inflight.length >= window) checkAck(await (inflight.shift() as Promise<PubAck>));
      const ack = js.publish(subject, data, {
        msgID: `${opts.digest}:${index}`,
        headers: chunkHeaders({ index, count: chunks, totalBytes: bytes, uploadId }),
        // No `expect.streamName`: the header travels with the message, and a leaf region's
        // per-collection mirror (another name) refuses it. The ack's stream is checked below.
      });
      // Observed later, in order; this only keeps an early rejection from being "unhandled".
      ack.catch(() => undefined);
      inflight.push(ack);
    }
    while (inflight.length > 0) checkAck(await (inflight.shift() as Promise<PubAck>));
  } catch (err) {
    await Promise.allSettled(inflight);
    throw publishError(err, opts.digest);
  } finally {
    await fh.close();
  }
  return { chunks, bytes, skipped: false, ms: ms() };
}

/**
 * Conservative completeness check: the last chunk on the subject closes a copy of the same
 * size, and the subject holds at least as many messages as that copy has chunks.
 */
async function hasCompleteCopy(
  jsm: JetStreamManager,
  subject: string,
  bytes: number,
): Promise<boolean> {
  try {
    const last = await jsm.streams.getMessage(Streams.segments, { last_by_subj: subject });
    const meta = parseChunkHeaders(last.header);
    if (meta === null || meta.index !== meta.count - 1 || meta.totalBytes !== bytes) return false;
    const info = await jsm.streams.info(Streams.segments, { subjects_filter: subject });
    return (info.state.subjects?.[subject] ?? 0) >= meta.count;
  } catch (err) {
    // 10037: no message on the subject.
    if (jsErrorCode(err) === 10037 || /no message found/i.test(String(err))) return false;
    throw fromNatsError(err, `cannot look up segment subject ${subject}`);
  }
}

function checkAck(ack: PubAck): void {
  if (ack.stream !== Streams.segments || !(ack.seq > 0)) {
    throw new SyncError(
      'stream_config',
      `chunk stored in stream ${ack.stream} seq ${ack.seq}, expected ${Streams.segments}`,
    );
  }
}

function publishError(err: unknown, digest: string): SyncError {
  if (err instanceof SyncError) return err;
  const what = `cannot upload segment ${digest}`;
  if (isTransientNatsError(err) && /timeout/i.test(String(err))) {
    return new SyncError('publish_timeout', `${what}: ${String(err)}`, {
      cause: err,
      transient: true,
      details: { digest },
    });
  }
  return fromNatsError(err, what);
}

function throwIfStopped(signal: AbortSignal | undefined, digest: string): void {
  if (signal?.aborted) {
    throw new SyncError('stopped', `upload of segment ${digest} aborted`, {
      cause: signal.reason,
      transient: true,
    });
  }
}
