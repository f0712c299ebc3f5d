/**
 * Node-level positions and flags in `node_state` (one string per key), e.g. the WAL
 * consumer's highest stored seq. Values are opaque strings to everything but their owner.
 */
import { eq, sql } from 'drizzle-orm';
import type { CatalogDb } from './open.ts';
import { nodeState } from './schema.ts';

/** The highest WAL seq stored by `appendWal`; only `appendWal` moves it, and only forward. */
export const WAL_STORED_SEQ_KEY = 'wal.storedSeq';
/** The same, per collection: a leaf region's replica follows each collection's WAL on its own. */
export const walStoredSeqKey = (collection: string): string =>
  `${WAL_STORED_SEQ_KEY}.${collection}`;
export function readNodeState(db: CatalogDb, key: string): string | null {
  return db.select().from(nodeState).where(eq(nodeState.key, key)).get()?.value ?? null;
}

/** Raises an integer-valued key to `value` unless it is already higher (caller owns the transaction). */
export function advanceNodeStateInt(db: CatalogDb, key: string, value: number): void {
  db.insert(nodeState)
    .values({ key, value: String(value) })
    .onConflictDoUpdate({
      target: nodeState.key,
      set: { value: sql`excluded.value` },
      setWhere: sql`cast(excluded.value as integer) > cast(${nodeState.value} as integer)`,
    })
    .run();
}
