import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SearchThreadsDown } from '../../index/index.ts';
import type { Primary } from '../../sync/index.ts';
import { startPrimary, stopAll } from '../harness/cluster.ts';
import type { NodeHandle } from '../harness/cluster.ts';
import { generateClustered } from '../harness/datasets.ts';
import { startNatsServer } from '../harness/nats-server.ts';
import type { NatsServerHandle } from '../harness/nats-server.ts';

const DIM = 16;
let nats: NatsServerHandle;
let primary: NodeHandle<Primary>;

beforeAll(async () => {
  nats = await startNatsServer();
  primary = await startPrimary({
    natsUrl: nats.url,
    region: 'us-east',
    node: 'p1',
    regions: ['us-east'],
    searchThreads: 1,
  });
});

afterAll(() => stopAll([primary], [nats]));

describe("a replica's search threads", () => {
  it('start after the initial sync, come back after a crash, and never change an answer', async () => {
    const p = primary.node;
    await p.createCollection({ name: 'st', dim: DIM, metric: 'l2', model: 'm@1' });
    const data = generateClustered({ n: 3_000, dim: DIM, seed: 3 });
    const vec = (i: number) => data.subarray(i * DIM, (i + 1) * DIM);
    const put = (from: number, to: number) =>
      p.upsert(
        'st',
        Array.from({ length: to - from }, (_, j) => ({
          id: `s${from + j}`,
          vector: vec(from + j),
        })),
      );
    await put(0, 2_000);
    await p.seal('st');
    await put(2_000, 3_000); // a memtable on top of the segment
    const view = p.replica.served('st')!.view;
    const queries = Array.from({ length: 30 }, (_, i) => vec(i * 97));
    const check = async () => {
      for (const q of queries) {
        const expected = view.search(q, { k: 10 });
        expect(await view.searchAsync(q, { k: 10 })).toEqual(expected);
      }
    };

    const first = p.replica.searchThreads!;
    await expect.poll(() => view.searchThreadsReady, { timeout: 20_000 }).toBe(true);
    let answered = first.answered;
    await check();
    expect(first.answered - answered).toBe(queries.length);

    // A message the thread cannot handle (a view it never heard of) crashes it, as a bug would.
    await expect(first.trySearch(9_999, vec(0), { k: 1 })).rejects.toBeInstanceOf(
      SearchThreadsDown,
    );
    expect(first.healthy).toBe(false);
    await check(); // answered on the event loop meanwhile, the same

    // New threads take every view whole (segment + memtable) and serve again.
    await expect.poll(() => p.replica.searchThreads !== first, { timeout: 20_000 }).toBe(true);
    const second = p.replica.searchThreads!;
    await expect.poll(() => view.searchThreadsReady, { timeout: 20_000 }).toBe(true);
    await put(2_500, 2_600); // writes after the restart reach the new mirror too
    answered = second.answered;
    await check();
    expect(second.answered - answered).toBe(queries.length);
  });
});
