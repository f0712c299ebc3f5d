import { afterAll, describe, expect, it } from 'vitest';
import {
  FlatIndex,
  buildSegment,
  closeIndexWorkers,
  defaultHnswParams,
  loadSegment,
} from '../index/index.ts';
import { loadRecallDatasets } from '../dev/harness/datasets.ts';
import type { Dataset } from '../dev/harness/datasets.ts';
import { makeTempDir } from '../dev/harness/tmp.ts';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  await closeIndexWorkers();
  await Promise.all(cleanups.map((c) => c()));
});

/** Recall@10 of an HNSW segment at the default parameters against the dataset's exact ground truth. */
async function recallAt10(ds: Dataset): Promise<{ hnsw: number; flat: number }> {
  const tmp = await makeTempDir('recall');
  cleanups.push(tmp.cleanup);
  const points = Array.from({ length: ds.baseCount }, (_, i) => ({
    id: String(i),
    seq: i + 1,
    vector: ds.base.subarray(i * ds.dim, (i + 1) * ds.dim),
    metadata: null,
  }));
  const built = await buildSegment(points, {
    collection: ds.name,
    generation: 'test@1',
    dim: ds.dim,
    metric: ds.metric,
    hnsw: defaultHnswParams,
    dir: tmp.path,
  });
  const { segment } = await loadSegment(built.path, { expectedDigest: built.digest });
  const flat = new FlatIndex(ds.dim, ds.metric, ds.baseCount);
  for (const p of points) flat.upsert(p.id, p.vector, null);

  let hitsHnsw = 0;
  let hitsFlat = 0;
  for (let q = 0; q < ds.queryCount; q++) {
    const query = ds.queries.subarray(q * ds.dim, (q + 1) * ds.dim);
    const truth = new Set(
      Array.from(ds.groundTruth.subarray(q * ds.gtK, q * ds.gtK + 10), (i) => String(i)),
    );
    for (const h of segment.search(query, { k: 10 })) if (truth.has(h.id)) hitsHnsw++;
    for (const h of flat.search(query, { k: 10 })) if (truth.has(h.id)) hitsFlat++;
  }
  const total = ds.queryCount * 10;
  return { hnsw: hitsHnsw / total, flat: hitsFlat / total };
}

describe('recall', () => {
  // The three shared sets when ../shared is present; the npm-installed Fiori set otherwise.
  for (const ds of loadRecallDatasets()) {
    it(`reaches recall@10 >= 0.98 on ${ds.name} (${ds.baseCount} x ${ds.dim}, ${ds.metric}) at default parameters`, async () => {
      const r = await recallAt10(ds);
      // The flat oracle must agree with the published ground truth (ties aside).
      expect(r.flat).toBeGreaterThanOrEqual(0.995);
      expect(r.hnsw).toBeGreaterThanOrEqual(0.98);
    });
  }
});
