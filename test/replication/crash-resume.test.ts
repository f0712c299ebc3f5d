/**
 * Regression (issue 11): WAL entries delivered to a replica that died before storing them
 * were redelivered by JetStream only after the durable consumer's ack wait (30 s); the
 * restarted replica consumed newer entries meanwhile and reported positions over the hole
 * — it served strong and session reads without writes it claimed, and a primary sealed
 * over them. Here a follower stalls with entries delivered to it, loses its connection
 * (as a killed process does) and restarts on its data directory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Replica } from '../../sync/index.ts';
import { startFollower, stopAll } from '../../dev/harness/cluster.ts';
import type { NodeHandle } from '../../dev/harness/cluster.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';
import { useReplicationCluster } from '../harness/replication-fixture.ts';

let stalled: NodeHandle<Replica> | null = null;
let restarted: NodeHandle<Replica> | null = null;

const fx = useReplicationCluster({ primary: { node: 'p' } });

beforeAll(async () => {
  await fx.primary.node.createCollection({ name: 'cr', dim: 4, metric: 'l2', model: 'm@1' });
});

afterAll(() => stopAll([restarted]));

describe('a replica restarted after dying with WAL entries delivered to it', () => {
  it('resumes right after what it stored: no position over a hole, no wait for a redelivery', async () => {
    let stall = false;
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => (release = r));
    stalled = await startFollower({
      natsUrl: fx.nats.url,
      region: 'eu-west',
      node: 'f',
      hooks: { beforeWalBatch: () => (stall ? released : undefined) },
    });
    const acked: Array<{ id: string; seq: number }> = [];
    const write = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const id = `c${acked.length}`;
        const w = await fx.primary.node.upsert('cr', [{ id, vector: [acked.length, 1, 2, 3] }]);
        acked.push({ id, seq: w.seq });
      }
    };
    await write(100);
    await waitFor(() => stalled!.node.appliedSeq >= acked[99]!.seq, { timeoutMs: 10_000 });
    // The follower stops storing: what it is sent from now on is delivered, never applied.
    stall = true;
    await write(300);
    // It dies: its connection goes without a word (no ack, no drain), then its process.
    const dataDir = stalled.dataDir;
    await stalled.link.nc.close();
    release();
    await stalled.stop();
    stalled = null;

    restarted = await startFollower({
      natsUrl: fx.nats.url,
      region: 'eu-west',
      node: 'f',
      dataDir,
    });
    const r = restarted.node;
    await write(100);
    // Whatever position it reports, every acknowledged write at or below it is there.
    const holes: string[] = [];
    const check = async () => {
      const at = r.appliedSeq;
      const due = acked.filter((w) => w.seq <= at);
      const got = await r.served('cr')!.view.get(due.map((w) => w.id));
      due.forEach((w, i) => got[i] === null && holes.push(`${w.id}@${w.seq} (position ${at})`));
    };
    const last = acked[acked.length - 1]!.seq;
    await waitFor(
      async () => {
        await check();
        return r.appliedSeq >= last;
      },
      // Well under the 30 s ack wait the old consumer needed to redeliver the hole.
      { timeoutMs: 10_000, intervalMs: 50, message: 'the restarted follower to catch up' },
    );
    await check();
    expect(holes.slice(0, 5)).toEqual([]);
  });
});
