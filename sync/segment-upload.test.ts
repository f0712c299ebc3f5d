import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer } from '../dev/harness/nats-server.ts';
import type { NatsServerHandle } from '../dev/harness/nats-server.ts';
import { makeTempDir } from '../dev/harness/tmp.ts';
import type { TempDir } from '../dev/harness/tmp.ts';
import { connectNats } from './connection.ts';
import type { NatsLink } from './connection.ts';
import { isSyncError } from './errors.ts';
import { DEFAULT_CHUNK_BYTES, chunkHeaders, parseChunkHeaders } from './segment-chunks.ts';
import { uploadSegment } from './segment-upload.ts';
import { ensureStreams } from './streams.ts';
import { Streams, Subjects } from './subjects.ts';

/** Chunk subjects carry a collection; these tests use one. */
const SEG_COLLECTION = 'docs';
let server: NatsServerHandle;
let link: NatsLink;
let tmp: TempDir;

beforeAll(async () => {
  server = await startNatsServer();
  link = await connectNats({ servers: server.url });
  await ensureStreams(link.jsm);
  tmp = await makeTempDir('segment-upload');
});

afterAll(async () => {
  await link?.close();
  await server?.stop();
  await tmp?.cleanup();
});

async function segmentFile(bytes: number): Promise<{ path: string; digest: string }> {
  const data = randomBytes(bytes);
  const digest = createHash('sha256').update(data).digest('hex');
  const path = join(tmp.path, digest);
  await writeFile(path, data);
  return { path, digest };
}

async function messagesOn(digest: string): Promise<number> {
  const subject = Subjects.segment(SEG_COLLECTION, digest);
  const info = await link.jsm.streams.info(Streams.segments, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

describe('uploadSegment', () => {
  it('publishes a file as ~1 MiB chunks carrying index, count, size and upload id', async () => {
    const bytes = 5 * 1024 * 1024 + 123;
    const { path, digest } = await segmentFile(bytes);
    const res = await uploadSegment(link.js, link.jsm, {
      collection: SEG_COLLECTION,
      digest,
      path,
    });
    const expected = Math.ceil(bytes / DEFAULT_CHUNK_BYTES);
    expect(res).toMatchObject({ chunks: expected, bytes, skipped: false });
    expect(await messagesOn(digest)).toBe(expected);
    const first = await link.jsm.streams.getMessage(Streams.segments, {
      seq:
        (
          await link.jsm.streams.getMessage(Streams.segments, {
            last_by_subj: Subjects.segment(SEG_COLLECTION, digest),
          })
        ).seq -
        (expected - 1),
    });
    const last = await link.jsm.streams.getMessage(Streams.segments, {
      last_by_subj: Subjects.segment(SEG_COLLECTION, digest),
    });
    const firstMeta = parseChunkHeaders(first.header);
    const lastMeta = parseChunkHeaders(last.header);
    expect(firstMeta).toMatchObject({ index: 0, count: expected, totalBytes: bytes });
    expect(lastMeta).toMatchObject({ index: expected - 1, count: expected, totalBytes: bytes });
    expect(lastMeta?.uploadId).toBe(firstMeta?.uploadId);
    expect(first.data.length).toBe(DEFAULT_CHUNK_BYTES);
  });

  it('skips a digest whose subject already holds a complete copy', async () => {
    const { path, digest } = await segmentFile(2 * 1024 * 1024);
    const first = await uploadSegment(link.js, link.jsm, {
      collection: SEG_COLLECTION,
      digest,
      path,
    });
    const second = await uploadSegment(link.js, link.jsm, {
      collection: SEG_COLLECTION,
      digest,
      path,
    });
    expect(first.skipped).toBe(false);
    expect(second).toMatchObject({ skipped: true, chunks: first.chunks });
    expect(await messagesOn(digest)).toBe(first.chunks);
  });

  it('keeps a small window full and acked with small chunks', async () => {
    const { path, digest } = await segmentFile(1024 * 1024);
    const res = await uploadSegment(link.js, link.jsm, {
      collection: SEG_COLLECTION,
      digest,
      path,
      window: 2,
      chunkBytes: 64 * 1024,
    });
    expect(res.chunks).toBe(16);
    expect(await messagesOn(digest)).toBe(16);
  });

  it('refuses a file whose bytes do not hash to its digest, publishing nothing', async () => {
    const { path } = await segmentFile(300_000);
    const wrong = createHash('sha256').update('something else').digest('hex');
    const err = await uploadSegment(link.js, link.jsm, {
      collection: SEG_COLLECTION,
      digest: wrong,
      path,
    }).catch((e) => e);
    expect(isSyncError(err, 'segment_corrupt')).toBe(true);
    expect(await messagesOn(wrong)).toBe(0);
  });

  it('stops with a transient `stopped` error when its signal is aborted', async () => {
    const { path, digest } = await segmentFile(300_000);
    const ac = new AbortController();
    ac.abort();
    const err = await uploadSegment(link.js, link.jsm, {
      collection: SEG_COLLECTION,
      digest,
      path,
      signal: ac.signal,
    }).catch((e) => e);
    expect(isSyncError(err, 'stopped')).toBe(true);
    expect(await messagesOn(digest)).toBe(0);
  });

  it('completes an upload that died midway without storing its chunks twice', async () => {
    const { path, digest } = await segmentFile(1024 * 1024);
    const chunkBytes = 256 * 1024;
    const data = await readFile(path);
    // An earlier upload that published chunks 0 and 1, then died.
    for (const index of [0, 1]) {
      await link.js.publish(
        Subjects.segment(SEG_COLLECTION, digest),
        data.subarray(index * chunkBytes, (index + 1) * chunkBytes),
        {
          msgID: `${digest}:${index}`,
          headers: chunkHeaders({ index, count: 4, totalBytes: data.length, uploadId: 'dead' }),
        },
      );
    }
    const res = await uploadSegment(link.js, link.jsm, {
      collection: SEG_COLLECTION,
      digest,
      path,
      chunkBytes,
    });
    expect(res).toMatchObject({ skipped: false, chunks: 4 });
    // Chunks 0 and 1 are duplicates inside the window: 2 + 2 messages, one complete copy.
    expect(await messagesOn(digest)).toBe(4);
  });
});
