/**
 * Row-level reads and writes of manifests with their segment links and tombstones.
 * Callers own the transaction; nothing here opens one.
 */
import { and, asc, eq } from 'drizzle-orm';
import { ManifestConflict } from './errors.ts';
import type { CatalogDb } from './open.ts';
import { manifestSegments, manifests, segments, tombstones } from './schema.ts';
import type { Manifest, ManifestSegment } from './types.ts';

const manifestKey = (collection: string, generation: string, version: number) =>
  and(
    eq(manifests.collection, collection),
    eq(manifests.generation, generation),
    eq(manifests.version, version),
  );

/** One stored manifest with its segments (in listed order) and tombstones (by id). */
export function readManifest(
  db: CatalogDb,
  collection: string,
  generation: string,
  version: number,
): Manifest | null {
  const row = db
    .select()
    .from(manifests)
    .where(manifestKey(collection, generation, version))
    .get();
  if (row === undefined) return null;
  const segs = db
    .select({
      digest: segments.digest,
      count: segments.count,
      minSeq: segments.minSeq,
      maxSeq: segments.maxSeq,
      bytes: segments.bytes,
    })
    .from(manifestSegments)
    .innerJoin(segments, eq(segments.digest, manifestSegments.digest))
    .where(
      and(
        eq(manifestSegments.collection, collection),
        eq(manifestSegments.generation, generation),
        eq(manifestSegments.version, version),
      ),
    )
    .orderBy(asc(manifestSegments.position))
    .all();
  const tombs = db
    .select({ id: tombstones.pointId, seq: tombstones.seq })
    .from(tombstones)
    .where(
      and(
        eq(tombstones.collection, collection),
        eq(tombstones.generation, generation),
        eq(tombstones.version, version),
      ),
    )
    .orderBy(asc(tombstones.pointId))
    .all();
  return {
    collection,
    generation,
    version,
    segments: segs,
    tombstones: tombs,
    coversSeq: row.coversSeq,
    createdAt: row.createdAt,
    group: row.groupId,
  };
}

export function listVersions(db: CatalogDb, collection: string, generation: string): number[] {
  return db
    .select({ version: manifests.version })
    .from(manifests)
    .where(and(eq(manifests.collection, collection), eq(manifests.generation, generation)))
    .orderBy(asc(manifests.version))
    .all()
    .map((r) => r.version);
}

/**
 * What makes two manifests of the same version the same: `coversSeq`, `group`, and the
 * sets of segments and tombstones. `createdAt` and the order of segments are not content:
 * a republished copy of the same manifest must count as a duplicate.
 */
export function contentKey(m: Manifest): string {
  const segs = [...m.segments]
    .map((s) => [s.digest, s.count, s.minSeq, s.maxSeq, s.bytes])
    .sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
  const tombs = [...m.tombstones]
    .map((t) => [t.id, t.seq])
    .sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
  return JSON.stringify([m.coversSeq, m.group ?? null, segs, tombs]);
}

/**
 * Stores a segment row unless its digest is already known. A known digest with other
 * attributes means two different segments claim one content hash: refuse it.
 */
function storeSegment(db: CatalogDb, m: Manifest, s: ManifestSegment): void {
  const existing = db.select().from(segments).where(eq(segments.digest, s.digest)).get();
  if (existing === undefined) {
    db.insert(segments)
      .values({ ...s, collection: m.collection, generation: m.generation })
      .run();
    return;
  }
  const same =
    existing.collection === m.collection &&
    existing.generation === m.generation &&
    existing.count === s.count &&
    existing.minSeq === s.minSeq &&
    existing.maxSeq === s.maxSeq &&
    existing.bytes === s.bytes;
  if (!same) {
    throw new ManifestConflict(`segment ${s.digest} is already recorded with other attributes`, {
      digest: s.digest,
      existing,
      requested: s,
    });
  }
}

/** Writes the manifest row, its segments, links and tombstones. */
export function writeManifest(db: CatalogDb, m: Manifest): void {
  const key = { collection: m.collection, generation: m.generation, version: m.version };
  db.insert(manifests)
    .values({ ...key, coversSeq: m.coversSeq, createdAt: m.createdAt, groupId: m.group ?? null })
    .run();
  m.segments.forEach((s, position) => {
    storeSegment(db, m, s);
    db.insert(manifestSegments)
      .values({ ...key, digest: s.digest, position })
      .run();
  });
  // Chunked: one statement per row is the slow path for manifests with many tombstones,
  // and SQLite caps bound parameters per statement (5 columns x 500 rows stays under it).
  for (let i = 0; i < m.tombstones.length; i += 500) {
    const rows = m.tombstones.slice(i, i + 500).map((t) => ({ ...key, pointId: t.id, seq: t.seq }));
    db.insert(tombstones).values(rows).run();
  }
}
