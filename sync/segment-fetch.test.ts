import { createHash, randomBytes } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer } from '../dev/harness/nats-server.ts';
import type { NatsServerHandle } from '../dev/harness/nats-server.ts';
import { makeTempDir } from '../dev/harness/tmp.ts';
import type { TempDir } from '../dev/harness/tmp.ts';
import { waitFor } from '../dev/harness/wait-for.ts';
import { connectNats } from './connection.ts';
import type { NatsLink } from './connection.ts';
import { isSyncError } from './errors.ts';
import { DEFAULT_CHUNK_BYTES, chunkCountFor, chunkHeaders } from './segment-chunks.ts';
import { fetchSegment } from './segment-fetch.ts';
import { uploadSegment } from './segment-upload.ts';
import { ensureStreams } from './streams.ts';
import { Streams, Subjects } from './subjects.ts';

/** Chunk subjects carry a collection; these tests use one. */
const SEG_COLLECTION = 'docs';
let server: NatsServerHandle;
let link: NatsLink;
let tmp: TempDir;
let n = 0;

beforeAll(async () => {
  server = await startNatsServer();
  link = await connectNats({ servers: server.url });
  await ensureStreams(link.jsm);
  tmp = await makeTempDir('segment-fetch');
});

afterAll(async () => {
  await link?.close();
  await server?.stop();
  await tmp?.cleanup();
});

interface Segment {
  data: Buffer;
  digest: string;
  path: string;
}

async function segment(bytes: number): Promise<Segment> {
  const data = randomBytes(bytes);
  const digest = createHash('sha256').update(data).digest('hex');
  const path = join(tmp.path, `src-${digest}`);
  await writeFile(path, data);
  return { data, digest, path };
}

/** A fresh destination path per call. */
function dest(): string {
  n++;
  return join(tmp.path, `dest-${n}`, 'segment.bin');
}

/**
 * Publishes one copy by hand (no msg ids, so nothing is deduplicated): chunk `indices` in
 * that order, optionally with one byte flipped.
 */
async function publishCopy(
  seg: Segment,
  opts: { chunkBytes: number; uploadId: string; indices?: number[]; flip?: number },
): Promise<void> {
  const count = chunkCountFor(seg.data.length, opts.chunkBytes);
  const indices = opts.indices ?? [...Array(count).keys()];
  for (const index of indices) {
    const chunk = Buffer.from(
      seg.data.subarray(index * opts.chunkBytes, (index + 1) * opts.chunkBytes),
    );
    if (opts.flip !== undefined && index === Math.floor(opts.flip / opts.chunkBytes)) {
      const at = opts.flip % opts.chunkBytes;
      chunk[at] = (chunk[at] as number) ^ 0x01;
    }
    await link.js.publish(Subjects.segment(SEG_COLLECTION, seg.digest), chunk, {
      headers: chunkHeaders({
        index,
        count,
        totalBytes: seg.data.length,
        uploadId: opts.uploadId,
      }),
    });
  }
}

async function dirEntries(path: string): Promise<string[]> {
  return readdir(join(path, '..')).catch(() => []);
}

describe('fetchSegment', () => {
  it('round-trips a 5 MiB file: same bytes, same digest, one chunk per ~MiB', async () => {
    const seg = await segment(5 * 1024 * 1024 + 7);
    const up = await uploadSegment(link.js, link.jsm, {
      collection: SEG_COLLECTION,
      digest: seg.digest,
      path: seg.path,
    });
    const destPath = dest();
    const res = await fetchSegment(link.js, {
      collection: SEG_COLLECTION,
      digest: seg.digest,
      destPath,
    });
    const got = await readFile(destPath);
    expect(got.equals(seg.data)).toBe(true);
    expect(createHash('sha256').update(got).digest('hex')).toBe(seg.digest);
    expect(res).toMatchObject({ path: destPath, bytes: seg.data.length, resumedFrom: 0 });
    expect(res.chunks).toBe(Math.ceil(seg.data.length / DEFAULT_CHUNK_BYTES));
    expect(res.chunks).toBe(up.chunks);
    expect(await dirEntries(destPath)).toEqual(['segment.bin']);

    const again = await fetchSegment(link.js, {
      collection: SEG_COLLECTION,
      digest: seg.digest,
      destPath,
    });
    expect(again).toMatchObject({ path: destPath, chunks: 0, bytes: seg.data.length });
  });

  it('skips a copy with one flipped byte and returns the good copy after it', async () => {
    const seg = await segment(1024 * 1024);
    const chunkBytes = 256 * 1024;
    await publishCopy(seg, { chunkBytes, uploadId: 'bad', flip: 600_000 });
    await publishCopy(seg, { chunkBytes, uploadId: 'good' });
    const destPath = dest();
    const res = await fetchSegment(link.js, {
      collection: SEG_COLLECTION,
      digest: seg.digest,
      destPath,
    });
    expect((await readFile(destPath)).equals(seg.data)).toBe(true);
    expect(res.chunks).toBe(4);
  });

  it('throws segment_corrupt and leaves no file when the only copy is bad', async () => {
    const seg = await segment(1024 * 1024);
    await publishCopy(seg, { chunkBytes: 256 * 1024, uploadId: 'bad', flip: 1 });
    const destPath = dest();
    const err = await fetchSegment(link.js, {
      collection: SEG_COLLECTION,
      digest: seg.digest,
      destPath,
    }).catch((e) => e);
    expect(isSyncError(err, 'segment_corrupt')).toBe(true);
    expect(err.transient).toBe(true);
    expect(err.message).toContain(seg.digest);
    expect(await dirEntries(destPath)).toEqual([]);
  });

  it('skips duplicate chunks, an abandoned copy and foreign messages on the way', async () => {
    const seg = await segment(1024 * 1024);
    const chunkBytes = 256 * 1024;
    await publishCopy(seg, { chunkBytes, uploadId: 'died', indices: [0, 1] });
    await publishCopy(seg, { chunkBytes, uploadId: 'gap', indices: [0, 2, 3] });
    await link.js.publish(Subjects.segment(SEG_COLLECTION, seg.digest), Buffer.from('not a chunk'));
    await publishCopy(seg, { chunkBytes, uploadId: 'dup', indices: [0, 1, 1, 0] });
    // ...where index 0 restarts the copy, which then completes:
    await publishCopy(seg, { chunkBytes, uploadId: 'dup', indices: [1, 2, 2, 3] });
    const destPath = dest();
    await fetchSegment(link.js, { collection: SEG_COLLECTION, digest: seg.digest, destPath });
    expect((await readFile(destPath)).equals(seg.data)).toBe(true);
  });

  it('throws segment_missing after the timeout when the subject is empty', async () => {
    const digest = createHash('sha256').update(randomBytes(8)).digest('hex');
    const destPath = dest();
    const err = await fetchSegment(link.js, {
      collection: SEG_COLLECTION,
      digest,
      destPath,
      timeoutMs: 300,
    }).catch((e) => e);
    expect(isSyncError(err, 'segment_missing')).toBe(true);
    expect(err.transient).toBe(true);
    expect(await dirEntries(destPath)).toEqual([]);
  });

  it('resumes after a crash from the chunk after the last one written', async () => {
    const seg = await segment(5 * 1024 * 1024);
    await uploadSegment(link.js, link.jsm, {
      collection: SEG_COLLECTION,
      digest: seg.digest,
      path: seg.path,
    });
    const destPath = dest();
    const crash = new Error('simulated crash after chunk 2');
    const first = fetchSegment(link.js, {
      collection: SEG_COLLECTION,
      digest: seg.digest,
      destPath,
      onChunk: (index) => {
        if (index === 2) throw crash;
      },
    });
    await expect(first).rejects.toBe(crash);
    expect((await dirEntries(destPath)).sort()).toEqual([
      'segment.bin.partial',
      'segment.bin.partial.json',
    ]);

    const seen: number[] = [];
    const res = await fetchSegment(link.js, {
      collection: SEG_COLLECTION,
      digest: seg.digest,
      destPath,
      onChunk: (index) => void seen.push(index),
    });
    expect(res.resumedFrom).toBeGreaterThanOrEqual(2);
    expect(seen[0]).toBe(res.resumedFrom);
    expect((await readFile(destPath)).equals(seg.data)).toBe(true);
    expect(await dirEntries(destPath)).toEqual(['segment.bin']);
  });

  it('rejects with `stopped` when aborted and resumes on the next call', async () => {
    const seg = await segment(2 * 1024 * 1024);
    await uploadSegment(link.js, link.jsm, {
      collection: SEG_COLLECTION,
      digest: seg.digest,
      path: seg.path,
    });
    const destPath = dest();
    const ac = new AbortController();
    const err = await fetchSegment(link.js, {
      collection: SEG_COLLECTION,
      digest: seg.digest,
      destPath,
      signal: ac.signal,
      onChunk: () => ac.abort(),
    }).catch((e) => e);
    expect(isSyncError(err, 'stopped')).toBe(true);
    const res = await fetchSegment(link.js, {
      collection: SEG_COLLECTION,
      digest: seg.digest,
      destPath,
    });
    expect(res.resumedFrom).toBe(1);
    expect((await readFile(destPath)).equals(seg.data)).toBe(true);
  });

  it('holds at most `window` chunks: the server delivers no further ahead of the writer', async () => {
    // nats.js's consume() pulls again as chunks arrive, not as they are written: a slow
    // writer then had nearly the whole segment delivered into memory at once.
    const seg = await segment(64 * 16 * 1024);
    await uploadSegment(link.js, link.jsm, {
      collection: SEG_COLLECTION,
      digest: seg.digest,
      path: seg.path,
      chunkBytes: 16 * 1024,
    });
    const window = 8;
    let maxAhead = 0;
    const res = await fetchSegment(link.js, {
      collection: SEG_COLLECTION,
      digest: seg.digest,
      destPath: dest(),
      window,
      onChunk: async (index) => {
        await new Promise((r) => setTimeout(r, 5)); // a slow disk
        if (index % 8 !== 0) return;
        for await (const c of await link.jsm.consumers.list(Streams.segments)) {
          if (c.config.filter_subject !== Subjects.segment(SEG_COLLECTION, seg.digest)) continue;
          // Chunks the server sent minus the chunks written (index + 1 of them so far).
          maxAhead = Math.max(maxAhead, c.delivered.consumer_seq - (index + 1));
        }
      },
    });
    expect(res.chunks).toBe(64);
    expect(maxAhead).toBeGreaterThan(0);
    expect(maxAhead).toBeLessThanOrEqual(window);
  });

  it('completes a fetch across a nats-server restart in the middle of it', async () => {
    const seg = await segment(6 * 1024 * 1024);
    await uploadSegment(link.js, link.jsm, {
      collection: SEG_COLLECTION,
      digest: seg.digest,
      path: seg.path,
    });
    const destPath = dest();
    let restarted = false;
    const pidBefore = server.pid;
    const res = await fetchSegment(link.js, {
      collection: SEG_COLLECTION,
      digest: seg.digest,
      destPath,
      window: 2, // so that most chunks are still on the server when it restarts
      onChunk: async (index) => {
        if (index !== 1 || restarted) return;
        restarted = true;
        await server.restart();
      },
    });
    expect(restarted).toBe(true);
    expect(server.pid).not.toBe(pidBefore);
    expect(res.resumedFrom).toBe(0);
    expect((await readFile(destPath)).equals(seg.data)).toBe(true);
    // The link is usable again afterwards (the next test file step relies on it).
    await waitFor(() => !link.nc.isClosed(), { timeoutMs: 5_000, message: 'connection open' });
  });
});
