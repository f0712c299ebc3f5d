/**
 * Opening the catalog file: create its directory, set the pragmas every connection
 * needs, and apply pending drizzle migrations from `catalog/migrations`.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { toCatalogError } from './errors.ts';
import * as schema from './schema.ts';
import type { CatalogOptions } from './types.ts';

export type CatalogDb = BetterSQLite3Database<typeof schema>;

/** Where the generated migrations live, resolved from this file so any cwd works. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('./migrations', import.meta.url));

export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

export interface OpenedDb {
  sqlite: Database.Database;
  db: CatalogDb;
}

/**
 * Opens (creating if needed) the SQLite file at `path` in WAL mode and migrates it.
 * Throws `catalog_corrupt` when the file is not a usable SQLite database.
 */
export function openDatabase(path: string, options: CatalogOptions = {}): OpenedDb {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  let sqlite: Database.Database | undefined;
  try {
    sqlite = new Database(path);
    // WAL: readers never block the writer; NORMAL is durable across process crashes
    // (an OS crash may lose the last commits, which replay from JetStream recovers).
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma(
      `busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS))}`,
    );
    const db = drizzle(sqlite, { schema });
    migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
    return { sqlite, db };
  } catch (err) {
    sqlite?.close();
    throw toCatalogError(err, `opening catalog ${path}`);
  }
}
