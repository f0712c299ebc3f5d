import type { Metadata, SegmentHeader } from './types.ts';
import type { SegmentFileHeader } from './segment-format.ts';

/** What the main thread sends a worker to build one segment file. */
export interface BuildRequest {
  op: 'build';
  header: SegmentHeader;
  ids: string[];
  seqs: Float64Array;
  /** count × dim, row-major; transferred, not copied. */
  vectors: Float32Array;
  metadata: Array<Metadata | null>;
  /** Directory the finished file is renamed into, as `<sha256>`. */
  dir: string;
}

export interface BuildResult {
  digest: string;
  path: string;
  bytes: number;
  header: SegmentFileHeader;
  buildMs: number;
}

/** What the main thread sends a worker to verify and unpack one segment file. */
export interface UnpackRequest {
  op: 'unpack';
  path: string;
  /** When set, the file's sha256 must equal it. */
  expectedDigest: string | null;
  /**
   * Skip hashing and take `expectedDigest` as the digest: only for a file this process
   * verified already (a fetch that hashed the bytes as it wrote them).
   */
  trustDigest?: boolean;
  /** Where to write the extracted HNSW graph for hnswlib's `readIndex` (it takes paths only); null to skip it. */
  graphPath: string | null;
  /** Also return the vectors (compaction needs them; serving does not). */
  withVectors: boolean;
  /**
   * Only part of the work, for a trusted file (`trustDigest`), so that two workers split
   * it and the graph can be read while the data decodes: `graph` writes the graph to
   * `graphPath` and returns the header with no points; `data` decodes the points and
   * writes no graph. Default: both.
   */
  part?: 'graph' | 'data';
}

export interface UnpackResult {
  digest: string;
  header: SegmentFileHeader;
  bytes: number;
  ids: string[];
  seqs: Float64Array;
  metadata: Array<Metadata | null>;
  vectors: Float32Array | null;
  hashMs: number;
}
