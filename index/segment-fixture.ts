/**
 * Test helper: a temporary directory for segment files, a builder of segment files in it
 * and of loaded segments, with the suite's beforeAll / afterAll (which also stop the index workers).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { buildSegment, closeIndexWorkers, loadSegment } from './segment-store.ts';
import type { Segment } from './segment.ts';
import type { Metric, SeqPoint } from './types.ts';

export function useSegmentDir(
  prefix: string,
  o: { dim: number; metric: Metric },
): {
  readonly dir: string;
  seg(points: SeqPoint[]): Promise<Segment>;
  file(points: SeqPoint[]): Promise<{ digest: string; path: string }>;
} {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    await closeIndexWorkers();
    await rm(dir, { recursive: true, force: true });
  });
  const file = async (points: SeqPoint[]) => {
    const b = await buildSegment(points, {
      collection: 'c',
      generation: 'g',
      dim: o.dim,
      metric: o.metric,
      hnsw: { M: 16, efConstruction: 100, efSearch: 64 },
      dir,
    });
    return { digest: b.digest, path: b.path };
  };
  return {
    get dir() {
      return dir;
    },
    async seg(points) {
      const b = await file(points);
      return (await loadSegment(b.path, { expectedDigest: b.digest })).segment;
    },
    file,
  };
}
