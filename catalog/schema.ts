/**
 * The catalog's SQLite schema as code. `npm run db:generate` turns changes here into a
 * migration in `catalog/migrations` (committed); `openCatalog` applies pending ones.
 *
 * Invariants the database itself enforces, so that no code path can break them:
 * - one `active` and at most one `staging` generation per collection (partial unique index);
 * - manifests, links and tombstones belong to an existing generation, and removing a
 *   manifest removes its links and tombstones (cascading foreign keys);
 * - a link never points at a missing segment row.
 * `wal_log` and `node_state` are deliberately outside that web of foreign keys (see there).
 */
import { sql } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import {
  blob,
  check,
  foreignKey,
  index,
  integer,
  primaryKey,
  sqliteTable,
  text,
  uniqueIndex,
} from 'drizzle-orm/sqlite-core';
// Values come from index's dependency-free contract file, not its barrel: the barrel
// loads hnswlib-node and apache-arrow (~0.5 s), which neither the catalog nor
// drizzle-kit (it loads this schema) needs. Types go through the barrel.
import { Metrics } from '../index/types.ts';
import { AckModes, GenerationStates } from './types.ts';

/** Default staleness bound of a collection, in ms, when `createCollection` is not given one. */
export const DEFAULT_MAX_STALENESS_MS = 5_000;

function oneOf(column: SQLiteColumn, values: readonly string[]) {
  const list = values.map((v) => `'${v.replaceAll("'", "''")}'`).join(', ');
  return sql`${column} in (${sql.raw(list)})`;
}

export const collections = sqliteTable(
  'collections',
  {
    name: text('name').primaryKey(),
    dim: integer('dim').notNull(),
    metric: text('metric', { enum: Metrics }).notNull(),
    hnswM: integer('hnsw_m').notNull(),
    hnswEfConstruction: integer('hnsw_ef_construction').notNull(),
    hnswEfSearch: integer('hnsw_ef_search').notNull(),
    /** JSON array of region names, or NULL for every region. */
    placement: text('placement', { mode: 'json' }).$type<string[]>(),
    maxStalenessMs: integer('max_staleness_ms').notNull().default(DEFAULT_MAX_STALENESS_MS),
    defaultAck: text('default_ack', { enum: AckModes }).notNull().default('async'),
    createdAt: text('created_at').notNull(),
  },
  (t) => [
    check('collections_dim_positive', sql`${t.dim} > 0`),
    check('collections_metric', oneOf(t.metric, Metrics)),
    check('collections_default_ack', oneOf(t.defaultAck, AckModes)),
    check(
      'collections_hnsw_positive',
      sql`${t.hnswM} > 0 and ${t.hnswEfConstruction} > 0 and ${t.hnswEfSearch} > 0`,
    ),
    check('collections_staleness', sql`${t.maxStalenessMs} >= 0`),
  ],
);

export const generations = sqliteTable(
  'generations',
  {
    collection: text('collection')
      .notNull()
      .references(() => collections.name, { onDelete: 'cascade' }),
    model: text('model').notNull(),
    dim: integer('dim').notNull(),
    state: text('state', { enum: GenerationStates }).notNull(),
    createdAt: text('created_at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.collection, t.model] }),
    check('generations_dim_positive', sql`${t.dim} > 0`),
    check('generations_state', oneOf(t.state, GenerationStates)),
    // One active and at most one staging generation per collection.
    uniqueIndex('generations_one_per_live_state')
      .on(t.collection, t.state)
      .where(sql`state in ('active', 'staging')`),
  ],
);

export const manifests = sqliteTable(
  'manifests',
  {
    collection: text('collection').notNull(),
    generation: text('generation').notNull(),
    version: integer('version').notNull(),
    coversSeq: integer('covers_seq').notNull(),
    createdAt: text('created_at').notNull(),
    groupId: text('group_id'),
  },
  (t) => [
    primaryKey({ columns: [t.collection, t.generation, t.version] }),
    foreignKey({
      name: 'manifests_generation_fk',
      columns: [t.collection, t.generation],
      foreignColumns: [generations.collection, generations.model],
    }).onDelete('cascade'),
    check('manifests_version_positive', sql`${t.version} > 0`),
    check('manifests_covers_seq', sql`${t.coversSeq} >= 0`),
    index('manifests_group').on(t.groupId),
  ],
);

/** Content-addressed segments; one row per digest however many manifests list it. */
export const segments = sqliteTable(
  'segments',
  {
    digest: text('digest').primaryKey(),
    collection: text('collection').notNull(),
    generation: text('generation').notNull(),
    count: integer('count').notNull(),
    minSeq: integer('min_seq').notNull(),
    maxSeq: integer('max_seq').notNull(),
    bytes: integer('bytes').notNull(),
  },
  (t) => [
    foreignKey({
      name: 'segments_generation_fk',
      columns: [t.collection, t.generation],
      foreignColumns: [generations.collection, generations.model],
    }).onDelete('cascade'),
    check('segments_digest', sql`length(${t.digest}) = 64`),
    check('segments_seq_range', sql`${t.minSeq} >= 0 and ${t.maxSeq} >= ${t.minSeq}`),
    check('segments_sizes', sql`${t.count} >= 0 and ${t.bytes} >= 0`),
    index('segments_generation').on(t.collection, t.generation),
  ],
);

/** Which segments a manifest lists, in order. */
export const manifestSegments = sqliteTable(
  'manifest_segments',
  {
    collection: text('collection').notNull(),
    generation: text('generation').notNull(),
    version: integer('version').notNull(),
    digest: text('digest')
      .notNull()
      .references(() => segments.digest),
    position: integer('position').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.collection, t.generation, t.version, t.digest] }),
    foreignKey({
      name: 'manifest_segments_manifest_fk',
      columns: [t.collection, t.generation, t.version],
      foreignColumns: [manifests.collection, manifests.generation, manifests.version],
    }).onDelete('cascade'),
    index('manifest_segments_digest').on(t.digest),
  ],
);

/** Ids deleted after their segment was sealed, as listed by one manifest version. */
export const tombstones = sqliteTable(
  'tombstones',
  {
    collection: text('collection').notNull(),
    generation: text('generation').notNull(),
    version: integer('version').notNull(),
    pointId: text('point_id').notNull(),
    seq: integer('seq').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.collection, t.generation, t.version, t.pointId] }),
    foreignKey({
      name: 'tombstones_manifest_fk',
      columns: [t.collection, t.generation, t.version],
      foreignColumns: [manifests.collection, manifests.generation, manifests.version],
    }).onDelete('cascade'),
    check('tombstones_seq', sql`${t.seq} >= 0`),
  ],
);

/** This node's progress, one row per collection+generation. */
export const replicaState = sqliteTable(
  'replica_state',
  {
    collection: text('collection').notNull(),
    generation: text('generation').notNull(),
    /** 0 until a manifest is applied. */
    appliedVersion: integer('applied_version').notNull().default(0),
    appliedSeq: integer('applied_seq').notNull().default(0),
    updatedAt: text('updated_at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.collection, t.generation] }),
    foreignKey({
      name: 'replica_state_generation_fk',
      columns: [t.collection, t.generation],
      foreignColumns: [generations.collection, generations.model],
    }).onDelete('cascade'),
    check('replica_state_progress', sql`${t.appliedVersion} >= 0 and ${t.appliedSeq} >= 0`),
  ],
);

/**
 * The local WAL log: raw WAL entries this node has consumed (and acked to JetStream) but
 * not yet seen sealed into its applied manifest. Rows at or below a manifest's
 * `coversSeq` are deleted in the transaction that applies it.
 *
 * No foreign key to `generations`, on purpose: the WAL and the catalog records travel on
 * different streams, so an entry may be consumed before this node has stored its
 * collection or generation row, and the entry must still be stored (it is acked) rather
 * than rejected; and a cascade from dropping a generation must not silently delete
 * entries that were acked as durable.
 */
export const walLog = sqliteTable(
  'wal_log',
  {
    /** The JetStream WAL stream sequence: global across collections, so the key alone. */
    seq: integer('seq').primaryKey(),
    collection: text('collection').notNull(),
    generation: text('generation').notNull(),
    /** The encoded WAL entry, opaque to the catalog. */
    payload: blob('payload', { mode: 'buffer' }).notNull(),
  },
  (t) => [
    check('wal_log_seq_positive', sql`${t.seq} > 0`),
    index('wal_log_generation_seq').on(t.collection, t.generation, t.seq),
  ],
);

/** Node-level positions and flags, e.g. `wal.storedSeq` (the WAL consumer's highest stored seq). */
export const nodeState = sqliteTable('node_state', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
});
