/**
 * The HTTP API's JSON shapes, shared by every service and by the client SDK: request
 * schemas (zod, strict: an unknown field is a 400) and response types. DESIGN.md "HTTP
 * API" is the contract; this file is its code.
 */
import { z } from 'zod';
import { isValidId } from '../index/index.ts';

export const ConsistencyLevels = ['strong', 'bounded', 'session', 'eventual'] as const;
export type ConsistencyLevel = (typeof ConsistencyLevels)[number];

export const AckModeSchema = z.enum(['async', 'semi-sync', 'sync']);
export const MetricSchema = z.enum(['cosine', 'l2', 'ip']);

/** `PUT /v1/collections/:name` */
export const CreateCollectionBody = z.strictObject({
  dim: z.number().int().min(1).max(4096),
  metric: MetricSchema,
  model: z.string().min(1).max(128),
  hnsw: z
    .strictObject({
      M: z.number().int().min(2).max(128).optional(),
      efConstruction: z.number().int().min(1).max(4096).optional(),
      efSearch: z.number().int().min(1).max(4096).optional(),
    })
    .optional(),
  placement: z
    .array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/))
    .min(1)
    .nullable()
    .optional(),
  maxStalenessMs: z.number().int().min(0).max(86_400_000).optional(),
  defaultAck: AckModeSchema.optional(),
});
export type CreateCollectionBody = z.infer<typeof CreateCollectionBody>;

/** `POST /v1/collections/:name/generations`: stage a new embedding model (issue 14). */
export const StageGenerationBody = z.strictObject({
  model: z.string().min(1).max(128),
  dim: z.number().int().min(1).max(4096),
  /** Must be the collection's: a metric per generation is not built yet. */
  metric: MetricSchema.optional(),
});
export type StageGenerationBody = z.infer<typeof StageGenerationBody>;

/** `POST /v1/collections/:name/generations/:model/activate` */
export const ActivateGenerationBody = z.strictObject({
  policy: z.enum(['all', 'quorum', 'primary']).optional(),
  /** How long to wait for the regions to reach the fence (ms); 0 or absent checks once. */
  timeoutMs: z.number().int().min(0).max(600_000).optional(),
  /** The share of the active generation's ids the new one must hold (default 1). */
  minCoverage: z.number().min(0).max(1).optional(),
  /** Answer 202 at once and follow it at `GET /v1/activations/:id`. */
  async: z.boolean().optional(),
});

/** `POST /v1/cutovers`: a commit group, several collections flipped together (issue 14). */
export const CutoverBody = z.strictObject({
  activate: z
    .array(z.strictObject({ collection: z.string().min(1), model: z.string().min(1).max(128) }))
    .min(1)
    .max(64)
    .refine(
      (ms) => new Set(ms.map((m) => m.collection)).size === ms.length,
      'each collection may appear once in a cutover',
    ),
  policy: z.enum(['all', 'quorum', 'primary']).optional(),
  timeoutMs: z.number().int().min(0).max(600_000).optional(),
  minCoverage: z.number().min(0).max(1).optional(),
  async: z.boolean().optional(),
});
export type CutoverBody = z.infer<typeof CutoverBody>;

export type ActivateGenerationBody = z.infer<typeof ActivateGenerationBody>;

const PointSchema = z.strictObject({
  id: z.string(),
  vector: z.array(z.number()),
  metadata: z.record(z.string(), z.unknown()).nullable().optional(),
});

const WriteOptionFields = {
  ack: AckModeSchema.optional(),
  timeoutMs: z.number().int().min(0).max(120_000).optional(),
  model: z.string().min(1).max(128).optional(),
  /** Idempotency key: a retried request with the same key is stored once. */
  requestId: z.string().min(1).max(128).optional(),
};

/** `POST /v1/collections/:name/points` (JSON form). */
export const UpsertBody = z.strictObject({
  points: z.array(PointSchema).min(1).max(10_000),
  ...WriteOptionFields,
  /**
   * A backfill's source: the active generation's WAL position the points were embedded
   * from. Points whose id changed or was deleted after it are skipped (issue 14).
   */
  sourceSeq: z.number().int().min(0).optional(),
});
export type UpsertBody = z.infer<typeof UpsertBody>;

/** `POST /v1/collections/:name/points/delete` */
export const DeleteBody = z.strictObject({
  ids: z
    .array(z.string().refine(isValidId, 'id must be 1-256 bytes of well-formed Unicode (UTF-8)'))
    .min(1)
    .max(10_000),
  ...WriteOptionFields,
});
export type DeleteBody = z.infer<typeof DeleteBody>;

const FilterValue = z.union([
  z.string(),
  z.number(),
  z.boolean(),
  z.null(),
  z.strictObject({ $in: z.array(z.union([z.string(), z.number(), z.boolean(), z.null()])) }),
]);

/** What every read may say about the generation it reads and how fresh it must be. */
const ReadFields = {
  model: z.string().min(1).max(128).optional(),
  consistency: z.enum(ConsistencyLevels).default('eventual'),
  maxStalenessMs: z.number().int().min(0).max(86_400_000).optional(),
  token: z.string().min(1).max(512).optional(),
  waitMs: z.number().int().min(0).max(60_000).optional(),
};

/** `POST /v1/collections/:name/query` */
export const QueryBody = z.strictObject({
  vector: z.array(z.number()),
  k: z.number().int().min(1).max(1000).default(10),
  ef: z.number().int().min(1).max(4096).optional(),
  filter: z.record(z.string(), FilterValue).optional(),
  ...ReadFields,
});
export type QueryBody = z.infer<typeof QueryBody>;

/** `POST /v1/collections/:name/points/get`: points by id, at a consistency level. */
export const GetPointsBody = z.strictObject({
  ids: z
    .array(z.string().refine(isValidId, 'id must be 1-256 bytes of well-formed Unicode (UTF-8)'))
    .min(1)
    .max(1_000),
  withVector: z.boolean().optional(),
  ...ReadFields,
});
export type GetPointsBody = z.infer<typeof GetPointsBody>;

/**
 * `GET /v1/collections/:name/points/:id?consistency=…`: one point by id; the read fields
 * come as query parameters (numbers and booleans as text).
 */
export const GetPointQuery = z.strictObject({
  model: ReadFields.model,
  consistency: ReadFields.consistency,
  maxStalenessMs: z.coerce.number().pipe(ReadFields.maxStalenessMs.unwrap()).optional(),
  token: ReadFields.token,
  waitMs: z.coerce.number().pipe(ReadFields.waitMs.unwrap()).optional(),
  withVector: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional(),
});

/** A point read by id, and whether the replica serves it from an HNSW segment yet. */
export interface StoredPointAnswer {
  id: string;
  metadata: Record<string, unknown> | null;
  vector?: number[];
  /** true: in a sealed HNSW segment; false: in the memtable (written, not sealed yet). */
  sealed: boolean;
}

/** Answer of a read by id: the live points, the ids absent or deleted, and where it was served. */
export interface GetPointsResponse extends Omit<QueryResponse, 'results'> {
  points: StoredPointAnswer[];
  missing: string[];
}

/** Answer of `GET …/points/:id`. */
export interface GetPointResponse extends Omit<QueryResponse, 'results'> {
  point: StoredPointAnswer;
}

export interface QueryHit {
  id: string;
  score: number;
  metadata: Record<string, unknown> | null;
}

/** What every query answer says about where it was served. */
export interface QueryResponse {
  results: QueryHit[];
  region: string;
  node: string;
  generation: string;
  version: number;
  appliedSeq: number;
  stalenessMs: number;
  consistency: ConsistencyLevel;
  token: string;
}

/** Answer of a write: 200 when the ack mode was met, 202 when it timed out (durable, replication pending). */
export interface WriteResponse {
  collection: string;
  generation: string;
  seq: number;
  token: string;
  duplicate: boolean;
  /** A `sourceSeq` write: the ids skipped because they changed or were deleted since. */
  skipped?: { count: number; ids: string[] };
  ack: {
    mode: 'async' | 'semi-sync' | 'sync';
    replicated: boolean;
    timedOut: boolean;
    appliedRegions: string[];
    pendingRegions: string[];
  };
}

/** One replica as the router sees it (`GET /v1/regions`). */
export interface ReplicaView {
  region: string;
  node: string;
  role: 'primary' | 'follower';
  url: string | null;
  healthy: boolean;
  /** Why it is unhealthy beyond liveness: a storage error (a full disk), or null. */
  error: string | null;
  rttMs: number | null;
  appliedSeq: number;
  stalenessMs: number;
  lastHeartbeatAgoMs: number;
  versions: Array<{
    collection: string;
    generation: string;
    /** active, staging or retired on that replica (issue 14); null from an older node. */
    state: 'active' | 'staging' | 'retired' | null;
    version: number;
    points: number;
    error: string | null;
  }>;
}

export interface RegionsResponse {
  region: string;
  primary: {
    region: string;
    node: string;
    url: string | null;
    lastSeq: number;
    heardAgoMs: number;
  } | null;
  replicas: ReplicaView[];
}

/** Why the router refused a replica for a query (503 details). */
export interface RefusedReplica {
  region: string;
  node: string;
  reason: string;
}

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}
