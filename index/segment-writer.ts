import { createHash, randomBytes } from 'node:crypto';
import { open, rename, rm, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { encodePointColumns } from './arrow-points.ts';
import { HierarchicalNSW, HNSW_SEED } from './hnsw.ts';
import { encodePreamble } from './segment-format.ts';
import type { SegmentFileHeader } from './segment-format.ts';
import type { BuildRequest, BuildResult } from './segment-jobs.ts';

/**
 * Builds the HNSW graph for a batch of points and writes one segment file, named by
 * the sha256 of its bytes, into `req.dir`. Runs in a worker thread (it is synchronous
 * CPU work for seconds to minutes).
 *
 * Idempotent: the same points and parameters give the same bytes and so the same
 * name (the build seed is fixed). Safe to abort: it writes to a temporary name and
 * renames only a complete, fsynced file.
 */
export async function buildSegmentFile(req: BuildRequest): Promise<BuildResult> {
  const { header, ids, vectors, seqs, metadata, dir } = req;
  const { dim, count } = header;
  const started = performance.now();
  const index = new HierarchicalNSW(header.metric, dim);
  index.initIndex(Math.max(1, count), header.hnsw.M, header.hnsw.efConstruction, HNSW_SEED);
  const row: number[] = new Array(dim);
  for (let i = 0; i < count; i++) {
    const off = i * dim;
    for (let j = 0; j < dim; j++) row[j] = vectors[off + j]!;
    index.addPoint(row, i);
  }
  const buildMs = performance.now() - started;

  const tag = randomBytes(6).toString('hex');
  const graphTmp = join(dir, `.tmp-${tag}.hnsw`);
  const segTmp = join(dir, `.tmp-${tag}.seg`);
  try {
    index.writeIndexSync(graphTmp);
    const graphBytes = (await stat(graphTmp)).size;
    const data = encodePointColumns({ ids, vectors, metadata, seqs }, dim);
    const fileHeader: SegmentFileHeader = { ...header, graphBytes, dataBytes: data.byteLength };
    const preamble = encodePreamble(fileHeader);

    const hash = createHash('sha256');
    const fh = await open(segTmp, 'w');
    try {
      const put = async (chunk: Uint8Array) => {
        hash.update(chunk);
        await fh.write(chunk);
      };
      await put(preamble);
      for await (const chunk of createReadStream(graphTmp, { highWaterMark: 1 << 20 })) {
        await put(chunk as Buffer);
      }
      await put(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    const digest = hash.digest('hex');
    const path = join(dir, digest);
    await rename(segTmp, path);
    await syncDir(dir);
    const bytes = preamble.length + graphBytes + data.byteLength;
    return { digest, path, bytes, header: fileHeader, buildMs };
  } finally {
    await rm(graphTmp, { force: true });
    await rm(segTmp, { force: true });
  }
}

/** Makes a rename durable: fsync the directory that holds the new name. */
export async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
