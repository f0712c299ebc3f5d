import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { FlatIndex } from './flat-index.ts';
import { IndexView } from './index-view.ts';
import { searchableContract } from './searchable-contract.ts';
import { buildSegment, closeIndexWorkers, loadSegment } from './segment-store.ts';
import type { Metric, SeqPoint } from './types.ts';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meridian-contract-'));
});
afterAll(async () => {
  await closeIndexWorkers();
  await rm(dir, { recursive: true, force: true });
});

async function segmentOf(points: SeqPoint[], dim: number, metric: Metric) {
  const built = await buildSegment(points, {
    collection: 'c',
    generation: 'm@1',
    dim,
    metric,
    hnsw: { M: 16, efConstruction: 200, efSearch: 64 },
    dir,
  });
  return (await loadSegment(built.path, { expectedDigest: built.digest })).segment;
}

searchableContract('flat (exact oracle)', async (points, dim, metric) => {
  const flat = new FlatIndex(dim, metric);
  for (const p of points) flat.upsert(p.id, p.vector, p.metadata);
  return flat;
});

searchableContract('HNSW segment', segmentOf);

searchableContract('view: two segments and a memtable', async (points, dim, metric) => {
  const view = new IndexView({ dim, metric });
  const third = Math.ceil(points.length / 3);
  const a = points.slice(0, third);
  const b = points.slice(third, 2 * third);
  const segs = [];
  if (a.length) segs.push(await segmentOf(a, dim, metric));
  if (b.length) segs.push(await segmentOf(b, dim, metric));
  const sealedUpTo = Math.max(0, ...[...a, ...b].map((p) => p.seq));
  view.install({ segments: segs, tombstones: [], coversSeq: sealedUpTo });
  for (const p of points.slice(2 * third)) view.upsert([p], p.seq);
  return view;
});
