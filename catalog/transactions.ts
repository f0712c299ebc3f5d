/**
 * The two ways catalog code touches the database. Both translate SQLite errors once.
 * Writes take the lock up front (BEGIN IMMEDIATE) so that, in WAL mode, a transaction
 * never has to upgrade a read snapshot to a write lock mid-way (which fails with
 * SQLITE_BUSY_SNAPSHOT instead of waiting on busy_timeout).
 */
import { translating } from './errors.ts';
import type { OpenedDb } from './open.ts';

/** Runs `fn` in one write transaction; anything it throws rolls everything back. */
export function writeTx<T>(conn: OpenedDb, doing: string, fn: () => T): T {
  return translating(doing, () => conn.sqlite.transaction(fn).immediate());
}

/** Runs `fn` in one read transaction, so multi-table reads see a single snapshot. */
export function readTx<T>(conn: OpenedDb, doing: string, fn: () => T): T {
  return translating(doing, () => conn.sqlite.transaction(fn).deferred());
}
