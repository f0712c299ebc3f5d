import { describe, expect, it } from 'vitest';
import { IndexView } from './index-view.ts';
import { makePoints } from './searchable-contract.ts';
import { useSegmentDir } from './segment-fixture.ts';

const dim = 8;
const segments = useSegmentDir('meridian-view-', { dim, metric: 'l2' });
const seg = segments.seg;

const ids = (view: IndexView, q: Float32Array, k = 100) => view.search(q, { k }).map((h) => h.id);

describe('index view', () => {
  const base = makePoints(50, dim, 3);

  it('lets a newer upsert in the memtable shadow the sealed copy', async () => {
    const view = new IndexView({ dim, metric: 'l2' });
    view.install({ segments: [await seg(base)], tombstones: [], coversSeq: 50 });
    const moved = { id: 'p0', vector: base[1]!.vector, metadata: { moved: true } };
    view.upsert([moved], 51);
    const hits = view.search(base[1]!.vector, { k: 3 });
    expect(hits.filter((h) => h.id === 'p0')).toHaveLength(1);
    expect(hits.find((h) => h.id === 'p0')!.metadata).toEqual({ moved: true });
    // The old copy at p0's old position is gone.
    expect(view.search(base[0]!.vector, { k: 1 })[0]!.id).not.toBe('p0');
    expect(view.size).toBe(50);
  });

  it('hides a deleted id from segments and memtable alike', async () => {
    const view = new IndexView({ dim, metric: 'l2' });
    view.install({ segments: [await seg(base)], tombstones: [], coversSeq: 50 });
    view.upsert([{ ...base[2]!, id: 'fresh' }], 51);
    view.delete(['p3', 'fresh'], 52);
    const all = ids(view, base[3]!.vector);
    expect(all).not.toContain('p3');
    expect(all).not.toContain('fresh');
    expect(all).toHaveLength(49);
  });

  it('keeps tombstones of a manifest and a newer segment copy wins over an older one', async () => {
    const older = await seg(base.slice(0, 20));
    const newer = await seg([{ ...base[5]!, seq: 60, metadata: { v: 2 } }]);
    const view = new IndexView({ dim, metric: 'l2' });
    view.install({
      segments: [older, newer],
      tombstones: [{ id: 'p6', seq: 61 }],
      coversSeq: 61,
    });
    const all = view.search(base[5]!.vector, { k: 100 });
    expect(all.filter((h) => h.id === 'p5')).toEqual([
      expect.objectContaining({ metadata: { v: 2 } }),
    ]);
    expect(all.map((h) => h.id)).not.toContain('p6');
    expect(all).toHaveLength(19);
  });

  it('ignores a redelivered WAL entry at or below what it already reflects', async () => {
    const view = new IndexView({ dim, metric: 'l2' });
    view.install({ segments: [await seg(base)], tombstones: [], coversSeq: 50 });
    expect(view.upsert([{ ...base[0]!, metadata: { stale: true } }], 10)).toBe(false);
    expect(view.search(base[0]!.vector, { k: 1 })[0]!.metadata).toEqual(base[0]!.metadata);
    view.upsert([{ ...base[0]!, metadata: { v: 2 } }], 70);
    expect(view.upsert([{ ...base[0]!, metadata: { v: 1 } }], 65)).toBe(false);
    expect(view.search(base[0]!.vector, { k: 1 })[0]!.metadata).toEqual({ v: 2 });
    expect(view.appliedSeq).toBe(70);
  });

  it('trims the memtable up to coversSeq on install and stays correct', async () => {
    const view = new IndexView({ dim, metric: 'l2' });
    const first = await seg(base.slice(0, 30));
    view.install({ segments: [first], tombstones: [], coversSeq: 30 });
    for (const p of base.slice(30)) view.upsert([p], p.seq);
    expect(view.memtable.size).toBe(20);
    const second = await seg(base.slice(30, 40));
    view.install({ segments: [first, second], tombstones: [], coversSeq: 40 });
    expect(view.memtable.size).toBe(10);
    expect(ids(view, base[0]!.vector).sort()).toEqual(base.map((p) => p.id).sort());
    // Installing the same state again changes nothing.
    view.install({ segments: [first, second], tombstones: [], coversSeq: 40 });
    expect(ids(view, base[0]!.vector)).toHaveLength(50);
  });

  it('revives a copy when the state that shadowed it is rolled back', async () => {
    const a = await seg(base.slice(0, 10));
    const b = await seg([{ ...base[1]!, seq: 80, metadata: { v: 'b' } }]);
    const view = new IndexView({ dim, metric: 'l2' });
    view.install({ segments: [a, b], tombstones: [], coversSeq: 80 });
    expect(view.search(base[1]!.vector, { k: 1 })[0]!.metadata).toEqual({ v: 'b' });
    view.install({ segments: [a], tombstones: [], coversSeq: 10 });
    expect(view.search(base[1]!.vector, { k: 1 })[0]!.metadata).toEqual(base[1]!.metadata);
  });
});
