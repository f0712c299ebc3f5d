/**
 * index/ — the vector engine of a replica. HNSW segments on hnswlib-node (built and
 * verified in worker threads, one immutable content-addressed file each), the exact
 * flat index that is their oracle, the memtable of unsealed writes, and the view that
 * merges top-k across all of them with newest-write-wins shadowing and tombstones; the
 * hosts that keep each view once, on a view thread or the event loop, behind a handle.
 * hnswlib-node and apache-arrow are used only inside this folder.
 */
export * from './types.ts';
export * from './errors.ts';
export {
  pointLimits,
  validatePoints,
  toVector,
  assertMetric,
  assertDim,
  assertId,
  isValidId,
} from './validate.ts';
export { searchLimits } from './search-options.ts';
export { compileFilter } from './filter.ts';
export type { MetadataPredicate } from './filter.ts';
export { scoreFromDistance, compareHits } from './metric.ts';
export { FlatIndex } from './flat-index.ts';
export { Memtable } from './memtable.ts';
export type { MemtableEntry } from './memtable.ts';
export { Segment } from './segment.ts';
export { IndexView } from './index-view.ts';
export type { IndexTombstone, SealedState, StoredPoint } from './index-view.ts';
export {
  buildSegment,
  loadSegment,
  readSegmentPoints,
  closeIndexWorkers,
  indexStats,
  extractSegmentGraph,
} from './segment-store.ts';
export type { BuildSegmentOptions, LoadSegmentOptions, LoadTimings } from './segment-store.ts';
export type { BuildResult } from './segment-jobs.ts';
export type { SegmentFileHeader } from './segment-format.ts';
export { SEGMENT_FORMAT_VERSION } from './segment-format.ts';
export { encodePointColumns, decodePointColumns } from './arrow-points.ts';
export type { PointColumns } from './arrow-points.ts';
export { readFvecs, readIvecs, writeFvecs, writeIvecs, readNpy, writeNpy } from './vector-files.ts';
export type { Fvecs, Ivecs, Npy } from './vector-files.ts';
export { ViewHandle } from './view-handle.ts';
export type { ViewHost, PreparedInstall } from './view-handle.ts';
export { InlineViewHost } from './inline-view-host.ts';
export { ThreadViewHost } from './thread-view-host.ts';
export type { ThreadViewHostOptions } from './thread-view-host.ts';
export { emptyViewStats } from './view-protocol.ts';
export type {
  IdCoverage,
  SegmentRef,
  SegmentExpect,
  ViewStats,
  MemtableSnapshot,
} from './view-protocol.ts';
export { nativeIdle } from './native-calls.ts';
