/**
 * Public contracts of the sync module: what travels on the CATALOG and STATE streams,
 * and what a write's acknowledgement says.
 */
import type { AckMode, CollectionSettings, Generation } from '../catalog/index.ts';

/** A collection's definition as published on CATALOG: settings and generations. */
export interface CollectionDef {
  settings: CollectionSettings;
  generations: Generation[];
  /**
   * The primary's last committed WAL seq when it published this definition. A WAL entry or
   * manifest at or below it, of a generation this definition does not list, belongs to a
   * dropped generation (issue 14); above it, the definition may simply be older.
   */
  walSeq?: number;
}

/** Where one replica stands on one collection generation. */
export interface ReplicaCollectionState {
  collection: string;
  generation: string;
  /** Applied manifest version (0 = none yet). */
  version: number;
  /** The manifest's coversSeq. */
  coversSeq: number;
  /** Points served (segments and memtable). */
  points: number;
  /** The generation's state on this replica: active, staging or retired (issue 14). */
  state?: Generation['state'];
  /** The last manifest that failed to apply, and why; null when the last attempt succeeded. */
  error: { version: number; message: string; at: string } | null;
}

/** A replica's heartbeat on STATE (`meridian.state.replica.<region>.<node>`). */
export interface Heartbeat {
  region: string;
  node: string;
  role: 'primary' | 'follower';
  /**
   * Highest WAL seq up to which this replica has applied every entry of the collections its
   * region holds (global across collections; in the hub region, every collection).
   */
  appliedSeq: number;
  /** Commit time (ms since epoch, primary's clock) of the WAL entry at appliedSeq. */
  appliedCommitTime: number;
  collections: ReplicaCollectionState[];
  /** Where this replica answers HTTP queries, when it does (set by services). */
  url?: string;
  /** ms since epoch when this heartbeat was sent. */
  time: number;
  /** Heartbeat interval: a replica silent for a few of these is out. */
  intervalMs: number;
  /**
   * Set while this node cannot store what it receives (a full disk, a write error): its
   * position may stop moving, and routers do not choose it for reads that need fresh data.
   */
  storageError?: string;
}

/**
 * The primary's commit position on STATE (`meridian.state.primary`), published on every
 * interval even when idle, so a quiet system is not judged stale. `commits` samples
 * (seq, commit time) pairs — at least the first commit of each sampling bucket — so a
 * router can bound any replica's staleness from above.
 */
export interface PrimaryBeacon {
  node: string;
  region: string;
  lastSeq: number;
  lastCommitTime: number;
  commits: Array<[firstSeq: number, firstTime: number, lastSeq: number]>;
  /**
   * The last committed seq of every collection that has WAL entries, as of `lastSeq`. A
   * leaf region receives only its collections' entries; with this it knows that it has
   * every entry of a collection up to `lastSeq` (ADR 0011).
   */
  collections?: Record<string, number>;
  time: number;
  intervalMs: number;
  url?: string;
}

/** What the primary answers for a write. */
export interface WriteAck {
  seq: number;
  mode: AckMode;
  /** True when the mode's condition was met before the timeout. */
  replicated: boolean;
  /** Regions that have applied the write (the primary's own region included). */
  appliedRegions: string[];
  /** Regions the mode waits for that had not applied it when we answered. */
  pendingRegions: string[];
  /** Set when the mode's timeout expired: durable on the primary, replication still pending. */
  timedOut: boolean;
}

/** Sent by a replica after each applied WAL batch (core NATS `meridian.applied.<region>.<node>`). */
export interface AppliedNotice {
  region: string;
  node: string;
  appliedSeq: number;
}
