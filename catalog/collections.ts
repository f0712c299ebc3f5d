/**
 * Collections: create (idempotent), look up, list. Rows map to the public
 * `CollectionSettings` here and nowhere else.
 */
import { asc, eq } from 'drizzle-orm';
import { CatalogError, CollectionExists } from './errors.ts';
import { insertGeneration, readGeneration } from './generations.ts';
import type { CatalogDb, OpenedDb } from './open.ts';
import { collections } from './schema.ts';
import { readTx, writeTx } from './transactions.ts';
import type { CollectionInput, CollectionSettings } from './types.ts';
import { checkModel, normalizeCollection } from './validation.ts';

type CollectionRow = typeof collections.$inferSelect;

function toSettings(row: CollectionRow): CollectionSettings {
  const placement: unknown = row.placement;
  if (
    placement !== null &&
    !(Array.isArray(placement) && placement.every((r) => typeof r === 'string'))
  ) {
    throw new CatalogError(
      'catalog_corrupt',
      `collection ${row.name}: placement is not a list of regions`,
    );
  }
  return {
    name: row.name,
    dim: row.dim,
    metric: row.metric,
    hnsw: { M: row.hnswM, efConstruction: row.hnswEfConstruction, efSearch: row.hnswEfSearch },
    placement: placement as string[] | null,
    maxStalenessMs: row.maxStalenessMs,
    defaultAck: row.defaultAck,
    createdAt: row.createdAt,
  };
}

/** Settings that define a collection; `createdAt` is when, not what. */
function sameSettings(a: CollectionSettings, b: CollectionSettings): boolean {
  const { createdAt: _a, ...left } = a;
  const { createdAt: _b, ...right } = b;
  return JSON.stringify(left) === JSON.stringify(right);
}

export function readCollection(db: CatalogDb, name: string): CollectionSettings | null {
  const row = db.select().from(collections).where(eq(collections.name, name)).get();
  return row === undefined ? null : toSettings(row);
}

export function getCollection(conn: OpenedDb, name: string): CollectionSettings | null {
  return readTx(conn, 'reading collection', () => readCollection(conn.db, name));
}

export function listCollections(conn: OpenedDb): CollectionSettings[] {
  return readTx(conn, 'listing collections', () =>
    conn.db.select().from(collections).orderBy(asc(collections.name)).all().map(toSettings),
  );
}

export function createCollection(conn: OpenedDb, input: CollectionInput): CollectionSettings {
  const settings = normalizeCollection(input);
  const model = input.model === undefined ? undefined : checkModel(input.model);
  return writeTx(conn, 'creating collection', () => {
    const existing = readCollection(conn.db, settings.name);
    if (existing !== null) {
      if (!sameSettings(existing, settings)) {
        throw new CollectionExists(settings.name, { existing, requested: settings });
      }
      if (model !== undefined && readGeneration(conn.db, settings.name, model) === null) {
        throw new CollectionExists(settings.name, { missingModel: model });
      }
      return existing;
    }
    const { hnsw, ...rest } = settings;
    conn.db
      .insert(collections)
      .values({
        ...rest,
        hnswM: hnsw.M,
        hnswEfConstruction: hnsw.efConstruction,
        hnswEfSearch: hnsw.efSearch,
      })
      .run();
    if (model !== undefined) {
      insertGeneration(conn.db, {
        collection: settings.name,
        model,
        dim: settings.dim,
        state: 'active',
        createdAt: settings.createdAt,
      });
    }
    return settings;
  });
}
