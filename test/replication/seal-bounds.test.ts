/**
 * Issue 12: a seal takes at most `maxPoints` entries (the oldest, cut at a WAL entry), so
 * each build stays bounded; and while a memtable holds `stallAt` entries the primary
 * refuses writes (503 `write_stalled`) instead of letting the memtable every query
 * searches exactly grow without bound.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSyncError } from '../../sync/index.ts';
import type { Primary } from '../../sync/index.ts';
import { cutAt } from '../../sync/primary/sealer.ts';
import { startPrimary, stopAll } from '../harness/cluster.ts';
import type { NodeHandle } from '../harness/cluster.ts';
import { startNatsServer } from '../harness/nats-server.ts';
import type { NatsServerHandle } from '../harness/nats-server.ts';
import { waitFor } from '../harness/wait-for.ts';

const DIM = 4;
const vec = (i: number) => [Math.cos(i), Math.sin(i), i % 7, 1];
const batch = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: `p${from + i}`, vector: vec(from + i) }));

describe('cutAt', () => {
  const pt = (seq: number) => ({
    id: `s${seq}`,
    seq,
    vector: new Float32Array(DIM),
    metadata: null,
  });
  it('keeps everything up to upTo when it fits', () => {
    const snap = { upserts: [pt(3), pt(1)], deletes: [{ id: 'd', seq: 2 }] };
    expect(cutAt(snap, 10, 9)).toMatchObject({ upTo: 9 });
    expect(cutAt(snap, 10, 9).upserts).toHaveLength(2);
  });
  it('takes the oldest entries, never splitting one seq', () => {
    const snap = {
      upserts: [pt(5), pt(1), pt(2), pt(2), pt(2), pt(4)],
      deletes: [{ id: 'd', seq: 3 }],
    };
    const cut = cutAt(snap, 2, 9);
    expect(cut.upTo).toBe(2);
    expect(cut.upserts.map((p) => p.seq)).toEqual([1, 2, 2, 2]);
    expect(cut.deletes).toEqual([]);
    const more = cutAt(snap, 5, 9);
    expect(more.upTo).toBe(3);
    expect(more.deletes).toEqual([{ id: 'd', seq: 3 }]);
  });
});

let nats: NatsServerHandle;
let cutter: NodeHandle<Primary>;
let staller: NodeHandle<Primary>;

beforeAll(async () => {
  nats = await startNatsServer();
  cutter = await startPrimary({
    natsUrl: nats.url,
    region: 'us-east',
    node: 'p1',
    regions: ['us-east'],
    seal: { maxPoints: 50, maxAgeMs: 1e9, mergeFactor: 64 },
    // Seals run when the test asks.
    sealCheckMs: 3_600_000,
  });
});

afterAll(() => stopAll([cutter, staller].filter(Boolean), [nats]));

describe('seal bounds', () => {
  it('seals at most maxPoints entries at a time, oldest first', async () => {
    const p = cutter.node;
    await p.createCollection({ name: 'cut', dim: DIM, metric: 'l2', model: 'm@1' });
    const seqs: number[] = [];
    for (const [from, n] of [
      [0, 40],
      [40, 40],
      [80, 60],
    ] as const) {
      seqs.push((await p.upsert('cut', batch(from, n))).seq);
    }
    // 50 is reached inside the second entry: the first seal takes two entries, 80 points.
    const first = (await p.seal('cut'))!;
    expect(first.segments.map((x) => x.count)).toEqual([80]);
    expect(first.coversSeq).toBe(seqs[1]);
    expect((await p.replica.served('cut')!.view.stats()).memtableEntries).toBe(60);
    const second = (await p.seal('cut'))!;
    expect(second.segments.map((x) => x.count)).toEqual([80, 60]);
    expect(second.coversSeq).toBe(seqs[2]);
    expect((await p.replica.served('cut')!.view.stats()).points).toBe(140);
  });

  it('refuses writes with write_stalled while the memtable holds stallAt entries', async () => {
    await cutter.stop();
    staller = await startPrimary({
      natsUrl: nats.url,
      region: 'us-east',
      node: 'p2',
      regions: ['us-east'],
      seal: { maxPoints: 1e9, maxAgeMs: 1e9, stallAt: 100 },
      sealCheckMs: 50,
    });
    const p = staller.node;
    await p.createCollection({ name: 'stall', dim: DIM, metric: 'l2', model: 'm@1' });
    await p.upsert('stall', batch(0, 120));
    // The next seal check counts the memtable; from then on writes wait for seals.
    let err: unknown = null;
    await waitFor(
      async () => {
        err = await p.upsert('stall', batch(1_000, 1)).then(
          () => null,
          (e: unknown) => e,
        );
        return err !== null;
      },
      { timeoutMs: 10_000 },
    );
    expect(isSyncError(err, 'write_stalled')).toBe(true);
    expect((err as Error).message).toMatch(/stall\b.*paused|paused: \d+ unsealed entries/);
    const before = (await p.replica.served('stall')!.view.stats()).points;
    await p.seal('stall');
    await waitFor(
      async () =>
        p.upsert('stall', batch(2_000, 1)).then(
          () => true,
          () => false,
        ),
      { timeoutMs: 10_000 },
    );
    expect((await p.replica.served('stall')!.view.stats()).points).toBeGreaterThan(before);
  });
});
