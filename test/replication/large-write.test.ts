import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Streams, Subjects } from '../../sync/index.ts';
import type { Primary, Replica } from '../../sync/index.ts';
import { splitEntry } from '../../sync/primary/primary.ts';
import { startFollower, startPrimary, stopAll } from '../../dev/harness/cluster.ts';
import type { NodeHandle } from '../../dev/harness/cluster.ts';
import { startNatsServer } from '../../dev/harness/nats-server.ts';
import type { NatsServerHandle } from '../../dev/harness/nats-server.ts';

let nats: NatsServerHandle;
let primary: NodeHandle<Primary>;
let follower: NodeHandle<Replica>;
const DIM = 256;

beforeAll(async () => {
  nats = await startNatsServer();
  primary = await startPrimary({
    natsUrl: nats.url,
    region: 'us-east',
    node: 'p1',
    regions: ['us-east', 'eu-west'],
  });
  follower = await startFollower({ natsUrl: nats.url, region: 'eu-west', node: 'f1' });
  await primary.node.createCollection({ name: 'big', dim: DIM, metric: 'ip', model: 'm@1' });
});

afterAll(() => stopAll([primary, follower], [nats]));

describe('a write larger than one NATS message', () => {
  // Regression: a 3,000 x 256 upsert (3 MB) used to fail with MAX_PAYLOAD_EXCEEDED (HTTP 500).
  it('is split into WAL entries that each fit, stored once each, and replicated whole', async () => {
    const points = Array.from({ length: 3_000 }, (_, i) => ({
      id: `b${i}`,
      vector: Array.from({ length: DIM }, (_, j) => ((i * 31 + j) % 97) / 97),
      metadata: { i },
    }));
    const before = (await primary.link.jsm.streams.info(Streams.wal)).state.last_seq;
    const res = await primary.node.upsert('big', points, {
      ack: 'sync',
      timeoutMs: 20_000,
      msgId: 'req-1',
    });
    expect(res.replicated).toBe(true);
    const info = await primary.link.jsm.streams.info(Streams.wal, {
      subjects_filter: Subjects.wal('big'),
    });
    const entries = info.state.subjects![Subjects.wal('big')]!;
    expect(entries).toBeGreaterThan(2);
    expect(res.seq).toBe(before + entries);
    expect((await follower.node.served('big')!.view.stats()).points).toBe(3_000);

    // The same request retried (same request id) stores nothing new.
    const again = await primary.node.upsert('big', points, { msgId: 'req-1' });
    expect(again.duplicate).toBe(true);
    expect(again.seq).toBe(res.seq);
    const after = await primary.link.jsm.streams.info(Streams.wal);
    expect(after.state.last_seq).toBe(res.seq);
  });

  it('keeps each part under the size limit', () => {
    const entry = {
      op: 'upsert' as const,
      collection: 'c',
      generation: 'g',
      points: Array.from({ length: 1_000 }, (_, i) => ({
        id: `p${i}`,
        vector: new Float32Array(128),
        metadata: { i },
      })),
    };
    const parts = splitEntry(entry, 100_000);
    expect(parts.length).toBeGreaterThan(4);
    expect(parts.flatMap((p) => (p.op === 'upsert' ? p.points.map((x) => x.id) : []))).toEqual(
      entry.points.map((p) => p.id),
    );
  });
});
