import { IndexError } from './errors.ts';
import { Metrics } from './types.ts';
import type { SegmentHeader } from './types.ts';

/**
 * The segment file layout (all integers little-endian):
 *
 * | bytes        | what                                                        |
 * | ------------ | ----------------------------------------------------------- |
 * | 0..8         | magic `MRDNSEG\0`                                           |
 * | 8..12        | format version (u32)                                        |
 * | 12..16       | header length H (u32)                                       |
 * | 16..16+H     | header, UTF-8 JSON: {@link SegmentFileHeader}               |
 * | next G bytes | the HNSW graph exactly as hnswlib `writeIndex` wrote it     |
 * | next D bytes | Arrow IPC stream: id, seq, vector, metadata (see arrow-section) |
 *
 * The sha256 of the whole file is the segment's id (its digest). A reader checks the
 * magic, the version, the header and the lengths before it trusts any byte, and the
 * digest before it loads anything.
 */
export const SEGMENT_MAGIC = Buffer.from('MRDNSEG\0', 'latin1');
export const SEGMENT_FORMAT_VERSION = 1;
export const PREAMBLE_BYTES = 16;
const MAX_HEADER_BYTES = 64 * 1024;

export interface SegmentFileHeader extends SegmentHeader {
  graphBytes: number;
  dataBytes: number;
}

export function encodePreamble(header: SegmentFileHeader): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const pre = Buffer.alloc(PREAMBLE_BYTES);
  SEGMENT_MAGIC.copy(pre, 0);
  pre.writeUInt32LE(SEGMENT_FORMAT_VERSION, 8);
  pre.writeUInt32LE(json.length, 12);
  return Buffer.concat([pre, json]);
}

/** How many bytes the preamble plus header take, read from the first 16 bytes. */
export function headerEnd(first16: Uint8Array): number {
  const buf = Buffer.from(first16.buffer, first16.byteOffset, first16.byteLength);
  if (buf.length < PREAMBLE_BYTES) {
    throw new IndexError('segment_truncated', 'segment file is shorter than its preamble');
  }
  if (!buf.subarray(0, 8).equals(SEGMENT_MAGIC)) {
    throw new IndexError('segment_corrupt', 'not a Meridian segment file (bad magic)');
  }
  const version = buf.readUInt32LE(8);
  if (version !== SEGMENT_FORMAT_VERSION) {
    throw new IndexError(
      'segment_version',
      `segment format version ${version} is not supported (this build reads version ${SEGMENT_FORMAT_VERSION})`,
      { details: { version } },
    );
  }
  const len = buf.readUInt32LE(12);
  if (len === 0 || len > MAX_HEADER_BYTES) {
    throw new IndexError('segment_corrupt', `segment header length ${len} is out of range`);
  }
  return PREAMBLE_BYTES + len;
}

/** Parses and checks the header; `fileBytes` is the whole file's size. */
export function decodeHeader(prefix: Uint8Array, fileBytes: number): SegmentFileHeader {
  const end = headerEnd(prefix);
  if (prefix.byteLength < end || fileBytes < end) {
    throw new IndexError('segment_truncated', 'segment file ends inside its header');
  }
  let h: SegmentFileHeader;
  try {
    h = JSON.parse(Buffer.from(prefix.subarray(PREAMBLE_BYTES, end)).toString('utf8'));
  } catch (cause) {
    throw new IndexError('segment_corrupt', 'segment header is not valid JSON', { cause });
  }
  const ints = ['dim', 'count', 'minSeq', 'maxSeq', 'graphBytes', 'dataBytes'] as const;
  const bad =
    typeof h !== 'object' ||
    h === null ||
    typeof h.collection !== 'string' ||
    typeof h.generation !== 'string' ||
    !Metrics.includes(h.metric) ||
    ints.some((k) => !Number.isSafeInteger(h[k]) || h[k] < 0) ||
    typeof h.hnsw !== 'object' ||
    h.hnsw === null;
  if (bad) throw new IndexError('segment_corrupt', 'segment header is missing or has bad fields');
  const expected = end + h.graphBytes + h.dataBytes;
  if (fileBytes < expected) {
    throw new IndexError(
      'segment_truncated',
      `segment file is ${fileBytes} bytes, its header says ${expected}`,
    );
  }
  if (fileBytes > expected) {
    throw new IndexError(
      'segment_corrupt',
      `segment file is ${fileBytes} bytes, longer than the ${expected} its header says`,
    );
  }
  return h;
}
