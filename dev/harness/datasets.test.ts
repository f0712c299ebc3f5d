import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  exactTopK,
  generateClustered,
  loadFioriDataset,
  loadRecallDatasets,
  loadSharedDataset,
  seededRandom,
  SHARED_DATASETS_ENV,
  sharedDatasetNames,
  sharedDatasetsDir,
} from './datasets.ts';
import type { Dataset } from './datasets.ts';
import { makeTempDir } from './tmp.ts';

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  a.forEach((x, i) => {
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  });
  return dot / Math.sqrt(na * nb);
}

const row = (data: Float32Array, dim: number, i: number): Float32Array =>
  data.subarray(i * dim, (i + 1) * dim);

function expectWellFormed(d: Dataset): void {
  expect(d.base.length).toBe(d.baseCount * d.dim);
  expect(d.queries.length).toBe(d.queryCount * d.dim);
  expect(d.groundTruth.length).toBe(d.queryCount * d.gtK);
  expect(d.groundTruth.every((id) => id >= 0 && id < d.baseCount)).toBe(true);
}

describe('datasets', () => {
  const savedEnv = process.env[SHARED_DATASETS_ENV];
  afterEach(() => {
    if (savedEnv === undefined) delete process.env[SHARED_DATASETS_ENV];
    else process.env[SHARED_DATASETS_ENV] = savedEnv;
  });

  it('splits the Fiori embeddings into 678 base rows and 100 queries of dim 384', () => {
    const d = loadFioriDataset();
    expect([d.dim, d.metric, d.baseCount, d.queryCount, d.gtK]).toEqual([
      384,
      'cosine',
      678,
      100,
      100,
    ]);
    expectWellFormed(d);
    expect(d.texts).toHaveLength(678);
    expect(d.ids).toHaveLength(678);
    expect(new Set(d.ids).size).toBe(678);
    expect(d.texts?.every((t) => t.length > 0)).toBe(true);
  });

  it('gives Fiori ground truth whose first neighbour has the highest cosine', () => {
    const d = loadFioriDataset();
    for (let q = 0; q < d.queryCount; q++) {
      const query = row(d.queries, d.dim, q);
      const sims = Array.from({ length: d.baseCount }, (_, i) =>
        cosine(query, row(d.base, d.dim, i)),
      );
      const gt = Array.from(d.groundTruth.subarray(q * d.gtK, (q + 1) * d.gtK));
      expect(sims[gt[0] ?? -1]).toBeCloseTo(Math.max(...sims), 6);
      // The list is ordered: each neighbour is no closer than the one before it.
      for (let r = 1; r < gt.length; r++) {
        expect(sims[gt[r] ?? -1]).toBeLessThanOrEqual((sims[gt[r - 1] ?? -1] ?? 0) + 1e-6);
      }
    }
  });

  it('splits Fiori the same way on every load', () => {
    const a = loadFioriDataset();
    const b = loadFioriDataset();
    expect(b.ids).toEqual(a.ids);
    expect(b.groundTruth).toEqual(a.groundTruth);
  });

  it.each(sharedDatasetNames)(
    'loads %s with the counts in its meta.json, or null when absent',
    (name) => {
      const metaPath = join(sharedDatasetsDir(), name, 'meta.json');
      const d = loadSharedDataset(name);
      if (!existsSync(metaPath)) {
        expect(d).toBeNull();
        return;
      }
      const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as {
        dim: number;
        metric: string;
        base: { count: number };
        query: { count: number };
        groundtruth: { k: number };
      };
      expect(d).not.toBeNull();
      if (d === null) return;
      expect([d.dim, d.metric, d.baseCount, d.queryCount, d.gtK]).toEqual([
        meta.dim,
        meta.metric,
        meta.base.count,
        meta.query.count,
        meta.groundtruth.k,
      ]);
      expect(d.metric).toBe(name === 'sift-ngt-5k' ? 'l2' : 'cosine');
      expectWellFormed(d);
      // exactTopK must reproduce the published ground truth: it is the oracle for the Fiori set.
      for (let q = 0; q < 5; q++) {
        const top = exactTopK(d.base, d.baseCount, d.dim, d.metric, row(d.queries, d.dim, q), 10);
        expect(top).toEqual(Array.from(d.groundTruth.subarray(q * d.gtK, q * d.gtK + 10)));
      }
    },
  );

  it('falls back to the Fiori set when no shared dataset is present', async () => {
    const empty = await makeTempDir('no-datasets');
    try {
      process.env[SHARED_DATASETS_ENV] = empty.path;
      expect(loadSharedDataset('sift-ngt-5k')).toBeNull();
      expect(loadRecallDatasets().map((d) => d.name)).toEqual(['fiori-docs-384']);
    } finally {
      await empty.cleanup();
    }
  });

  it('generates the same clustered vectors for the same seed and different ones otherwise', () => {
    const a = generateClustered({ n: 500, dim: 16, clusters: 4, seed: 7 });
    expect(a).toHaveLength(500 * 16);
    expect(a.every(Number.isFinite)).toBe(true);
    expect(generateClustered({ n: 500, dim: 16, clusters: 4, seed: 7 })).toEqual(a);
    expect(generateClustered({ n: 500, dim: 16, clusters: 4, seed: 8 })).not.toEqual(a);
  });

  it('generates points that sit closer to their own cluster than to random points', () => {
    const dim = 32;
    const data = generateClustered({ n: 400, dim, clusters: 4, seed: 3 });
    const top = exactTopK(data, 400, dim, 'l2', row(data, dim, 0), 5);
    expect(top[0]).toBe(0);
    const dist = (i: number): number =>
      row(data, dim, i).reduce((s, x, j) => s + (x - (data[j] ?? 0)) ** 2, 0);
    const mean = Array.from({ length: 400 }, (_, i) => dist(i)).reduce((s, x) => s + x) / 400;
    expect(dist(top[4] ?? -1)).toBeLessThan(mean / 4);
  });

  it('draws a repeatable uniform sequence in [0, 1) from a seed', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = xs.reduce((s, x) => s + x) / xs.length;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
  });

  it('ranks exact top-k by metric, ties to the lower index', () => {
    const base = Float32Array.from([1, 0, 0, 1, 2, 0, 1, 0, -1, 0]);
    expect(exactTopK(base, 5, 2, 'cosine', [1, 0], 3)).toEqual([0, 2, 3]);
    expect(exactTopK(base, 5, 2, 'ip', [1, 0], 2)).toEqual([2, 0]);
    expect(exactTopK(base, 5, 2, 'l2', [1, 0], 5)).toEqual([0, 3, 2, 1, 4]);
    expect(exactTopK(base, 5, 2, 'l2', [0, 0], 10)).toHaveLength(5);
  });
});
