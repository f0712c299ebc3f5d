import { existsSync } from 'node:fs';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IndexError } from './errors.ts';
import { IndexView } from './index-view.ts';
import { makePoints } from './searchable-contract.ts';
import { useSegmentDir } from './segment-fixture.ts';
import { SearchThreads } from './search-threads.ts';
import { loadSegment } from './segment-store.ts';
import type { SearchHit, SearchOptions } from './types.ts';

const dim = 16;
const segments = useSegmentDir('meridian-search-threads-', { dim, metric: 'cosine' });
const seg = segments.seg;

/** A search on the threads, with what the view itself answered at the moment it was asked. */
function ask(view: IndexView, q: Float32Array, options: SearchOptions) {
  const expected = view.search(q, options);
  return { expected, answer: view.searchAsync(q, options) };
}

describe('search threads', () => {
  it('answer each search exactly as the view stood when it was asked, with writes racing behind it', async () => {
    const threads = new SearchThreads(2);
    try {
      const view = new IndexView({ dim, metric: 'cosine' });
      view.attachSearchThreads(threads);
      const all = makePoints(400, dim, 7);
      const queries = makePoints(12, dim, 99).map((p) => p.vector);
      const asked: Array<{ expected: SearchHit[]; answer: Promise<SearchHit[]> }> = [];
      const askAll = () => {
        for (const q of queries) asked.push(ask(view, q, { k: 10 }));
        asked.push(ask(view, queries[0]!, { k: 5, filter: { colour: 'red' } }));
      };

      const first = await seg(all.slice(0, 200));
      view.install({ segments: [first], tombstones: [], coversSeq: 200 });
      // Until the threads have loaded the segment the view answers itself, the same way.
      expect(view.searchThreadsReady).toBe(false);
      askAll();
      await expect.poll(() => view.searchThreadsReady, { timeout: 20_000 }).toBe(true);
      const before = threads.answered;
      // Memtable writes that shadow and delete sealed copies; each round's searches are
      // asked BEFORE the next writes and only awaited at the end.
      for (let round = 0; round < 5; round++) {
        const base = 200 + round * 40;
        view.upsert(
          all.slice(base, base + 40).map((p) => ({ ...p, id: `p${(p.seq * 7) % 260}` })),
          base + 40,
        );
        askAll();
        view.delete([`p${round}`, `p${round + 100}`], base + 41);
        askAll();
      }
      // A new manifest, then writes behind it, while the threads load it.
      const second = await seg(all.slice(200, 400).map((p, i) => ({ ...p, seq: 500 + i })));
      view.install({
        segments: [first, second],
        tombstones: [{ id: 'p1', seq: 700 }],
        coversSeq: 700,
      });
      view.delete(['p7'], 701);
      askAll();
      await expect.poll(() => view.searchThreadsReady, { timeout: 20_000 }).toBe(true);
      view.upsert([{ id: 'late', vector: all[5]!.vector, metadata: null }], 702);
      askAll();

      for (const a of asked) expect(await a.answer).toEqual(a.expected);
      expect(threads.healthy).toBe(true);
      expect(asked.length).toBe(13 * 13);
      // The threads answered every search asked while they were current (10 rounds + the last).
      expect(threads.answered - before).toBe(13 * 11);
      // The answers changed over time: the comparison was not between constant results.
      expect(asked[0]!.expected).not.toEqual(asked[asked.length - 1]!.expected);
    } finally {
      await threads.close();
    }
  });

  it('reject bad input on the calling thread, with the same typed error as a plain search', async () => {
    const threads = new SearchThreads(1);
    try {
      const view = new IndexView({ dim, metric: 'cosine' });
      view.attachSearchThreads(threads);
      view.upsert(makePoints(5, dim), 5);
      const q = makePoints(1, dim, 3)[0]!.vector;
      await expect(view.searchAsync(q, { k: 0 })).rejects.toBeInstanceOf(IndexError);
      await expect(
        view.searchAsync(q, { k: 3, filter: { colour: { $gt: 1 } } as never }),
      ).rejects.toMatchObject({ code: 'invalid_filter' });
      await expect(view.searchAsync([1, 2], { k: 3 })).rejects.toMatchObject({
        code: 'invalid_query',
      });
      expect(threads.healthy).toBe(true);
    } finally {
      await threads.close();
    }
  });

  it('fall back to the calling thread when a mirror cannot load a segment, answering the same', async () => {
    const downs: Error[] = [];
    const threads = new SearchThreads(1, { onDown: (e) => downs.push(e) });
    try {
      const view = new IndexView({ dim, metric: 'cosine' });
      view.attachSearchThreads(threads);
      const points = makePoints(100, dim, 5);
      // The main thread loads a copy; the mirror is pointed at a file that is then removed.
      const built = await seg(points);
      const gone = join(segments.dir, 'gone');
      await copyFile(built.path!, gone);
      const loaded = (await loadSegment(gone, { expectedDigest: built.digest })).segment;
      await rm(gone);
      const q = points[3]!.vector;
      view.install({ segments: [loaded], tombstones: [], coversSeq: 100 });
      // Asked while the mirror is failing: answered anyway, from this thread.
      const during = ask(view, q, { k: 5 });
      expect(await during.answer).toEqual(during.expected);
      expect(during.expected[0]!.id).toBe('p3');
      await expect.poll(() => threads.healthy, { timeout: 20_000 }).toBe(false);
      expect(downs[0]!.message).toMatch(/search thread/);
      const after = ask(view, q, { k: 5 });
      expect(await after.answer).toEqual(after.expected);
    } finally {
      await threads.close();
    }
  });

  it('take a view that already holds data whole, then follow its writes', async () => {
    const view = new IndexView({ dim, metric: 'cosine' });
    const points = makePoints(300, dim, 11);
    view.install({ segments: [await seg(points.slice(0, 200))], tombstones: [], coversSeq: 200 });
    view.upsert(points.slice(200, 260), 260);
    view.upsert([{ ...points[270]!, id: 'p3' }], 261); // shadows a sealed copy
    view.delete(['p4', 'p210'], 262); // a sealed id and a memtable id
    // A graph left by an earlier load cut short is cleared when threads start.
    const scratchDir = join(segments.dir, 'scratch');
    await mkdir(scratchDir, { recursive: true });
    await writeFile(join(scratchDir, 'meridian-left-over.hnsw'), 'x');
    const threads = new SearchThreads(1, { scratchDir });
    expect(existsSync(join(scratchDir, 'meridian-left-over.hnsw'))).toBe(false);
    try {
      view.attachSearchThreads(threads);
      view.upsert(points.slice(260, 300), 263);
      await expect.poll(() => view.searchThreadsReady, { timeout: 20_000 }).toBe(true);
      const before = threads.answered;
      const qs = [...points.slice(0, 40), points[270]!];
      const asked = qs.map((p) => ask(view, p.vector, { k: 10 }));
      for (const a of asked) expect(await a.answer).toEqual(a.expected);
      expect(threads.answered - before).toBe(41);
      const ids = asked.flatMap((a) => a.expected.map((h) => h.id));
      expect(ids).not.toContain('p4');
      expect(ids).toContain('p3');
    } finally {
      await threads.close();
    }
    expect(existsSync(scratchDir)).toBe(false);
  });
});
