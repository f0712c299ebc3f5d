import { existsSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IndexError } from './errors.ts';
import { IndexView } from './index-view.ts';
import { InlineViewHost } from './inline-view-host.ts';
import { makePoints } from './searchable-contract.ts';
import { useSegmentDir } from './segment-fixture.ts';
import { ThreadViewHost } from './thread-view-host.ts';
import type { ViewHandle, ViewHost } from './view-handle.ts';
import type { SearchHit, SearchOptions, SeqPoint } from './types.ts';

const dim = 16;
const segments = useSegmentDir('meridian-view-host-', { dim, metric: 'cosine' });
const expect_ = { collection: 'c', generation: 'g', dim };

/** The same contract for the host that keeps views on view threads and the one that keeps them here. */
const hosts: Array<[string, () => ViewHost]> = [
  ['view threads', () => new ThreadViewHost(2)],
  ['the event loop', () => new InlineViewHost()],
];

async function install(
  handle: ViewHandle,
  reference: IndexView,
  points: SeqPoint[],
  state: { tombstones: Array<{ id: string; seq: number }>; coversSeq: number; with?: SeqPoint[][] },
): Promise<void> {
  const groups = [...(state.with ?? []), points];
  const files = await Promise.all(groups.map((g) => segments.file(g)));
  const prepared = await handle.prepare(files, expect_);
  handle.commit(prepared, state.tombstones, state.coversSeq);
  reference.install({
    segments: await Promise.all(groups.map((g) => segments.seg(g))),
    tombstones: state.tombstones,
    coversSeq: state.coversSeq,
  });
}

for (const [name, makeHost] of hosts) {
  describe(`views held on ${name}`, () => {
    it('answer each search exactly as the view stood when it was asked, with writes racing behind it', async () => {
      const host = makeHost();
      try {
        const handle = host.open(dim, 'cosine');
        const reference = new IndexView({ dim, metric: 'cosine' });
        const all = makePoints(400, dim, 7);
        const queries = makePoints(12, dim, 99).map((p) => p.vector);
        const asked: Array<{ expected: SearchHit[]; answer: Promise<SearchHit[]> }> = [];
        const ask = (q: Float32Array, o: SearchOptions) =>
          asked.push({ expected: reference.search(q, o), answer: handle.search(q, o) });
        const askAll = () => {
          for (const q of queries) ask(q, { k: 10 });
          ask(queries[0]!, { k: 5, filter: { colour: 'red' } });
        };
        const write = (
          f: (v: { upsert: IndexView['upsert']; delete: IndexView['delete'] }) => void,
        ) => {
          f({
            upsert: (p, s) => (handle.upsert(p, s), true),
            delete: (i, s) => (handle.delete(i, s), true),
          });
          f(reference);
        };

        await install(handle, reference, all.slice(0, 200), { tombstones: [], coversSeq: 200 });
        askAll();
        // Memtable writes that shadow and delete sealed copies; each round's searches are
        // asked BEFORE the next writes and only awaited at the end.
        for (let round = 0; round < 5; round++) {
          const base = 200 + round * 40;
          const batch = all
            .slice(base, base + 40)
            .map((p) => ({ ...p, id: `p${(p.seq * 7) % 260}` }));
          write((v) => v.upsert(batch, base + 40));
          askAll();
          write((v) => v.delete([`p${round}`, `p${round + 100}`], base + 41));
          askAll();
        }
        // A second manifest on top of the first, with a tombstone; writes behind it.
        const second = all.slice(200, 400).map((p, i) => ({ ...p, seq: 500 + i }));
        await install(handle, reference, second, {
          tombstones: [{ id: 'p1', seq: 700 }],
          coversSeq: 700,
          with: [all.slice(0, 200)],
        });
        write((v) => v.delete(['p7'], 701));
        askAll();
        write((v) => v.upsert([{ id: 'late', vector: all[5]!.vector, metadata: null }], 702));
        askAll();

        for (const a of asked) expect(await a.answer).toEqual(a.expected);
        expect(asked.length).toBe(13 * 13);
        // The answers changed over time: the comparison was not between constant results.
        expect(asked[0]!.expected).not.toEqual(asked[asked.length - 1]!.expected);
        const stats = await handle.stats();
        expect(stats.points).toBe(reference.size);
        expect(stats.segments).toBe(2);
        expect(stats.coversSeq).toBe(700);
        expect(handle.lastStats).toEqual(stats);
      } finally {
        await host.close();
      }
    });

    it('keep answering from the current install while the next one loads, and load each segment once', async () => {
      const host = makeHost();
      try {
        const handle = host.open(dim, 'cosine');
        const points = makePoints(300, dim, 5);
        const a = await segments.file(points.slice(0, 150));
        const b = await segments.file(points.slice(150, 300));
        handle.commit(await handle.prepare([a], expect_), [], 150);
        const q = points[200]!.vector;
        const before = (await handle.search(q, { k: 1 }))[0]!.id;
        expect(before).not.toBe('p200');
        const next = await handle.prepare([a, b], expect_);
        // Prepared, not committed: the view still answers from its first install.
        expect((await handle.search(q, { k: 1 }))[0]!.id).toBe(before);
        handle.commit(next, [], 300);
        expect((await handle.search(q, { k: 1 }))[0]!.id).toBe('p200');
        // `a` was shared by both installs, not loaded again; an aborted install frees its load.
        expect(await host.segmentLoads()).toBe(2);
        const c = await segments.file(points.slice(0, 10).map((p) => ({ ...p, seq: 400 + p.seq })));
        handle.abort(await handle.prepare([a, b, c], expect_));
        expect(await host.segmentLoads()).toBe(3);
        expect((await handle.stats()).segments).toBe(2);
      } finally {
        await host.close();
      }
    });

    it('refuse a segment that fails verification, naming it, and keep serving the last install', async () => {
      const host = makeHost();
      try {
        const handle = host.open(dim, 'cosine');
        const points = makePoints(100, dim, 9);
        const good = await segments.file(points);
        handle.commit(await handle.prepare([good], expect_), [], 100);
        const other = await segments.file(
          points.slice(0, 50).map((p) => ({ ...p, seq: 200 + p.seq })),
        );
        const damaged = join(segments.dir, 'damaged');
        await copyFile(other.path, damaged);
        await writeFile(damaged, Buffer.from('garbage'), { flag: 'r+' });
        const err = await handle.prepare([{ digest: other.digest, path: damaged }], expect_).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(IndexError);
        expect((err as IndexError).details?.['digest']).toBe(other.digest);
        expect((await handle.search(points[3]!.vector, { k: 1 }))[0]!.id).toBe('p3');
      } finally {
        await host.close();
      }
    });

    it('reject bad input on the calling thread with the typed error a view raises', async () => {
      const host = makeHost();
      try {
        const handle = host.open(dim, 'cosine');
        handle.upsert(makePoints(5, dim), 5);
        const q = makePoints(1, dim, 3)[0]!.vector;
        await expect(handle.search(q, { k: 0 })).rejects.toBeInstanceOf(IndexError);
        await expect(
          handle.search(q, { k: 3, filter: { colour: { $gt: 1 } } as never }),
        ).rejects.toMatchObject({ code: 'invalid_filter' });
        await expect(handle.search([1, 2], { k: 3 })).rejects.toMatchObject({
          code: 'invalid_query',
        });
        expect(await handle.search(q, { k: 3 })).toHaveLength(3);
      } finally {
        await host.close();
      }
    });
  });
}

describe('view threads', () => {
  it('replace a thread that failed: its views refuse searches (503) until their owner rebuilt them', async () => {
    const rebound: ViewHandle[][] = [];
    const host = new ThreadViewHost(1, { onRebound: (v) => rebound.push(v) });
    try {
      const handle = host.open(dim, 'cosine');
      const points = makePoints(50, dim, 4);
      handle.upsert(points, 50);
      expect((await handle.search(points[1]!.vector, { k: 1 }))[0]!.id).toBe('p1');
      host.fault();
      await expect.poll(() => handle.unavailableReason, { timeout: 10_000 }).not.toBeNull();
      await expect(handle.search(points[1]!.vector, { k: 1 })).rejects.toMatchObject({
        code: 'view_unavailable',
      });
      await expect.poll(() => rebound.length, { timeout: 20_000 }).toBe(1);
      expect(rebound[0]).toEqual([handle]);
      expect(host.serving).toBe(1);
      // The new thread holds an empty view: the owner replays, then marks it available.
      handle.upsert(points, 50);
      handle.markAvailable();
      expect((await handle.search(points[1]!.vector, { k: 1 }))[0]!.id).toBe('p1');
      expect((await handle.stats()).points).toBe(50);
    } finally {
      await host.close();
    }
  });

  it('empty their scratch directory when they start and when they close', async () => {
    const scratchDir = join(segments.dir, 'scratch');
    await mkdir(scratchDir, { recursive: true });
    await writeFile(join(scratchDir, 'meridian-left-over.hnsw'), 'x');
    const host = new ThreadViewHost(1, { scratchDir });
    expect(existsSync(join(scratchDir, 'meridian-left-over.hnsw'))).toBe(false);
    const handle = host.open(dim, 'cosine');
    const f = await segments.file(makePoints(20, dim, 2));
    handle.commit(await handle.prepare([f], expect_), [], 20);
    expect((await handle.stats()).points).toBe(20);
    await host.close();
    expect(existsSync(scratchDir)).toBe(false);
  });
});
