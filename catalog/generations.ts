/**
 * Generations (one embedding model of a collection) and their lifecycle. The database
 * enforces one `active` and at most one `staging` per collection; activation moves the
 * previous active generation to `retired` in the same transaction, so every reader sees
 * exactly one active generation at any time.
 */
import { and, asc, eq } from 'drizzle-orm';
import { GenerationConflict, NotFound } from './errors.ts';
import type { CatalogDb, OpenedDb } from './open.ts';
import { collections, generations } from './schema.ts';
import { readTx, writeTx } from './transactions.ts';
import type { Generation, GenerationState } from './types.ts';
import { checkCollectionName, checkDim, checkGenerationState, checkModel } from './validation.ts';

const byKey = (collection: string, model: string) =>
  and(eq(generations.collection, collection), eq(generations.model, model));

export function readGeneration(
  db: CatalogDb,
  collection: string,
  model: string,
): Generation | null {
  return db.select().from(generations).where(byKey(collection, model)).get() ?? null;
}

/** The generation, or a `not_found` error naming what is missing. */
export function requireGeneration(db: CatalogDb, collection: string, model: string): Generation {
  const found = readGeneration(db, collection, model);
  if (found !== null) return found;
  const hasCollection =
    db
      .select({ name: collections.name })
      .from(collections)
      .where(eq(collections.name, collection))
      .get() !== undefined;
  throw new NotFound(
    hasCollection
      ? `collection ${collection} has no generation ${model}`
      : `no collection ${collection}`,
    { collection, generation: model },
  );
}

function holderOf(db: CatalogDb, collection: string, state: GenerationState): Generation | null {
  return (
    db
      .select()
      .from(generations)
      .where(and(eq(generations.collection, collection), eq(generations.state, state)))
      .get() ?? null
  );
}

/** Inserts a row after checking the one-active/one-staging rule (caller holds the write lock). */
export function insertGeneration(db: CatalogDb, generation: Generation): void {
  if (generation.state !== 'retired') {
    const holder = holderOf(db, generation.collection, generation.state);
    if (holder !== null) {
      throw new GenerationConflict(
        `collection ${generation.collection} already has ${generation.state} generation ${holder.model}`,
        { collection: generation.collection, model: holder.model, state: generation.state },
      );
    }
  }
  db.insert(generations).values(generation).run();
}

export function addGeneration(
  conn: OpenedDb,
  collection: string,
  model: string,
  dim: number,
  state: GenerationState,
): Generation {
  const wanted: Generation = {
    collection: checkCollectionName(collection),
    model: checkModel(model),
    dim: checkDim(dim),
    state: checkGenerationState(state),
    createdAt: new Date().toISOString(),
  };
  return writeTx(conn, 'adding generation', () => {
    const existing = readGeneration(conn.db, collection, model);
    if (existing !== null) {
      if (existing.dim === wanted.dim && existing.state === wanted.state) return existing;
      throw new GenerationConflict(
        `generation ${collection}/${model} exists with dim ${existing.dim}, state ${existing.state}`,
        { existing, requested: wanted },
      );
    }
    const hasCollection =
      conn.db
        .select({ name: collections.name })
        .from(collections)
        .where(eq(collections.name, collection))
        .get() !== undefined;
    if (!hasCollection) throw new NotFound(`no collection ${collection}`, { collection });
    insertGeneration(conn.db, wanted);
    return wanted;
  });
}

export function listGenerations(conn: OpenedDb, collection: string): Generation[] {
  return readTx(conn, 'listing generations', () =>
    conn.db
      .select()
      .from(generations)
      .where(eq(generations.collection, collection))
      .orderBy(asc(generations.createdAt), asc(generations.model))
      .all(),
  );
}

/**
 * Makes `model` the active generation of `collection` and retires the active one (caller
 * holds the write lock). Idempotent; a generation this catalog does not know is ignored
 * (its definition arrives later and carries the state).
 */
export function activateInTx(db: CatalogDb, collection: string, model: string): void {
  const target = readGeneration(db, collection, model);
  if (target === null || target.state === 'active') return;
  const holder = holderOf(db, collection, 'active');
  if (holder !== null) {
    db.update(generations).set({ state: 'retired' }).where(byKey(collection, holder.model)).run();
  }
  db.update(generations).set({ state: 'active' }).where(byKey(collection, model)).run();
}

/** Removes a generation that is not active (caller holds the write lock). Idempotent. */
export function dropGenerationInTx(db: CatalogDb, collection: string, model: string): void {
  const g = readGeneration(db, collection, model);
  if (g === null) return;
  if (g.state === 'active') {
    throw new GenerationConflict(
      `generation ${collection}/${model} is active: activate another one first`,
      {
        collection,
        model,
      },
    );
  }
  db.delete(generations).where(byKey(collection, model)).run();
}

export function setGenerationState(
  conn: OpenedDb,
  collection: string,
  model: string,
  state: GenerationState,
): Generation {
  checkGenerationState(state);
  return writeTx(conn, 'setting generation state', () => {
    const current = requireGeneration(conn.db, collection, model);
    if (current.state === state) return current;
    const holder = state === 'retired' ? null : holderOf(conn.db, collection, state);
    if (holder !== null && state === 'active') {
      // The atomic switch of a cutover: the old active generation keeps its data.
      conn.db
        .update(generations)
        .set({ state: 'retired' })
        .where(byKey(collection, holder.model))
        .run();
    } else if (holder !== null) {
      throw new GenerationConflict(
        `collection ${collection} already has staging generation ${holder.model}`,
        { collection, model: holder.model, state },
      );
    }
    conn.db.update(generations).set({ state }).where(byKey(collection, model)).run();
    return { ...current, state };
  });
}
