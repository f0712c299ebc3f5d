/**
 * Retention: drop old manifest versions (never the applied one) and the segment rows no
 * kept manifest lists, and report which segment digests are still referenced so that
 * segment files can be garbage-collected outside the catalog.
 */
import { and, eq, notInArray, sql } from 'drizzle-orm';
import type { OpenedDb } from './open.ts';
import { listVersions } from './manifest-store.ts';
import { readReplicaState } from './replica-state.ts';
import { manifestSegments, manifests, segments } from './schema.ts';
import { readTx, writeTx } from './transactions.ts';
import { checkInt } from './validation.ts';

export function pruneManifests(
  conn: OpenedDb,
  collection: string,
  generation: string,
  keep: number,
): number[] {
  checkInt(keep, 'keep');
  return writeTx(conn, 'pruning manifests', () => {
    const versions = listVersions(conn.db, collection, generation);
    const kept = new Set(keep === 0 ? [] : versions.slice(-keep));
    const applied = readReplicaState(conn.db, collection, generation)?.appliedVersion ?? 0;
    if (applied > 0) kept.add(applied);
    const removed = versions.filter((v) => !kept.has(v));
    if (removed.length === 0) return [];
    // Links and tombstones go with their manifest (ON DELETE CASCADE).
    conn.db
      .delete(manifests)
      .where(
        and(
          eq(manifests.collection, collection),
          eq(manifests.generation, generation),
          notInArray(manifests.version, [...kept]),
        ),
      )
      .run();
    conn.db
      .delete(segments)
      .where(
        and(
          eq(segments.collection, collection),
          eq(segments.generation, generation),
          sql`not exists (select 1 from ${manifestSegments} where ${manifestSegments.digest} = ${segments.digest})`,
        ),
      )
      .run();
    return removed;
  });
}

export function referencedDigests(conn: OpenedDb): Set<string> {
  return readTx(conn, 'listing referenced segments', () => {
    const rows = conn.db
      .selectDistinct({ digest: manifestSegments.digest })
      .from(manifestSegments)
      .all();
    return new Set(rows.map((r) => r.digest));
  });
}
