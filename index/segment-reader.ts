import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { decodePointColumns } from './arrow-points.ts';
import { IndexError } from './errors.ts';
import { PREAMBLE_BYTES, decodeHeader, headerEnd } from './segment-format.ts';
import type { UnpackRequest, UnpackResult } from './segment-jobs.ts';

const CHUNK = 4 << 20;

/**
 * Verifies a segment file and unpacks it in one pass: checks magic, version and
 * header, hashes every byte, copies the HNSW graph to `req.graphPath` (hnswlib reads
 * from paths only) and decodes the Arrow data section. Runs in a worker thread.
 *
 * Nothing is returned unless every check passed; on any failure the extracted graph is
 * removed and a typed error says what was wrong. Read-only on the segment file.
 */
export async function unpackSegmentFile(req: UnpackRequest): Promise<UnpackResult> {
  const started = performance.now();
  const trusted = req.trustDigest === true && req.expectedDigest !== null;
  if (req.part !== undefined && !trusted) {
    throw new IndexError('segment_corrupt', 'a partial unpack needs a trusted digest');
  }
  const wantGraph = req.part !== 'data' && req.graphPath !== null;
  const wantData = req.part !== 'graph';
  const fh = await open(req.path, 'r');
  let out: Awaited<ReturnType<typeof open>> | null = null;
  let ok = false;
  try {
    const size = (await fh.stat()).size;
    const pre = Buffer.alloc(PREAMBLE_BYTES);
    const { bytesRead } = await fh.read(pre, 0, PREAMBLE_BYTES, 0);
    const end = headerEnd(pre.subarray(0, bytesRead));
    const prefix = Buffer.alloc(Math.min(end, size));
    await fh.read(prefix, 0, prefix.length, 0);
    const header = decodeHeader(prefix, size);

    const hash = trusted ? null : createHash('sha256');
    hash?.update(prefix);
    out = wantGraph ? await open(req.graphPath!, 'w') : null;
    const graphEnd = end + header.graphBytes;
    const data = wantData ? Buffer.alloc(header.dataBytes) : null;
    const buf = Buffer.alloc(CHUNK);
    // A trusted file is read only where the wanted parts are; an untrusted one whole.
    let pos = hash || wantGraph ? end : graphEnd;
    const stop = hash || wantData ? size : graphEnd;
    while (pos < stop) {
      const { bytesRead: n } = await fh.read(buf, 0, Math.min(CHUNK, stop - pos), pos);
      if (n === 0) throw new IndexError('segment_truncated', 'segment file ended early');
      const chunk = buf.subarray(0, n);
      hash?.update(chunk);
      const graphPart = Math.max(0, Math.min(n, graphEnd - pos));
      if (graphPart > 0) await out?.write(chunk.subarray(0, graphPart));
      if (graphPart < n) chunk.copy(data!, pos + graphPart - graphEnd, graphPart, n);
      pos += n;
    }
    await out?.close();
    out = null;
    const digest = hash ? hash.digest('hex') : req.expectedDigest!;
    if (req.expectedDigest !== null && digest !== req.expectedDigest) {
      throw new IndexError(
        'segment_mismatch',
        `segment bytes hash to ${digest}, expected ${req.expectedDigest}: the file is corrupted`,
        { details: { expected: req.expectedDigest, actual: digest } },
      );
    }
    const hashMs = performance.now() - started;
    if (data === null) {
      ok = true;
      const none = { ids: [], seqs: new Float64Array(0), metadata: [], vectors: null };
      return { digest, header, bytes: size, ...none, hashMs };
    }
    const cols = decodePointColumns(data, header.dim, {
      requireSeq: true,
      errorCode: 'segment_corrupt',
      withVectors: req.withVectors,
    });
    if (cols.ids.length !== header.count) {
      throw new IndexError(
        'segment_corrupt',
        `segment data holds ${cols.ids.length} points, its header says ${header.count}`,
      );
    }
    ok = true;
    return {
      digest,
      header,
      bytes: size,
      ids: cols.ids,
      seqs: cols.seqs!,
      metadata: cols.metadata,
      vectors: req.withVectors ? cols.vectors : null,
      hashMs,
    };
  } finally {
    await out?.close();
    await fh.close();
    if (!ok && wantGraph) await rm(req.graphPath!, { force: true });
  }
}
