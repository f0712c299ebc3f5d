/**
 * The one transaction that applies a manifest, or a commit group of manifests: store the
 * manifest rows, segments, links and tombstones, then move replica_state and drop the
 * local WAL log entries each applied manifest seals, all or nothing.
 */
import { ManifestConflict } from './errors.ts';
import { requireGeneration } from './generations.ts';
import { contentKey, readManifest, writeManifest } from './manifest-store.ts';
import type { OpenedDb } from './open.ts';
import { readReplicaState, recordApplied } from './replica-state.ts';
import { writeTx } from './transactions.ts';
import type { ApplyHooks, ApplyResult, Manifest, ManifestApplyResult } from './types.ts';
import { checkCommitGroup } from './validation.ts';
import { trimWal } from './wal-log.ts';

export function applyManifests(
  conn: OpenedDb,
  input: Manifest | readonly Manifest[],
  hooks: ApplyHooks = {},
): ApplyResult {
  const group: readonly Manifest[] = Array.isArray(input) ? input : [input as Manifest];
  checkCommitGroup(group);
  return writeTx(conn, 'applying manifest', () => {
    const results: ManifestApplyResult[] = [];
    const toRecord: Manifest[] = [];
    for (const m of group) {
      requireGeneration(conn.db, m.collection, m.generation);
      const id = { collection: m.collection, generation: m.generation, version: m.version };
      const stored = readManifest(conn.db, m.collection, m.generation, m.version);
      if (stored !== null) {
        // Checked before staleness: a divergent copy of an old version is still a conflict.
        if (contentKey(stored) !== contentKey(m)) {
          throw new ManifestConflict(
            `manifest ${m.collection}/${m.generation}@${m.version} is already stored with other content`,
            id,
          );
        }
        results.push({ ...id, outcome: 'duplicate' });
        continue;
      }
      const state = readReplicaState(conn.db, m.collection, m.generation);
      if (state !== null && m.version < state.appliedVersion) {
        results.push({ ...id, outcome: 'stale' });
        continue;
      }
      writeManifest(conn.db, m);
      // The entries it seals leave the local WAL log in the same commit: a crash keeps
      // either the old version with its log or the new version without those entries.
      trimWal(conn.db, m.collection, m.generation, m.coversSeq);
      toRecord.push(m);
      results.push({ ...id, outcome: 'applied' });
    }
    hooks.beforeCommit?.();
    const now = new Date().toISOString();
    for (const m of toRecord) recordApplied(conn.db, m, now);
    return { applied: toRecord.length > 0, manifests: results };
  });
}
