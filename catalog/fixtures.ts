/**
 * Test fixtures for the catalog's own tests: a catalog on a real temp file, manifests
 * with deterministic digests, and a second, independent connection for counting rows.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openCatalog } from './catalog.ts';
import type { Catalog } from './catalog.ts';
import type { Manifest, ManifestSegment } from './types.ts';

export interface TempCatalog {
  dir: string;
  path: string;
  catalog: Catalog;
  /** Closes the catalog (if still open) and removes the directory. */
  cleanup(): void;
}

export function tempCatalog(): TempCatalog {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-catalog-'));
  const path = join(dir, 'node', 'catalog.db');
  const catalog = openCatalog(path);
  return {
    dir,
    path,
    catalog,
    cleanup() {
      catalog.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A stable fake sha256 digest for segment `n`. */
export function digest(n: number): string {
  return createHash('sha256').update(`segment-${n}`).digest('hex');
}

export function segment(n: number, minSeq = n * 100, maxSeq = n * 100 + 99): ManifestSegment {
  return { digest: digest(n), count: maxSeq - minSeq + 1, minSeq, maxSeq, bytes: 4096 * (n + 1) };
}

export function manifest(version: number, overrides: Partial<Manifest> = {}): Manifest {
  return {
    collection: 'docs',
    generation: 'minilm-l6@2',
    version,
    segments: [segment(version)],
    tombstones: [{ id: `deleted-${version}`, seq: version * 100 + 50 }],
    coversSeq: version * 100 + 99,
    createdAt: new Date(Date.UTC(2025, 0, version)).toISOString(),
    group: null,
    ...overrides,
  };
}

/** Creates the `docs` collection with its active `minilm-l6@2` generation. */
export function seedDocs(catalog: Catalog, name = 'docs'): void {
  catalog.createCollection({ name, dim: 384, metric: 'cosine', model: 'minilm-l6@2' });
}

export const TABLES = [
  'collections',
  'generations',
  'manifests',
  'segments',
  'manifest_segments',
  'tombstones',
  'replica_state',
  'wal_log',
  'node_state',
] as const;

/** Row counts of every table, read through a separate connection. */
export function rowCounts(path: string): Record<(typeof TABLES)[number], number> {
  const db = new Database(path, { readonly: true });
  try {
    const counts = {} as Record<(typeof TABLES)[number], number>;
    for (const t of TABLES) {
      counts[t] = (db.prepare(`select count(*) as n from ${t}`).get() as { n: number }).n;
    }
    return counts;
  } finally {
    db.close();
  }
}
