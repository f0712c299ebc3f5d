/**
 * Node-level positions and flags in `node_state` (one string per key), e.g. the WAL
 * consumer's highest stored seq. Values are opaque strings to everything but their owner.
 */
import { eq, sql } from 'drizzle-orm';
import { InvalidArgument } from './errors.ts';
import type { CatalogDb, OpenedDb } from './open.ts';
import { nodeState } from './schema.ts';
import { readTx, writeTx } from './transactions.ts';

/** The highest WAL seq stored by `appendWal`; only `appendWal` moves it, and only forward. */
export const WAL_STORED_SEQ_KEY = 'wal.storedSeq';
/** The same, per collection: a leaf region's replica follows each collection's WAL on its own. */
export const walStoredSeqKey = (collection: string): string =>
  `${WAL_STORED_SEQ_KEY}.${collection}`;
/** Keys that only catalog code may write, because they carry an invariant. */
const isReserved = (key: string): boolean =>
  key === WAL_STORED_SEQ_KEY || key.startsWith(`${WAL_STORED_SEQ_KEY}.`);

function checkKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > 256) {
    throw new InvalidArgument(
      `node state key must be a 1-256 character string, got ${String(key)}`,
    );
  }
  return key;
}

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

export function getNodeState(conn: OpenedDb, key: string): string | null {
  checkKey(key);
  return readTx(conn, 'reading node state', () => readNodeState(conn.db, key));
}

export function setNodeState(conn: OpenedDb, key: string, value: string): void {
  checkKey(key);
  if (isReserved(key)) {
    throw new InvalidArgument(`node state key ${key} is maintained by the catalog itself`);
  }
  if (typeof value !== 'string') {
    throw new InvalidArgument(`node state value must be a string, got ${typeof value}`);
  }
  writeTx(conn, 'writing node state', () => {
    conn.db
      .insert(nodeState)
      .values({ key, value })
      .onConflictDoUpdate({ target: nodeState.key, set: { value } })
      .run();
  });
}
