/**
 * This node's progress per collection+generation: the applied manifest version and the
 * applied WAL seq. `appliedSeq` only moves forward, whatever order updates arrive in.
 */
import { and, eq, sql } from 'drizzle-orm';
import type { CatalogDb, OpenedDb } from './open.ts';
import { replicaState } from './schema.ts';
import { readTx, writeTx } from './transactions.ts';
import { requireGeneration } from './generations.ts';
import type { Manifest, ReplicaState } from './types.ts';
import { checkInt } from './validation.ts';

export function readReplicaState(
  db: CatalogDb,
  collection: string,
  generation: string,
): ReplicaState | null {
  return (
    db
      .select()
      .from(replicaState)
      .where(and(eq(replicaState.collection, collection), eq(replicaState.generation, generation)))
      .get() ?? null
  );
}

export function getReplicaState(
  conn: OpenedDb,
  collection: string,
  generation: string,
): ReplicaState | null {
  return readTx(conn, 'reading replica state', () =>
    readReplicaState(conn.db, collection, generation),
  );
}

/** Points replica_state at `m` (caller holds the write transaction). */
export function recordApplied(db: CatalogDb, m: Manifest, now: string): void {
  db.insert(replicaState)
    .values({
      collection: m.collection,
      generation: m.generation,
      appliedVersion: m.version,
      appliedSeq: m.coversSeq,
      updatedAt: now,
    })
    .onConflictDoUpdate({
      target: [replicaState.collection, replicaState.generation],
      set: {
        appliedVersion: m.version,
        // WAL consumption may already be past the manifest's coversSeq.
        appliedSeq: sql`max(${replicaState.appliedSeq}, excluded.applied_seq)`,
        updatedAt: now,
      },
    })
    .run();
}

export function setAppliedSeq(
  conn: OpenedDb,
  collection: string,
  generation: string,
  seq: number,
): ReplicaState {
  checkInt(seq, 'seq');
  return writeTx(conn, 'recording applied seq', () => {
    requireGeneration(conn.db, collection, generation);
    conn.db
      .insert(replicaState)
      .values({
        collection,
        generation,
        appliedVersion: 0,
        appliedSeq: seq,
        updatedAt: new Date().toISOString(),
      })
      .onConflictDoUpdate({
        target: [replicaState.collection, replicaState.generation],
        set: { appliedSeq: sql`excluded.applied_seq`, updatedAt: sql`excluded.updated_at` },
        // A redelivered or reordered older seq leaves the row untouched.
        setWhere: sql`excluded.applied_seq > ${replicaState.appliedSeq}`,
      })
      .run();
    const state = readReplicaState(conn.db, collection, generation);
    if (state === null) throw new Error('replica_state row missing right after upsert');
    return state;
  });
}
