/**
 * Public types of the client SDK. The wire shapes (WriteResponse, QueryResponse, ...) come
 * from services/ unchanged; these are the caller-facing inputs around them.
 */
import type { ConsistencyLevel, CreateCollectionBody } from '../services/index.ts';

export type {
  ConsistencyLevel,
  CreateCollectionBody,
  QueryHit,
  QueryResponse,
  RegionsResponse,
  ReplicaView,
  WriteResponse,
} from '../services/index.ts';

/** The answer of an activation (a wire shape of the primary's). */
export type { Activation, ActivationStatus, GroupActivation, RegionWait } from '../sync/index.ts';

/** Options of {@link MeridianClient}. */
export interface MeridianClientOptions {
  /** Base URL of a router (or any node), e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** API key, sent as `Authorization: Bearer KEY`. */
  apiKey: string;
  /** Extra attempts after a transient failure (network, 502/503/504). Default 3. */
  retries?: number;
  /** Base of the exponential backoff between attempts, in ms (jittered). Default 100. */
  backoffMs?: number;
  /** Per-attempt timeout in ms. Default 30 000. */
  timeoutMs?: number;
  /** fetch implementation (default: the global one), e.g. to count or trace requests. */
  fetch?: typeof fetch;
}

export type AckMode = 'async' | 'semi-sync' | 'sync';

/** Per-write options. */
export interface WriteOptions {
  /** Ack mode; default the collection's `defaultAck`. */
  ack?: AckMode;
  /** How long the server waits for the ack mode before answering 202. */
  timeoutMs?: number;
  /** Target generation (embedding model); default the active one. */
  model?: string;
  /**
   * Idempotency key of this logical write. Default: a fresh UUID per call, reused by every
   * retry of that call, so a retried write is stored once.
   */
  requestId?: string;
}

/** How an activation or a cutover is gated (see `activateGeneration`). */
export interface ActivationOptions {
  /** Which regions must have applied everything written before the call (default all). */
  policy?: 'all' | 'quorum' | 'primary';
  /** How long to wait for them (ms); 0 checks once. */
  timeoutMs?: number;
  /** The share of the active generation's ids the new one must hold (0–1, default 1). */
  minCoverage?: number;
}

/** Options of an upsert: a backfill may name the active generation's version it embedded. */
export interface UpsertOptions extends WriteOptions {
  /**
   * The active generation's WAL position the points were read at (the `appliedSeq` of the
   * read). A point whose id changed or was deleted since is skipped and listed in the
   * answer's `skipped`, never written.
   */
  sourceSeq?: number;
}

/** One point to upsert. */
export interface PointInput {
  id: string;
  vector: readonly number[] | Float32Array;
  metadata?: Record<string, unknown> | null;
}

/** A metadata filter: field equals value, or `{$in: [...]}`. */
export type Filter = Record<
  string,
  string | number | boolean | null | { $in: Array<string | number | boolean | null> }
>;

/** A query. */
export interface QueryOptions {
  vector: readonly number[] | Float32Array;
  /** Default 10. */
  k?: number;
  ef?: number;
  filter?: Filter;
  model?: string;
  /** Default `session` while the client holds a session token, else `eventual`. */
  consistency?: ConsistencyLevel;
  maxStalenessMs?: number;
  waitMs?: number;
  /** A session token to read after; default the one the client holds. */
  token?: string;
}

/** Settings of a collection as the primary stores them (answer of `createCollection`). */
export interface CollectionSettings {
  name: string;
  dim: number;
  metric: 'cosine' | 'l2' | 'ip';
  hnsw: { M: number; efConstruction: number; efSearch: number };
  placement: string[] | null;
  maxStalenessMs: number;
  defaultAck: AckMode;
  createdAt: string;
}

/** A collection as a node describes it: settings, generations, and each replica's state. */
export interface CollectionInfo extends CollectionSettings {
  generations: Array<{
    model: string;
    dim: number;
    state: string;
    version: number;
    points: number;
    /**
     * A staging or retired generation against the active one on the node asked: the share
     * of the active ids it holds (`ratio`), how many it lacks and how many only it has.
     */
    coverage: {
      of: string;
      ratio: number;
      missing: number;
      extra: number;
      missingSample: string[];
      extraSample: string[];
    } | null;
  }>;
  replicas: Array<{
    region: string;
    node: string;
    role: string;
    appliedSeq: number;
    stalenessMs: number | null;
    healthy: boolean;
    versions: Array<{ generation: string; version: number; error: string | null }>;
  }>;
}

/** Input of `createCollection` (the `PUT` body). */
export type CreateCollectionInput = CreateCollectionBody;
