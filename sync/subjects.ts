/**
 * Every NATS stream and subject name Meridian uses, in one place. Collection names are
 * restricted by the catalog to `[A-Za-z0-9][A-Za-z0-9_-]*`, so they are safe subject
 * tokens; generation (model) names are free-form, so a subject carries them hex-encoded.
 */

export const Streams = {
  /** Every write: one subject per collection. Its stream sequence is the global WAL seq. */
  wal: 'MERIDIAN_WAL',
  /** Manifests and collection definitions: a few subjects per collection, recent versions kept. */
  catalog: 'MERIDIAN_CATALOG',
  /** Segment bytes as ~1 MiB chunk messages, one subject per segment digest. */
  segments: 'MERIDIAN_SEGMENTS',
  /** Heartbeats and commit positions: the last message per subject is the current state. */
  state: 'MERIDIAN_STATE',
} as const;

/** Key-value buckets (JetStream KV) on the hub. */
export const Buckets = {
  /** The primary lease: one key, held by the one primary allowed to take writes. */
  primaryLease: 'MERIDIAN_PRIMARY',
} as const;

const P = 'meridian';

export const Subjects = {
  walAll: `${P}.wal.>`,
  wal: (collection: string) => `${P}.wal.${collection}`,
  catalogAll: `${P}.catalog.>`,
  /** A collection's definition (settings and generations); the last message is current. */
  collectionDef: (collection: string) => `${P}.catalog.${collection}.def`,
  /**
   * The manifests of one generation of a collection, in version order. The generation
   * (a free-form model name) is hex-encoded into one safe token.
   */
  manifest: (collection: string, generation: string) =>
    `${P}.catalog.${collection}.manifest.${Buffer.from(generation, 'utf8').toString('hex')}`,
  segmentsAll: `${P}.seg.>`,
  /** A segment's chunks. The collection is in the subject so a region can mirror only its own. */
  segment: (collection: string, digest: string) => `${P}.seg.${collection}.${digest}`,
  segmentsOf: (collection: string) => `${P}.seg.${collection}.>`,
  /** Every definition, and nothing else: what a leaf region's CATALOG mirror holds. */
  collectionDefAll: `${P}.catalog.*.def`,
  catalogOf: (collection: string) => `${P}.catalog.${collection}.>`,
  stateAll: `${P}.state.>`,
  /** The primary's commit position and time, published even when idle. */
  primaryState: `${P}.state.primary`,
  /** One replica's heartbeat. */
  replicaState: (region: string, node: string) => `${P}.state.replica.${region}.${node}`,
  replicaStateAll: `${P}.state.replica.>`,
  /** Core NATS (not stored): a replica announces new applied positions as soon as it has them. */
  applied: (region: string, node: string) => `${P}.applied.${region}.${node}`,
  appliedAll: `${P}.applied.>`,
  /** Core NATS request/reply: the primary answers with its last committed seq (read-index). */
  commitPosition: `${P}.commit`,
} as const;

/** Headers carried by WAL, manifest and chunk messages. */
export const Headers = {
  collection: 'Meridian-Collection',
  generation: 'Meridian-Generation',
  op: 'Meridian-Op',
  chunkIndex: 'Meridian-Chunk',
  chunkCount: 'Meridian-Chunks',
  segmentBytes: 'Meridian-Bytes',
  uploadId: 'Meridian-Upload',
} as const;

/** A token that is safe inside a subject (regions, node ids). */
export function assertSubjectToken(kind: string, value: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(value)) {
    throw new Error(`${kind} ${JSON.stringify(value)} must match [A-Za-z0-9][A-Za-z0-9_-]*`);
  }
  return value;
}
