/**
 * A node changes role in its process (decision 0018): the seam primary failover uses. A
 * follower becomes the primary of a test collection and a follower again, with no restart,
 * and leaves no handle behind.
 */
import { createHook } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import { useServiceCluster } from '../harness/service-fixture.ts';
import { http } from '../../dev/harness/services.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';

const fx = useServiceCluster(
  ['us-east', 'eu-west'],
  [
    { role: 'primary', region: 'us-east', node: 'p1' },
    { role: 'follower', region: 'eu-west', node: 'f1' },
  ],
);

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
  it('serves as a follower, then as the primary of a new collection, then as a follower again', async () => {
    const { cluster } = fx;
    const p1 = cluster.node('p1');
    const f1 = cluster.node('f1');
    expect(
      (await http(`${p1.url}/v1/collections/docs`, 'PUT', { dim: 3, metric: 'l2', model: 'm@1' }))
        .status,
    ).toBe(201);
    const w = await http(`${p1.url}/v1/collections/docs/points`, 'POST', {
      points: [{ id: 'a', vector: [1, 0, 0] }],
    });
    expect(w.status).toBe(200);
    await waitFor(
      async () => (await query(f1.url, 'docs', 'eventual')).body.results?.length === 1,
      {
        message: 'f1 to serve docs',
      },
    );

    // The primary steps down (its lease is released); the follower takes over in place.
    await cluster.stop('p1');
    const before = resources();
    const followerReplica = f1.replica!;
    await f1.changeRole('primary');
    expect(f1.config.role).toBe('primary');
    expect(f1.primary).not.toBeNull();
    expect(followerReplica.viewHost?.serving ?? 0).toBe(0); // the follower's view threads ended

    const put = await http(`${f1.url}/v1/collections/test`, 'PUT', {
      dim: 3,
      metric: 'l2',
      model: 'm@1',
    });
    expect(put.status).toBe(201);
    const write = await http(`${f1.url}/v1/collections/test/points`, 'POST', {
      points: [{ id: 't1', vector: [1, 0, 0] }],
    });
    expect(write.status, JSON.stringify(write.body)).toBe(200);
    expect(write.body.seq).toBeGreaterThan(w.body.seq);
    const strong = await query(f1.url, 'test', 'strong');
    expect(strong.status, JSON.stringify(strong.body)).toBe(200);
    expect(strong.body.results.map((r: { id: string }) => r.id)).toEqual(['t1']);
    // What it held as a follower it still serves as the primary.
    expect(
      (await query(f1.url, 'docs', 'strong')).body.results.map((r: { id: string }) => r.id),
    ).toEqual(['a']);

    const primaryReplica = f1.replica!;
    await f1.changeRole('follower');
    expect(f1.config.role).toBe('follower');
    expect(f1.primary).toBeNull();
    expect(primaryReplica.viewHost?.serving ?? 0).toBe(0);
    // A follower takes no writes; it serves what it wrote as the primary, from the streams.
    const refused = await http(`${f1.url}/v1/collections/test/points`, 'POST', {
      points: [{ id: 't2', vector: [0, 1, 0] }],
    });
    expect(refused.status).toBe(404);
    const read = await query(f1.url, 'test', 'eventual');
    expect(read.status, JSON.stringify(read.body)).toBe(200);
    expect(read.body.results.map((r: { id: string }) => r.id)).toEqual(['t1']);

    // Nothing the two role changes opened is left: no timer, socket, server or thread more
    // than before (the test's own keep-alive sockets close within a few seconds).
    console.log('BEFORE', [...before], 'NOW', [...resources()]);
    let leaked: string[] = [];
    await waitFor(() => (leaked = noMoreThan(resources(), before)).length === 0, {
      timeoutMs: 15_000,
      message: 'the handles to return to what the follower had',
    }).catch((err: Error) => {
      throw new Error(`${err.message}: ${leaked.join(', ')}`);
    });
  });
});
