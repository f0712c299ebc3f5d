import { describe, expect, it } from 'vitest';
import type { Metric, SearchableIndex, SeqPoint } from './types.ts';

/**
 * The contract every searchable index keeps, run against the exact flat index (the
 * oracle), HNSW segments and the view. Small data, so HNSW must be exact here too.
 */
export type IndexFactory = (
  points: SeqPoint[],
  dim: number,
  metric: Metric,
) => Promise<SearchableIndex>;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function makePoints(n: number, dim: number, seed = 1): SeqPoint[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => ({
    id: `p${i}`,
    seq: i + 1,
    vector: Float32Array.from({ length: dim }, () => r() * 2 - 1),
    metadata: { i, colour: ['red', 'green', 'blue'][i % 3]!, even: i % 2 === 0 },
  }));
}

export function searchableContract(name: string, factory: IndexFactory): void {
  describe(`searchable index contract: ${name}`, () => {
    const dim = 16;
    const points = makePoints(300, dim);

    for (const metric of ['cosine', 'l2', 'ip'] as const) {
      it(`returns the point itself first with the best score (${metric})`, async () => {
        const index = await factory(points, dim, metric);
        expect(index.size).toBe(points.length);
        const hits = index.search(points[7]!.vector, { k: 5 });
        expect(hits).toHaveLength(5);
        if (metric !== 'ip') expect(hits[0]!.id).toBe('p7');
        for (let i = 1; i < hits.length; i++) {
          expect(hits[i - 1]!.score).toBeGreaterThanOrEqual(hits[i]!.score);
        }
        if (metric === 'cosine') expect(hits[0]!.score).toBeCloseTo(1, 5);
        if (metric === 'l2') expect(hits[0]!.score).toBeCloseTo(0, 5);
      });
    }

    it('scores follow the documented meaning per metric', async () => {
      const a = Float32Array.from({ length: dim }, (_, i) => (i === 0 ? 3 : 0));
      const b = Float32Array.from({ length: dim }, (_, i) => (i === 1 ? 4 : 0));
      const pts: SeqPoint[] = [{ id: 'b', seq: 1, vector: b, metadata: null }];
      const l2 = await factory(pts, dim, 'l2');
      expect(l2.search(a, { k: 1 })[0]!.score).toBeCloseTo(-5, 4);
      const ip = await factory(pts, dim, 'ip');
      expect(ip.search(a, { k: 1 })[0]!.score).toBeCloseTo(0, 4);
      const cos = await factory(pts, dim, 'cosine');
      expect(cos.search(b, { k: 1 })[0]!.score).toBeCloseTo(1, 4);
    });

    it('returns at most the number of points when k is larger', async () => {
      const index = await factory(points.slice(0, 4), dim, 'l2');
      expect(index.search(points[0]!.vector, { k: 50 })).toHaveLength(4);
    });

    it('applies an equality and an $in metadata filter', async () => {
      const index = await factory(points, dim, 'l2');
      const red = index.search(points[0]!.vector, { k: 20, filter: { colour: 'red' } });
      expect(red).toHaveLength(20);
      expect(red.every((h) => h.metadata?.colour === 'red')).toBe(true);
      const rb = index.search(points[0]!.vector, {
        k: 30,
        filter: { colour: { $in: ['red', 'blue'] }, even: true },
      });
      expect(rb.length).toBeGreaterThan(0);
      expect(rb.every((h) => h.metadata?.colour !== 'green' && h.metadata?.even === true)).toBe(
        true,
      );
    });

    it('returns the metadata stored with each point', async () => {
      const index = await factory(points, dim, 'cosine');
      const [hit] = index.search(points[42]!.vector, { k: 1 });
      expect(hit!.metadata).toEqual(points[42]!.metadata);
    });

    it('rejects a query of the wrong dimension and a bad k', async () => {
      const index = await factory(points.slice(0, 10), dim, 'l2');
      expect(() => index.search(new Float32Array(dim + 1), { k: 1 })).toThrow(/dimensions/);
      expect(() => index.search([NaN, ...new Array(dim - 1).fill(0)], { k: 1 })).toThrow(/finite/);
      expect(() => index.search(points[0]!.vector, { k: 0 })).toThrow(/k must be/);
    });
  });
}
