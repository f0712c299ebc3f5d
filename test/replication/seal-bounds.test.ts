/**
 * Issue 12: a seal takes at most `maxPoints` entries (the oldest, cut at a WAL entry), so
 * each build stays bounded; and while a memtable holds `stallAt` entries the primary
 * refuses writes (503 `write_stalled`) instead of letting the memtable every query
 * searches exactly grow without bound.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSyncError } from '../../sync/index.ts';
import type { Primary } from '../../sync/index.ts';
import { sealContent } from '../../sync/primary/sealer.ts';
import { encodeWalEntry } from '../../sync/wal-codec.ts';
import { startPrimary, stopAll } from '../../dev/harness/cluster.ts';
import type { NodeHandle } from '../../dev/harness/cluster.ts';
import { startNatsServer } from '../../dev/harness/nats-server.ts';
import type { NatsServerHandle } from '../../dev/harness/nats-server.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';

const DIM = 4;
const vec = (i: number) => [Math.cos(i), Math.sin(i), i % 7, 1];
const batch = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: `p${from + i}`, vector: vec(from + i) }));

describe('sealContent', () => {
  const c = { collection: 'c', generation: 'm@1' };
  const up = (seq: number, ...ids: string[]) => ({
    seq,
    payload: encodeWalEntry({
      ...c,
      op: 'upsert',
      points: ids.map((id) => ({ id, vector: Float32Array.from([seq, 0, 0, 1]), metadata: null })),
    }),
  });
  const del = (seq: number, ...ids: string[]) => ({
    seq,
    payload: encodeWalEntry({ ...c, op: 'delete', ids }),
  });

  it('takes every entry in (from, upTo] when it fits, the newest write of each id', () => {
    const rows = [up(1, 'a'), up(2, 'b'), del(3, 'a'), up(4, 'b'), up(9, 'z')];
    const got = sealContent(rows, 1, 4, 100);
    expect(got.upTo).toBe(4);
    expect(got.entries).toBe(3);
    expect(got.upserts.map((p) => [p.id, p.seq])).toEqual([['b', 4]]);
    expect(got.deletes).toEqual([{ id: 'a', seq: 3 }]);
  });

  it('cuts after the entry that reaches max points, never inside one', () => {
    const rows = [up(1, 'a', 'b'), up(2, 'c', 'd', 'e'), up(3, 'f')];
    const got = sealContent(rows, 0, 3, 4);
    expect(got.upTo).toBe(2);
    expect(got.upserts.map((p) => p.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('seals a delete below the cut although the id was written again above it', () => {
    // Review finding: from a memtable (newest write per id) the delete of x at 20 was
    // gone, the manifest covered it anyway, and replicas brought an older copy of x back.
    const rows = [del(20, 'x'), ...Array.from({ length: 400 }, (_, i) => up(21 + i, `f${i}`))];
    rows.push(up(500, 'x'));
    const got = sealContent(rows, 0, 500, 300);
    expect(got.upTo).toBe(319); // the delete and 299 fillers make 300
    expect(got.deletes).toEqual([{ id: 'x', seq: 20 }]);
    expect(got.upserts.some((p) => p.id === 'x')).toBe(false);
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
