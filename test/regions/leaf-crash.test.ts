/**
 * Issue 11 in a leaf region: a follower of a per-collection mirror, paused (SIGSTOP),
 * killed (SIGKILL) and restarted under writes, never serves a position it does not hold.
 * Its position is closed over other collections by the primary's beacons (decision 0011),
 * so the hub's test (test/faults/restarts.test.ts) does not cover it. Two regions only: a
 * third would add processes, not cases, on this 2-core machine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crashRounds, missingOn, startWriter } from '../../dev/harness/crash-workload.ts';
import { TEST_KEYS, api, startRegions } from '../../dev/harness/regions.ts';
import type { RegionCluster } from '../../dev/harness/regions.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';

let cluster: RegionCluster;

beforeAll(async () => {
  cluster = await startRegions({
    prefix: 'leaf-crash',
    topology: {
      regions: [{ name: 'us-east', primary: true }, { name: 'eu-west' }],
      rttMs: { 'us-east': { 'eu-west': 40 } },
      jitterMs: 2,
    },
    // Seals (and so manifest applies) land inside the rounds, not after every write.
    seal: { maxPoints: 100_000, maxAgeMs: 2_000 },
  });
}, 80_000);

afterAll(async () => {
  await cluster?.close();
});

describe('a leaf follower', () => {
  it('paused, killed and restarted 10 times never serves a position it does not hold', async () => {
    const primaryUrl = () => cluster.hub.primaryUrl!;
    // A collection placed in the leaf and one that is not: the WAL the leaf sees has gaps.
    for (const [name, placement] of [
      ['lk', ['us-east', 'eu-west']],
      ['hub-only', ['us-east']],
    ]) {
      const res = await api(`${primaryUrl()}/v1/collections/${name}`, 'PUT', { dim: 4, metric: 'l2', model: 'm@1', placement }); // prettier-ignore
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
    let f = await cluster.startFollower('eu-west', 'lk1');
    // The launched cluster knows one key, the admin's.
    const writer = startWriter(primaryUrl, 'lk', TEST_KEYS.admin, 2);
    const other = startWriter(primaryUrl, 'hub-only', TEST_KEYS.admin, 1);
    let result;
    try {
      result = await crashRounds({
        rounds: 10,
        seed: 31,
        primaryUrl,
        collection: 'lk',
        writer,
        key: TEST_KEYS.admin,
        readMs: 1_000,
        target: {
          url: () => f.url,
          pause: () => f.proc.kill('SIGSTOP'),
          kill: async () => {
            const exited = new Promise((r) => f.proc.once('exit', r));
            f.proc.kill('SIGKILL');
            await exited;
          },
          restart: async () => {
            f = await cluster.startFollower('eu-west', 'lk1');
          },
        },
      });
    } finally {
      await Promise.all([writer.stop(), other.stop()]);
    }
    expect(result.details).toEqual([]);
    expect(result.staleReads).toBe(0);
    expect(result.reads).toBeGreaterThan(20);
    expect(other.acked.length).toBeGreaterThan(0);
    const ids = writer.acked.map((w) => w.id);
    await waitFor(
      async () => (await missingOn(f.url, 'lk', ids, 'strong', TEST_KEYS.admin)).length === 0,
      { timeoutMs: 30_000, message: 'the leaf follower to hold every acknowledged write' },
    );
  }, 240_000);
});
