import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openCatalog } from './catalog.ts';
import { isCatalogError } from './errors.ts';
import { MIGRATIONS_FOLDER } from './open.ts';
import { rowCounts, seedDocs, TABLES } from './fixtures.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-catalog-open-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const migrationCount = () =>
  readdirSync(MIGRATIONS_FOLDER).filter((f) => f.endsWith('.sql')).length;

describe('catalog', () => {
  it('creates missing directories, applies every migration and runs in WAL mode', () => {
    const path = join(tempDir(), 'a', 'b', 'catalog.db');
    const catalog = openCatalog(path);
    seedDocs(catalog);

    const raw = new Database(path, { readonly: true });
    try {
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
      const tables = raw
        .prepare(`select name from sqlite_master where type = 'table'`)
        .all()
        .map((r) => (r as { name: string }).name);
      expect(tables).toEqual(expect.arrayContaining([...TABLES, '__drizzle_migrations']));
      const applied = raw.prepare('select count(*) as n from __drizzle_migrations').get() as {
        n: number;
      };
      expect(applied.n).toBe(migrationCount());
      expect(applied.n).toBeGreaterThan(0);
    } finally {
      raw.close();
    }
    // The WAL file only exists in WAL mode, and holds the seed until a checkpoint.
    expect(existsSync(`${path}-wal`)).toBe(true);
    catalog.close();
  });

  it('reopens a migrated file without migrating it again and finds its data', () => {
    const path = join(tempDir(), 'catalog.db');
    const first = openCatalog(path);
    seedDocs(first);
    first.close();

    const second = openCatalog(path);
    expect(second.getCollection('docs')?.dim).toBe(384);
    second.close();
    const raw = new Database(path, { readonly: true });
    const applied = raw.prepare('select count(*) as n from __drizzle_migrations').get() as {
      n: number;
    };
    raw.close();
    expect(applied.n).toBe(migrationCount());
    expect(rowCounts(path).collections).toBe(1);
  });

  it('rejects a file that is not a SQLite database as catalog_corrupt', () => {
    const path = join(tempDir(), 'catalog.db');
    writeFileSync(path, 'this is not a database'.repeat(100));
    let thrown: unknown;
    try {
      openCatalog(path);
    } catch (err) {
      thrown = err;
    }
    expect(isCatalogError(thrown, 'catalog_corrupt')).toBe(true);
    expect((thrown as { transient: boolean }).transient).toBe(false);
  });

  it('reports a write blocked by another connection as a transient sqlite_busy error', () => {
    const path = join(tempDir(), 'catalog.db');
    const catalog = openCatalog(path, { busyTimeoutMs: 20 });
    const other = new Database(path);
    other.exec('begin immediate');
    try {
      let thrown: unknown;
      try {
        seedDocs(catalog);
      } catch (err) {
        thrown = err;
      }
      expect(isCatalogError(thrown, 'sqlite_busy')).toBe(true);
      expect((thrown as { transient: boolean }).transient).toBe(true);
    } finally {
      other.exec('rollback');
      other.close();
    }
    seedDocs(catalog);
    expect(catalog.getCollection('docs')).not.toBeNull();
    catalog.close();
  });
});
