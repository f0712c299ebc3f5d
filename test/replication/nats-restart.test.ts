import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Streams, Subjects } from '../../sync/index.ts';
import type { Primary, Replica } from '../../sync/index.ts';
import { startFollower, startPrimary, stopAll } from '../../dev/harness/cluster.ts';
import type { NodeHandle } from '../../dev/harness/cluster.ts';
import { startNatsServer } from '../../dev/harness/nats-server.ts';
import type { NatsServerHandle } from '../../dev/harness/nats-server.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';

let nats: NatsServerHandle;
let primary: NodeHandle<Primary>;
let follower: NodeHandle<Replica>;

beforeAll(async () => {
  nats = await startNatsServer();
  primary = await startPrimary({
    natsUrl: nats.url,
    region: 'us-east',
    node: 'p1',
    regions: ['us-east', 'eu-west'],
  });
  follower = await startFollower({ natsUrl: nats.url, region: 'eu-west', node: 'f1' });
  await primary.node.createCollection({ name: 'stream', dim: 3, metric: 'l2', model: 'm@1' });
});

afterAll(() => stopAll([primary, follower], [nats]));

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
          const res = await primary.node.upsert('stream', [{ id, vector: [i, i % 7, 1] }], {
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
      if (i === 100) restarted = nats.restart();
    }
    await restarted;
    expect(acked.size).toBe(300);

    const last = Math.max(...acked.values());
    await waitFor(
      () => follower.node.appliedSeq >= last && primary.node.replica.appliedSeq >= last,
      {
        timeoutMs: 30_000,
        message: 'replicas did not catch up after the restart',
      },
    );
    for (const r of [primary.node.replica, follower.node]) {
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
    const info = await primary.link.jsm.streams.info(Streams.wal, {
      subjects_filter: Subjects.wal('stream'),
    });
    expect(info.state.subjects?.[Subjects.wal('stream')]).toBe(300);
    expect(new Set(acked.values()).size).toBe(300);
    // The follower's local log holds each seq once.
    const logged = follower.catalog.walEntriesAll().map((e) => e.seq);
    expect(new Set(logged).size).toBe(logged.length);
    console.log(`retries during the restart: ${retries}`);
  });
});
