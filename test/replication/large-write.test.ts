import { beforeAll, describe, expect, it } from 'vitest';
import { useReplicationCluster } from '../harness/replication-fixture.ts';
import { Streams, Subjects } from '../../sync/index.ts';
import { splitEntry } from '../../sync/primary/primary.ts';

const DIM = 256;

const fx = useReplicationCluster({ follower: true });

beforeAll(async () => {
  await fx.primary.node.createCollection({ name: 'big', dim: DIM, metric: 'ip', model: 'm@1' });
});

describe('a write larger than one NATS message', () => {
  // Regression: a 3,000 x 256 upsert (3 MB) used to fail with MAX_PAYLOAD_EXCEEDED (HTTP 500).
  it('is split into WAL entries that each fit, stored once each, and replicated whole', async () => {
    const points = Array.from({ length: 3_000 }, (_, i) => ({
      id: `b${i}`,
      vector: Array.from({ length: DIM }, (_, j) => ((i * 31 + j) % 97) / 97),
      metadata: { i },
    }));
    const before = (await fx.primary.link.jsm.streams.info(Streams.wal)).state.last_seq;
    const res = await fx.primary.node.upsert('big', points, {
      ack: 'sync',
      timeoutMs: 20_000,
      msgId: 'req-1',
    });
    expect(res.replicated).toBe(true);
    const info = await fx.primary.link.jsm.streams.info(Streams.wal, {
      subjects_filter: Subjects.wal('big'),
    });
    const entries = info.state.subjects![Subjects.wal('big')]!;
    expect(entries).toBeGreaterThan(2);
    expect(res.seq).toBe(before + entries);
    expect((await fx.follower.node.served('big')!.view.stats()).points).toBe(3_000);

    // The same request retried (same request id) stores nothing new.
    const again = await fx.primary.node.upsert('big', points, { msgId: 'req-1' });
    expect(again.duplicate).toBe(true);
    expect(again.seq).toBe(res.seq);
    const after = await fx.primary.link.jsm.streams.info(Streams.wal);
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
