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

/** Nice values of this process's threads (Linux /proc). */
async function threadNices(): Promise<number[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const tasks = await readdir('/proc/self/task');
  const nices = await Promise.all(
    tasks.map(async (t) => {
      const stat = await readFile(`/proc/self/task/${t}/stat`, 'utf8').catch(() => '');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(fields[16]);
    }),
  );
  return nices.filter((n) => Number.isFinite(n));
}

describe('background builds (merges, decision 0015)', () => {
  // Thread priorities are read from /proc: Linux only, as the product's niceness is.
  it.runIf(process.platform === 'linux')(
    'run on a worker thread at nice 19, beside the normal-priority workers',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'meridian-bg-'));
      dirs.push(dir);
      const opts = {
        collection: 'c',
        generation: 'g',
        dim: 32,
        metric: 'l2' as const,
        hnsw: { M: 16, efConstruction: 200, efSearch: 64 },
        dir,
        background: true,
      };
      expect(await threadNices()).not.toContain(19);
      let done = false;
      const build = buildSegment(makePoints(8_000, 32, 5), opts).then((b) => {
        done = true;
        return b;
      });
      let seen = false;
      while (!done && !seen) {
        seen = (await threadNices()).includes(19);
        await new Promise((r) => setTimeout(r, 5));
      }
      const built = await build;
      expect(seen).toBe(true);
      const { segment } = await loadSegment(built.path, { expectedDigest: built.digest });
      expect(segment.count).toBe(8_000);
    },
  );
});
