/**
 * The wire format of a segment on the SEGMENTS stream, shared by upload and fetch: a segment
 * is a run of chunk messages on `Subjects.segment(collection, digest)`, each carrying its index, the
 * chunk count, the segment's total bytes and the id of the upload that published it. A
 * "copy" is chunks 0..count-1 in stream order; a subject may hold several copies (a retried
 * upload after the duplicate window), and a reader takes the first one whose sha256 matches.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { headers } from 'nats';
import type { MsgHdrs } from 'nats';
import { Headers } from './subjects.ts';

/**
 * Default chunk size: 1 MiB − 8 KiB, so that one chunk plus its headers stays under the
 * server's default `max_payload` of 1 MiB (which counts headers too).
 */
export const DEFAULT_CHUNK_BYTES = 1024 * 1024 - 8 * 1024;

/** Default number of chunks in flight (publishes awaiting an ack, or messages pulled). */
export const DEFAULT_WINDOW = 32;

/** What a chunk's headers say about it. */
export interface ChunkMeta {
  index: number;
  count: number;
  totalBytes: number;
  uploadId: string;
}

/** The headers of one chunk message. */
export function chunkHeaders(meta: ChunkMeta): MsgHdrs {
  const h = headers();
  h.set(Headers.chunkIndex, String(meta.index));
  h.set(Headers.chunkCount, String(meta.count));
  h.set(Headers.segmentBytes, String(meta.totalBytes));
  h.set(Headers.uploadId, meta.uploadId);
  return h;
}

/** Reads a chunk's headers; `null` when they are missing or inconsistent (not a chunk). */
export function parseChunkHeaders(h: MsgHdrs | undefined): ChunkMeta | null {
  if (h === undefined) return null;
  const index = toCount(h.get(Headers.chunkIndex));
  const count = toCount(h.get(Headers.chunkCount));
  const totalBytes = toCount(h.get(Headers.segmentBytes));
  const uploadId = h.get(Headers.uploadId);
  if (index === null || count === null || totalBytes === null) return null;
  if (uploadId === '' || uploadId.length > 128) return null;
  if (count < 1 || index >= count) return null;
  return { index, count, totalBytes, uploadId };
}

function toCount(text: string): number | null {
  if (!/^\d{1,15}$/.test(text)) return null;
  return Number(text);
}

/** Chunks a segment of `bytes` bytes is cut into (an empty segment is one empty chunk). */
export function chunkCountFor(bytes: number, chunkBytes: number): number {
  return Math.max(1, Math.ceil(bytes / chunkBytes));
}

/**
 * Hashes the first `length` bytes of a file (all of it when omitted) into `hash`, reading
 * `blockBytes` at a time so the event loop is never held for more than one block.
 * Returns the number of bytes hashed (less than `length` when the file is shorter).
 */
export async function hashFileInto(
  hash: Hash,
  path: string,
  length = Number.POSITIVE_INFINITY,
  blockBytes = DEFAULT_CHUNK_BYTES,
): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(blockBytes);
    let done = 0;
    while (done < length) {
      const want = Math.min(blockBytes, length - done);
      const { bytesRead } = await fh.read(buf, 0, want, done);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      done += bytesRead;
    }
    return done;
  } finally {
    await fh.close();
  }
}

/** The sha256 (hex) of a whole file. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await hashFileInto(hash, path);
  return hash.digest('hex');
}

/** Segment names are sha256 hex, which also keeps them safe as a subject token. */
export function assertDigest(digest: string): void {
  if (!/^[0-9a-f]{64}$/.test(digest)) {
    throw new TypeError(`not a lowercase sha256 hex digest: ${JSON.stringify(digest)}`);
  }
}

/** Validates a count-like option. */
export function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}
