/**
 * Segment transfer throughput, side by side with raw JetStream on the same server in the
 * same run: our upload + fetch (chunk headers, msg ids, sha256 on both sides, a file written,
 * fsynced and renamed) against a bare pipelined publish and ordered-consumer read of the
 * same number of same-size chunks (no hashing, no files). Called by the `replication` suite.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JetStreamClient, PubAck } from 'nats';
import { connectNats } from '../../sync/connection.ts';
import { DEFAULT_CHUNK_BYTES, DEFAULT_WINDOW } from '../../sync/segment-chunks.ts';
import { fetchSegment } from '../../sync/segment-fetch.ts';
import { uploadSegment } from '../../sync/segment-upload.ts';
import { ensureStreams } from '../../sync/streams.ts';
import { Streams, Subjects } from '../../sync/subjects.ts';

/** Chunk subjects carry a collection; the transfer bench uses a scratch one. */
const SEG_COLLECTION = 'bench-transfer';
/**
 * Moves a random file of `bytes` bytes through uploadSegment + fetchSegment, then the same
 * chunks through raw JetStream, on the server at `url`; returns MB/s (10^6 bytes per second).
 * `transfer_mb_s` = bytes / (upload + fetch time); `raw_chunk_mb_s` = bytes / (raw put + raw
 * get time). Creates the Meridian streams if missing; purges every subject it published to
 * and removes its temp files, also when it fails.
 */
export async function measureTransfer(
  url: string,
  bytes: number,
): Promise<{
  upload_mb_s: number;
  fetch_mb_s: number;
  transfer_mb_s: number;
  raw_put_mb_s: number;
  raw_get_mb_s: number;
  raw_chunk_mb_s: number;
}> {
  const link = await connectNats({ servers: url, name: 'meridian-bench-transfer' });
  const dir = await mkdtemp(join(tmpdir(), 'meridian-bench-transfer-'));
  const data = randomBytes(bytes);
  const digest = createHash('sha256').update(data).digest('hex');
  const scratch = Subjects.segment(SEG_COLLECTION, `bench-raw-${randomUUID()}`);
  try {
    await ensureStreams(link.jsm);
    const path = join(dir, 'source.seg');
    await writeFile(path, data);

    let t = performance.now();
    await uploadSegment(link.js, link.jsm, { collection: SEG_COLLECTION, digest, path });
    const uploadMs = performance.now() - t;
    t = performance.now();
    await fetchSegment(link.js, {
      collection: SEG_COLLECTION,
      digest,
      destPath: join(dir, 'fetched.seg'),
    });
    const fetchMs = performance.now() - t;

    t = performance.now();
    const chunks = await rawPut(link.js, scratch, data);
    const putMs = performance.now() - t;
    t = performance.now();
    await rawGet(link.js, scratch, chunks);
    const getMs = performance.now() - t;

    const mbs = (ms: number): number => Math.round((bytes / 1e6 / (ms / 1000)) * 10) / 10;
    return {
      upload_mb_s: mbs(uploadMs),
      fetch_mb_s: mbs(fetchMs),
      transfer_mb_s: mbs(uploadMs + fetchMs),
      raw_put_mb_s: mbs(putMs),
      raw_get_mb_s: mbs(getMs),
      raw_chunk_mb_s: mbs(putMs + getMs),
    };
  } finally {
    for (const filter of [scratch, Subjects.segment(SEG_COLLECTION, digest)]) {
      await link.jsm.streams.purge(Streams.segments, { filter }).catch(() => undefined);
    }
    await link.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Publishes `data` in chunks with the same window as uploadSegment; returns the chunk count. */
async function rawPut(js: JetStreamClient, subject: string, data: Buffer): Promise<number> {
  const inflight: Promise<PubAck>[] = [];
  let chunks = 0;
  for (let off = 0; off < data.length || chunks === 0; off += DEFAULT_CHUNK_BYTES) {
    if (inflight.length >= DEFAULT_WINDOW) await inflight.shift();
    const ack = js.publish(subject, data.subarray(off, off + DEFAULT_CHUNK_BYTES));
    ack.catch(() => undefined);
    inflight.push(ack);
    chunks++;
  }
  await Promise.all(inflight);
  return chunks;
}

/** Reads `count` messages of `subject` with an ordered consumer and the same window. */
async function rawGet(js: JetStreamClient, subject: string, count: number): Promise<void> {
  const consumer = await js.consumers.get(Streams.segments, { filterSubjects: subject });
  const messages = await consumer.consume({ max_messages: DEFAULT_WINDOW });
  let seen = 0;
  for await (const _m of messages) {
    if (++seen === count) break;
  }
  messages.stop();
}
