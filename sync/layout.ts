import { Streams } from './subjects.ts';

/**
 * Which local stream holds what, as seen by a replica.
 *
 * - In the hub region every collection lives in the hub's four streams (`hubLayout`).
 * - In a leaf region (ADR 0011) the region's server holds a filtered mirror of each hub
 *   stream *per collection placed there*, and a CATALOG mirror holding only collection
 *   definitions; a collection placed elsewhere is never mirrored into the region.
 *   A filtered mirror keeps the hub's sequence numbers, so WAL seqs still mean the same
 *   in every region.
 */
export interface StreamLayout {
  readonly kind: 'hub' | 'leaf';
  /** The hub's JetStream domain (leaf layouts only). */
  readonly hubDomain?: string;
  /** Where collection definitions are (every collection's, in every region). */
  readonly definitions: string;
  /** Where one collection's WAL entries are. */
  wal(collection: string): string;
  /** Where one collection's manifests are. */
  manifests(collection: string): string;
  /** Where one collection's segment chunks are. */
  segments(collection: string): string;
}

export const hubLayout: StreamLayout = {
  kind: 'hub',
  definitions: Streams.catalog,
  wal: () => Streams.wal,
  manifests: () => Streams.catalog,
  segments: () => Streams.segments,
};

/** The name of a leaf region's per-collection mirror of a hub stream. */
export function placedStreamName(hubStream: string, collection: string): string {
  return `${hubStream}__${collection}`;
}

export function leafLayout(hubDomain: string): StreamLayout {
  return {
    kind: 'leaf',
    hubDomain,
    definitions: Streams.catalog,
    wal: (c) => placedStreamName(Streams.wal, c),
    manifests: (c) => placedStreamName(Streams.catalog, c),
    segments: (c) => placedStreamName(Streams.segments, c),
  };
}
