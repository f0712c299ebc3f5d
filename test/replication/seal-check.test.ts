/**
 * Nothing is sealed over a hole (issue 11): a primary refuses to publish a manifest whose
 * coversSeq would pass a write it acknowledged but does not hold in its WAL log. Here the
 * hole is made by hand: one acknowledged entry is removed from the primary's WAL log.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSyncError, lastManifest } from '../../sync/index.ts';
import type { Primary } from '../../sync/index.ts';
import { startPrimary, stopAll } from '../../dev/harness/cluster.ts';
import type { NodeHandle } from '../../dev/harness/cluster.ts';
import { startNatsServer } from '../../dev/harness/nats-server.ts';
import type { NatsServerHandle } from '../../dev/harness/nats-server.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';

let nats: NatsServerHandle;
let primary: NodeHandle<Primary>;

beforeAll(async () => {
  nats = await startNatsServer();
  primary = await startPrimary({
    natsUrl: nats.url,
    region: 'us-east',
    node: 'p',
    regions: ['us-east'],
  });
});

afterAll(() => stopAll([primary], [nats]));

describe('sealing', () => {
  it('refuses to cover an acknowledged write its WAL log lacks, and publishes nothing', async () => {
    const p = primary.node;
    await p.createCollection({ name: 'sc', dim: 2, metric: 'l2', model: 'm@1' });
    const writes = [];
    for (let i = 0; i < 5; i++)
      writes.push(await p.upsert('sc', [{ id: `s${i}`, vector: [i, 1] }]));
    const last = writes[writes.length - 1]!.seq;
    await waitFor(() => p.replica.appliedSeq >= last, { timeoutMs: 10_000 });
    const lost = writes[2]!.seq;
    const db = new Database(join(primary.dataDir, 'catalog.db'));
    db.prepare('DELETE FROM wal_log WHERE seq = ?').run(lost);
    db.close();

    const err = await p.seal('sc').catch((e: unknown) => e);
    expect(isSyncError(err, 'seal_refused')).toBe(true);
    expect(String(err)).toMatch(new RegExp(`seq ${lost}\\b`));
    expect(await lastManifest(primary.link.jsm, 'sc', 'm@1')).toBeNull();
  });
});
