/**
 * A node changes role in its process (decision 0018): the seam primary failover uses. A
 * follower becomes the primary of a test collection and a follower again, with no restart,
 * and leaves no handle behind.
 */
import { createHook } from 'node:async_hooks';
import { beforeAll, describe, expect, it } from 'vitest';
import { usePrimaryAndFollower } from '../harness/service-fixture.ts';
import { http } from '../../dev/harness/services.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';

const fx = usePrimaryAndFollower();

/**
 * The handles this process opens from here on, while they live: intervals (unref'd ones
 * too, which `process.getActiveResourcesInfo()` does not list; one-shot timers come and
 * go), sockets, servers, worker threads and their ports, open files.
 */
const KINDS = new Set(['TCPWRAP', 'TCPSERVERWRAP', 'WORKER', 'MESSAGEPORT', 'FILEHANDLE']);
const live = new Map<number, string>();
createHook({
  init(id, type, _trigger, resource) {
    if (type === 'Timeout' && (resource as { _repeat?: number | null })._repeat) {
      live.set(id, 'Interval');
    } else if (KINDS.has(type)) live.set(id, type);
  },
  destroy(id) {
    live.delete(id);
  },
}).enable();

function resources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of live.values()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

function noMoreThan(now: Map<string, number>, before: Map<string, number>): string[] {
  return [...now]
    .filter(([kind, n]) => n > (before.get(kind) ?? 0))
    .map(([kind, n]) => `${kind}: ${before.get(kind) ?? 0} -> ${n}`);
}

async function query(url: string, collection: string, consistency: string) {
  return http(
    `${url}/v1/collections/${collection}/query`,
    'POST',
    { vector: [1, 0, 0], k: 5, consistency },
    'read-key-0123456789abcdef0',
  );
}

describe('a node that changes role', () => {
  let before = new Map<string, number>();
  let firstSeq = 0;
  const read = async (collection: string, consistency: string) =>
    (await query(fx.cluster.node('f1').url, collection, consistency)).body.results?.map(
      (r: { id: string }) => r.id,
    );

  // f1 follows p1 and serves docs; then p1 stops (its lease is released).
  beforeAll(async () => {
    const p1 = fx.cluster.node('p1');
    const put = await http(`${p1.url}/v1/collections/docs`, 'PUT', {
      dim: 3,
      metric: 'l2',
      model: 'm@1',
    });
    expect(put.status).toBe(201);
    const w = await http(`${p1.url}/v1/collections/docs/points`, 'POST', {
      points: [{ id: 'a', vector: [1, 0, 0] }],
    });
    expect(w.status).toBe(200);
    firstSeq = w.body.seq;
    await waitFor(async () => (await read('docs', 'eventual'))?.length === 1, {
      message: 'f1 to serve docs',
    });
    await fx.cluster.stop('p1');
    before = resources();
  });

  it('a follower becomes the primary in place, and its follower view threads end', async () => {
    const f1 = fx.cluster.node('f1');
    const followerReplica = f1.replica!;
    await f1.changeRole('primary');
    expect([f1.config.role, f1.primary !== null]).toEqual(['primary', true]);
    expect(followerReplica.viewHost?.serving ?? 0).toBe(0);
  });

  it("as the primary it creates a collection and takes writes after the old primary's", async () => {
    const { url } = fx.cluster.node('f1');
    expect(
      (await http(`${url}/v1/collections/test`, 'PUT', { dim: 3, metric: 'l2', model: 'm@1' }))
        .status,
    ).toBe(201);
    const write = await http(`${url}/v1/collections/test/points`, 'POST', {
      points: [{ id: 't1', vector: [1, 0, 0] }],
    });
    expect(write.status, JSON.stringify(write.body)).toBe(200);
    expect(write.body.seq).toBeGreaterThan(firstSeq);
  });

  it('as the primary it answers strong reads of its new collection and of what it held as a follower', async () => {
    expect(await read('test', 'strong')).toEqual(['t1']);
    expect(await read('docs', 'strong')).toEqual(['a']);
  });

  it('becomes a follower again: it takes no writes, and serves what it wrote from the streams', async () => {
    const f1 = fx.cluster.node('f1');
    const primaryReplica = f1.replica!;
    await f1.changeRole('follower');
    expect([f1.config.role, f1.primary]).toEqual(['follower', null]);
    expect(primaryReplica.viewHost?.serving ?? 0).toBe(0);
    const refused = await http(`${f1.url}/v1/collections/test/points`, 'POST', {
      points: [{ id: 't2', vector: [0, 1, 0] }],
    });
    expect(refused.status).toBe(404);
    expect(await read('test', 'eventual')).toEqual(['t1']);
  });

  it('leaves no interval, socket, server, thread or open file behind', async () => {
    // The test's own keep-alive sockets close within a few seconds.
    let leaked: string[] = [];
    await waitFor(() => (leaked = noMoreThan(resources(), before)).length === 0, {
      timeoutMs: 15_000,
      message: 'the handles to return to what the follower had',
    }).catch((err: Error) => {
      throw new Error(`${err.message}: ${leaked.join(', ')}`);
    });
    expect(leaked).toEqual([]);
  });
});
