/**
 * Public contracts of the catalog module: collection settings, generations, manifests
 * and the replica's applied state, as the rest of Meridian sees them (plain objects,
 * no drizzle types).
 */
import type { HnswParams, Metric } from '../index/index.ts';

export type { HnswParams, Metric };

/** Write acknowledgement modes (DESIGN.md, write path). */
export const AckModes = ['async', 'semi-sync', 'sync'] as const;
export type AckMode = (typeof AckModes)[number];

/**
 * Lifecycle of a generation (one embedding model of a collection). A collection has at
 * most one `active` and at most one `staging` generation; `retired` keeps the data but
 * is not served.
 */
export const GenerationStates = ['active', 'staging', 'retired'] as const;
export type GenerationState = (typeof GenerationStates)[number];

/** One immutable, content-addressed segment as listed in a manifest. */
export interface ManifestSegment {
  /** sha256 of the segment bytes, 64 lowercase hex characters. */
  digest: string;
  count: number;
  minSeq: number;
  maxSeq: number;
  bytes: number;
}

/** An id deleted after the segment that holds it was sealed. */
export interface Tombstone {
  id: string;
  seq: number;
}

/** One version of a collection's generation: the full set of segments and tombstones. */
export interface Manifest {
  collection: string;
  /** The generation's model string, e.g. `minilm-l6@2`. */
  generation: string;
  /** Monotonic per collection+generation, starting at 1. */
  version: number;
  segments: ManifestSegment[];
  tombstones: Tombstone[];
  /** Every WAL entry at or below this seq is inside the segments or tombstones. */
  coversSeq: number;
  createdAt: string;
  /** Commit group id: manifests sharing it are applied together or not at all. */
  group?: string | null;
}

export interface CollectionSettings {
  name: string;
  dim: number;
  metric: Metric;
  hnsw: HnswParams;
  /** Region names the collection may live in, sorted and unique; `null` = every region. */
  placement: string[] | null;
  /** Default staleness bound for `bounded` reads. */
  maxStalenessMs: number;
  defaultAck: AckMode;
  createdAt: string;
}

/** Input of `createCollection`: the settings, with defaults for everything optional. */
export interface CollectionInput {
  name: string;
  dim: number;
  metric: Metric;
  hnsw?: Partial<HnswParams>;
  placement?: string[] | null;
  maxStalenessMs?: number;
  defaultAck?: AckMode;
  /** Defaults to now. Not part of the settings' identity (see `createCollection`). */
  createdAt?: string;
  /**
   * When given, the collection's first generation: created `active`, with the
   * collection's `dim`, in the same transaction as the collection.
   */
  model?: string;
}

export interface Generation {
  collection: string;
  model: string;
  dim: number;
  state: GenerationState;
  createdAt: string;
}

/** What this node has applied for one collection+generation. */
export interface ReplicaState {
  collection: string;
  generation: string;
  /** Version of the applied manifest; 0 when none has been applied yet. */
  appliedVersion: number;
  /** Highest WAL seq applied (through a manifest's `coversSeq` or WAL consumption). */
  appliedSeq: number;
  updatedAt: string;
}

/** What happened to one manifest in `applyManifest`. */
export const ApplyOutcomes = ['applied', 'duplicate', 'stale'] as const;
export type ApplyOutcome = (typeof ApplyOutcomes)[number];

export interface ManifestApplyResult {
  collection: string;
  generation: string;
  version: number;
  /**
   * `applied`: stored and now the replica's applied version; `duplicate`: this exact
   * manifest was already stored; `stale`: older than the replica's applied version.
   */
  outcome: ApplyOutcome;
}

export interface ApplyResult {
  /** True when at least one manifest was applied (the transaction changed something). */
  applied: boolean;
  /** One entry per manifest, in input order. */
  manifests: ManifestApplyResult[];
}

/** Test seams inside the apply transaction. */
export interface ApplyHooks {
  /**
   * Runs inside the transaction after every manifest, segment, link and tombstone row is
   * written and the WAL log entries they seal are deleted, and before replica_state is
   * updated. Throwing rolls the whole transaction back.
   */
  beforeCommit?: () => void;
}

/**
 * One raw WAL entry as consumed from JetStream, for the local WAL log (`appendWal`).
 * `seq` is the WAL stream sequence (global across collections, >= 1); `payload` is the
 * encoded entry, stored as opaque bytes.
 */
export interface WalLogEntry {
  seq: number;
  collection: string;
  /** The generation's model string. */
  generation: string;
  payload: Uint8Array;
  /**
   * This entry activates `generation` (issue 14): storing it makes the generation active
   * and retires the active one, in the same transaction, so a replica that has stored it
   * serves the new generation as active and one that has not serves the old.
   */
  activates?: boolean;
  /**
   * The activation belongs to a commit group: the generations of `held` (the members this
   * node holds, this entry's among them) flip together in the transaction that stores the
   * last of their entries; until then none of them does.
   */
  group?: { id: string; held: Array<{ collection: string; generation: string }> };
}

/** A WAL log entry read back from the catalog; `payload` is a Buffer (a Uint8Array). */
export interface StoredWalEntry extends WalLogEntry {
  payload: Buffer;
}

export interface CatalogOptions {
  /** How long a write waits for another connection's lock before `sqlite_busy`. Default 5000. */
  busyTimeoutMs?: number;
}
