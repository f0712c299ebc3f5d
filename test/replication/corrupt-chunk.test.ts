import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Streams, Subjects } from '../../sync/index.ts';
import type { Heartbeat, Replica } from '../../sync/index.ts';
import { DEFAULT_CHUNK_BYTES, chunkHeaders } from '../../sync/segment-chunks.ts';
import { startFollower, stopAll } from '../../dev/harness/cluster.ts';
import type { NodeHandle } from '../../dev/harness/cluster.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';
import { useReplicationCluster } from '../harness/replication-fixture.ts';

let follower: NodeHandle<Replica> | null = null;
const DIM = 16;
/** The collection whose segment copies the test publishes (created below). */
const SEG_COLLECTION = 'cc';
const vec = (i: number) => Array.from({ length: DIM }, (_, j) => Math.sin(i * 31 + j));

const fx = useReplicationCluster();

afterAll(() => stopAll([follower]));

/** Publishes a copy of a segment file as chunks, optionally with one byte flipped. */
async function publishCopy(digest: string, bytes: Buffer, flipAt: number | null): Promise<void> {
  const data = Buffer.from(bytes);
  if (flipAt !== null) data[flipAt]! ^= 0x01;
  const count = Math.max(1, Math.ceil(data.length / DEFAULT_CHUNK_BYTES));
  const uploadId = randomUUID();
  for (let i = 0; i < count; i++) {
    const chunk = data.subarray(i * DEFAULT_CHUNK_BYTES, (i + 1) * DEFAULT_CHUNK_BYTES);
    await fx.primary.link.js.publish(Subjects.segment(SEG_COLLECTION, digest), chunk, {
      headers: chunkHeaders({ index: i, count, totalBytes: data.length, uploadId }),
    });
  }
}

describe('a corrupted segment chunk', () => {
  it('is rejected; the follower stays on its last good version, reports it, and proceeds once a good copy arrives', async () => {
    const p = fx.primary.node;
    await p.createCollection({ name: 'cc', dim: DIM, metric: 'cosine', model: 'm@1' });
    await p.upsert(
      'cc',
      Array.from({ length: 300 }, (_, i) => ({ id: `a${i}`, vector: vec(i) })),
    );
    await p.seal('cc');
    follower = await startFollower({ natsUrl: fx.nats.url, region: 'eu-west', node: 'f1' });
    await follower.node.waitUntil(() => follower!.node.served('cc')?.version === 1, 20_000, 'v1');
    await follower.stop();

    await p.upsert(
      'cc',
      Array.from({ length: 300 }, (_, i) => ({ id: `b${i}`, vector: vec(1000 + i) })),
    );
    const v2 = (await p.seal('cc'))!;
    const fresh = v2.segments[v2.segments.length - 1]!;
    const good = await readFile(join(fx.primary.dataDir, 'segments', fresh.digest));
    // Replace the good copy on SEGMENTS with one whose middle byte is flipped.
    await fx.primary.link.jsm.streams.purge(Streams.segments, {
      filter: Subjects.segment(SEG_COLLECTION, fresh.digest),
    });
    await publishCopy(fresh.digest, good, Math.floor(good.length / 2));

    const beats: Heartbeat[] = [];
    const sub = fx.primary.link.nc.subscribe(Subjects.replicaState('eu-west', 'f1'), {
      callback: (_e, m) => beats.push(JSON.parse(Buffer.from(m.data).toString()) as Heartbeat),
    });
    follower = await startFollower({
      natsUrl: fx.nats.url,
      region: 'eu-west',
      node: 'f1',
      dataDir: follower.dataDir,
    });
    await waitFor(
      () => beats.some((b) => b.collections.some((c) => c.error?.version === 2 && c.version === 1)),
      { timeoutMs: 30_000, message: 'no heartbeat reported the failed manifest' },
    );
    const served = follower.node.served('cc')!;
    expect(served.version).toBe(1);
    expect(served.error?.message).toMatch(/no copy on the stream matches its digest/);
    // Still serving v1 correctly; the bad bytes were never loaded.
    expect((await served.view.search(vec(5), { k: 1 }))[0]!.id).toBe('a5');
    expect(follower.catalog.appliedManifest('cc', 'm@1')?.version).toBe(1);

    await publishCopy(fresh.digest, good, null);
    await follower.node.waitUntil(() => follower!.node.served('cc')?.version === 2, 30_000, 'v2');
    expect(follower.node.served('cc')!.error).toBeNull();
    const copied = await readFile(join(follower.dataDir, 'segments', fresh.digest));
    expect(copied.equals(good)).toBe(true);
    await waitFor(() => beats.at(-1)?.collections[0]?.error === null, { timeoutMs: 10_000 });
    sub.unsubscribe();
  });
});
