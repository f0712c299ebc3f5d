/**
 * Nothing is sealed over a hole (issue 11): a primary refuses to publish a manifest whose
 * coversSeq would pass a write it acknowledged but does not hold in its WAL log. Here the
 * hole is made by hand: one acknowledged entry is removed from the primary's WAL log.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { isSyncError, lastManifest } from '../../sync/index.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';
import { useReplicationCluster } from '../harness/replication-fixture.ts';

const fx = useReplicationCluster({ primary: { node: 'p', regions: ['us-east'] } });

describe('sealing', () => {
  it('refuses to cover an acknowledged write its WAL log lacks, and publishes nothing', async () => {
    const p = fx.primary.node;
    await p.createCollection({ name: 'sc', dim: 2, metric: 'l2', model: 'm@1' });
    const writes = [];
    for (let i = 0; i < 5; i++)
      writes.push(await p.upsert('sc', [{ id: `s${i}`, vector: [i, 1] }]));
    const last = writes[writes.length - 1]!.seq;
    await waitFor(() => p.replica.appliedSeq >= last, { timeoutMs: 10_000 });
    const lost = writes[2]!.seq;
    const db = new Database(join(fx.primary.dataDir, 'catalog.db'));
    db.prepare('DELETE FROM wal_log WHERE seq = ?').run(lost);
    db.close();

    const err = await p.seal('sc').catch((e: unknown) => e);
    expect(isSyncError(err, 'seal_refused')).toBe(true);
    expect(String(err)).toMatch(new RegExp(`seq ${lost}\\b`));
    expect(await lastManifest(fx.primary.link.jsm, 'sc', 'm@1')).toBeNull();
  });
});
