import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isIndexError } from './errors.ts';
import { makePoints } from './searchable-contract.ts';
import { SEGMENT_FORMAT_VERSION } from './segment-format.ts';
import {
  buildSegment,
  closeIndexWorkers,
  loadSegment,
  readSegmentPoints,
} from './segment-store.ts';
import type { BuildResult } from './segment-jobs.ts';

const dim = 12;
const hnsw = { M: 8, efConstruction: 100, efSearch: 40 };
let dir = '';
let built: BuildResult;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meridian-segfile-'));
  built = await buildSegment(makePoints(200, dim, 7), {
    collection: 'docs',
    generation: 'minilm@1',
    dim,
    metric: 'l2',
    hnsw,
    dir,
  });
});
afterAll(async () => {
  await closeIndexWorkers();
  await rm(dir, { recursive: true, force: true });
});

async function variant(name: string, mutate: (b: Buffer) => Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, mutate(await readFile(built.path)));
  return path;
}

async function loadError(path: string, expectedDigest: string | null = built.digest) {
  try {
    await loadSegment(path, { expectedDigest });
  } catch (err) {
    return err;
  }
  throw new Error('expected the load to fail');
}

describe('segment file', () => {
  it('is named by the sha256 of its bytes and carries its header', async () => {
    const { createHash } = await import('node:crypto');
    const bytes = await readFile(built.path);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(built.digest);
    expect(built.header).toMatchObject({
      collection: 'docs',
      generation: 'minilm@1',
      dim,
      metric: 'l2',
      count: 200,
      minSeq: 1,
      maxSeq: 200,
      hnsw,
    });
  });

  it('gives the same bytes for the same points (deterministic build)', async () => {
    const other = await mkdtemp(join(tmpdir(), 'meridian-segfile2-'));
    try {
      const again = await buildSegment(makePoints(200, dim, 7), {
        collection: 'docs',
        generation: 'minilm@1',
        dim,
        metric: 'l2',
        hnsw,
        dir: other,
      });
      // createdAt is inside the header, so only the graph and data must match; compare
      // what a load returns instead of raw bytes.
      const a = await readSegmentPoints(built.path, built.digest);
      const b = await readSegmentPoints(again.path, again.digest);
      expect(b.points.map((p) => p.id)).toEqual(a.points.map((p) => p.id));
      const graphOf = async (path: string) => {
        const bytes = await readFile(path);
        const start = 16 + bytes.readUInt32LE(12);
        return bytes.subarray(start, start + a.header.graphBytes);
      };
      expect((await graphOf(again.path)).equals(await graphOf(built.path))).toBe(true);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it('loads with ef set from the header, since hnswlib does not save it', async () => {
    const { segment } = await loadSegment(built.path, { expectedDigest: built.digest });
    expect(segment.count).toBe(200);
    const hits = segment.search(makePoints(200, dim, 7)[5]!.vector, { k: 3 });
    expect(hits[0]!.id).toBe('p5');
    // efSearch 40 from the header is what the graph searched with.
    expect((segment as unknown as { ef: number }).ef).toBe(40);
  });

  it('reads back every point with its seq and metadata', async () => {
    const { points } = await readSegmentPoints(built.path, built.digest);
    const src = makePoints(200, dim, 7);
    expect(points).toHaveLength(200);
    expect(points[9]!.seq).toBe(10);
    expect(points[9]!.metadata).toEqual(src[9]!.metadata);
    expect(Array.from(points[9]!.vector)).toEqual(Array.from(src[9]!.vector));
  });

  it('rejects a flipped byte in the graph with a digest mismatch', async () => {
    const path = await variant('flipped', (b) => {
      const c = Buffer.from(b);
      c[Math.floor(c.length / 2)]! ^= 0xff;
      return c;
    });
    const err = await loadError(path);
    expect(isIndexError(err, 'segment_mismatch')).toBe(true);
    expect(String(err)).toMatch(/corrupted/);
  });

  it('rejects a truncated file before hashing it', async () => {
    const path = await variant('truncated', (b) => b.subarray(0, b.length - 100));
    expect(isIndexError(await loadError(path), 'segment_truncated')).toBe(true);
  });

  it('with trustDigest skips only the hash: the structure is still checked', async () => {
    const trusted = await loadSegment(built.path, {
      expectedDigest: built.digest,
      trustDigest: true,
    });
    expect(trusted.segment.digest).toBe(built.digest);
    expect(trusted.segment.count).toBe(200);
    const path = await variant('truncated-trusted', (b) => b.subarray(0, b.length - 100));
    const err = await loadSegment(path, { expectedDigest: built.digest, trustDigest: true }).catch(
      (e: unknown) => e,
    );
    expect(isIndexError(err, 'segment_truncated')).toBe(true);
  });

  it('a trusted load (graph and data unpacked by two workers) serves what a verified load serves', async () => {
    const verified = await loadSegment(built.path, { expectedDigest: built.digest });
    const trusted = await loadSegment(built.path, {
      expectedDigest: built.digest,
      trustDigest: true,
    });
    const queries = makePoints(20, dim, 99);
    for (const q of queries) {
      expect(trusted.segment.search(q.vector, { k: 5 })).toEqual(
        verified.segment.search(q.vector, { k: 5 }),
      );
    }
    const label = trusted.segment.labelOf('p9');
    expect(label).not.toBeNull();
    expect(Array.from(trusted.segment.vectorOf(label!))).toEqual(
      Array.from(makePoints(200, dim, 7)[9]!.vector),
    );
    // A damaged data section is refused (the split load decodes it on its own worker).
    const dataStart = built.bytes - built.header.dataBytes;
    const path = await variant('bad-data', (b) => {
      const c = Buffer.from(b);
      c.fill(0x7f, dataStart, dataStart + 64);
      return c;
    });
    const err = await loadSegment(path, { expectedDigest: built.digest, trustDigest: true }).catch(
      (e: unknown) => e,
    );
    expect(isIndexError(err, 'segment_corrupt')).toBe(true);
    // And so is a header naming another collection, before the graph is read.
    await expect(
      loadSegment(built.path, {
        expectedDigest: built.digest,
        trustDigest: true,
        expect: { collection: 'other' },
      }),
    ).rejects.toMatchObject({ code: 'segment_mismatch' });
  });

  it('rejects a file with trailing bytes', async () => {
    const path = await variant('long', (b) => Buffer.concat([b, Buffer.from('xx')]));
    expect(isIndexError(await loadError(path), 'segment_corrupt')).toBe(true);
  });

  it('rejects an unknown format version by name', async () => {
    const path = await variant('v99', (b) => {
      const c = Buffer.from(b);
      c.writeUInt32LE(99, 8);
      return c;
    });
    const err = await loadError(path, null);
    expect(isIndexError(err, 'segment_version')).toBe(true);
    expect(String(err)).toMatch(`version 99 is not supported`);
    expect(String(err)).toMatch(`reads version ${SEGMENT_FORMAT_VERSION}`);
  });

  it('rejects a file that is not a segment (bad magic)', async () => {
    const path = await variant('magic', (b) =>
      Buffer.concat([Buffer.from('NOTASEG!'), b.subarray(8)]),
    );
    expect(isIndexError(await loadError(path, null), 'segment_corrupt')).toBe(true);
  });

  it('rejects a corrupted header even when no digest is expected', async () => {
    const path = await variant('header', (b) => {
      const c = Buffer.from(b);
      c[17] = 0x00; // inside the header JSON
      return c;
    });
    expect(isIndexError(await loadError(path, null), 'segment_corrupt')).toBe(true);
  });

  it('rejects a segment of another collection than expected', async () => {
    const copy = join(dir, 'copy');
    await copyFile(built.path, copy);
    await expect(
      loadSegment(copy, { expectedDigest: built.digest, expect: { collection: 'other' } }),
    ).rejects.toMatchObject({ code: 'segment_mismatch' });
  });
});
