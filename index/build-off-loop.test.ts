import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makePoints } from './searchable-contract.ts';
import { buildSegment, closeIndexWorkers, loadSegment } from './segment-store.ts';

const dirs: string[] = [];
afterAll(async () => {
  await closeIndexWorkers();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('segment builds', () => {
  it('answer queries on the event loop while a large build runs in a worker', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meridian-offloop-'));
    dirs.push(dir);
    const dim = 64;
    const opts = {
      collection: 'c',
      generation: 'g',
      dim,
      metric: 'cosine' as const,
      hnsw: { M: 16, efConstruction: 200, efSearch: 64 },
      dir,
    };
    const small = makePoints(100, dim, 1);
    const built = await buildSegment(small, opts);
    const { segment } = await loadSegment(built.path, { expectedDigest: built.digest });

    const events: string[] = [];
    const big = buildSegment(makePoints(20_000, dim, 2), opts).then(() =>
      events.push('build done'),
    );
    // Queries from timers: they can only run if the event loop is free during the build.
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 1));
      const hit = segment.search(small[i]!.vector, { k: 1 })[0];
      events.push(`query ${hit!.id}`);
    }
    await big;
    expect(events).toEqual([
      'query p0',
      'query p1',
      'query p2',
      'query p3',
      'query p4',
      'build done',
    ]);
  });
});
