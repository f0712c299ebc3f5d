import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { Streams, Subjects } from '../../sync/index.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';
import { useReplicationCluster } from '../harness/replication-fixture.ts';

const fx = useReplicationCluster({ follower: true });

beforeAll(async () => {
  await fx.primary.node.createCollection({ name: 'stream', dim: 3, metric: 'l2', model: 'm@1' });
});

describe('nats-server restarted in the middle of a stream of writes', () => {
  it('loses no acknowledged write and stores none twice', async () => {
    const acked = new Map<string, number>();
    let retries = 0;
    let restarted: Promise<void> | null = null;
    for (let i = 0; i < 300; i++) {
      const id = `w${i}`;
      const msgId = randomUUID();
      // A client that retries a failed write with the same idempotency key.
      for (;;) {
        try {
          const res = await fx.primary.node.upsert('stream', [{ id, vector: [i, i % 7, 1] }], {
            msgId,
          });
          acked.set(id, res.seq);
          break;
        } catch (err) {
          retries++;
          expect((err as { transient?: boolean }).transient).toBe(true);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      if (i === 100) restarted = fx.nats.restart();
    }
    await restarted;
    expect(acked.size).toBe(300);

    const last = Math.max(...acked.values());
    await waitFor(
      () => fx.follower.node.appliedSeq >= last && fx.primary.node.replica.appliedSeq >= last,
      {
        timeoutMs: 30_000,
        message: 'replicas did not catch up after the restart',
      },
    );
    for (const r of [fx.primary.node.replica, fx.follower.node]) {
      const view = r.served('stream')!.view;
      expect((await view.stats()).points).toBe(300);
      for (const [id, seq] of acked) {
        const [hit] = await view.search([Number(id.slice(1)), Number(id.slice(1)) % 7, 1], {
          k: 1,
        });
        expect(hit!.id, `${id} (seq ${seq}) on ${r.node}`).toBe(id);
      }
    }
    // Stored once each: the WAL subject holds exactly one entry per acknowledged write.
    const info = await fx.primary.link.jsm.streams.info(Streams.wal, {
      subjects_filter: Subjects.wal('stream'),
    });
    expect(info.state.subjects?.[Subjects.wal('stream')]).toBe(300);
    expect(new Set(acked.values()).size).toBe(300);
    // The follower's local log holds each seq once.
    const logged = fx.follower.catalog.walEntriesAll().map((e) => e.seq);
    expect(new Set(logged).size).toBe(logged.length);
    console.log(`retries during the restart: ${retries}`);
  });
});
