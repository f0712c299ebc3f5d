/**
 * A leaf region's replica receives only its placed collections' WAL entries and closes
 * the gaps the others leave with the primary's beacons (ADR 0011, PlacedPosition). Here
 * its WAL apply is slowed, so beacons naming a write arrive long before the write does:
 * at every position the replica reports, every acknowledged write of a collection it
 * holds at or below that position must already be searchable in its views.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../dev/cluster/launcher.ts';
import type { Primary, Replica } from '../../sync/index.ts';
import { startFollower, startPrimary, stopAll } from '../../dev/harness/cluster.ts';
import type { NodeHandle } from '../../dev/harness/cluster.ts';
import { startNatsServer } from '../../dev/harness/nats-server.ts';
import type { NatsServerHandle } from '../../dev/harness/nats-server.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';

const DIM = 8;
/** Held in eu-west: A and B (placed everywhere). Not held: X (us-east only). */
const HELD = ['a', 'b'];
const ELSEWHERE = 'x';

let hub: NatsServerHandle;
let leaf: NatsServerHandle;
let primary: NodeHandle<Primary>;
let follower: NodeHandle<Replica>;

beforeAll(async () => {
  const leafPort = await freePort();
  hub = await startNatsServer({
    config: `server_name: hub\njetstream { domain: "us-east" }\nleafnodes { listen: "127.0.0.1:${leafPort}" }`,
  });
  leaf = await startNatsServer({
    config: `server_name: leaf\njetstream { domain: "eu-west" }\nleafnodes { remotes: [ { url: "nats-leaf://127.0.0.1:${leafPort}" } ] }`,
  });
  primary = await startPrimary({
    natsUrl: hub.url,
    region: 'us-east',
    node: 'p',
    regions: ['us-east', 'eu-west'],
  });
  for (const name of HELD) {
    await primary.node.createCollection({ name, dim: DIM, metric: 'l2', model: 'm@1' });
  }
  await primary.node.createCollection({
    name: ELSEWHERE,
    dim: DIM,
    metric: 'l2',
    model: 'm@1',
    placement: ['us-east'],
  });
  follower = await startFollower({
    natsUrl: leaf.url,
    region: 'eu-west',
    node: 'f',
    hubDomain: 'us-east',
    // Each WAL batch waits: the primary's beacons (within 5 ms of a commit) overtake it.
    hooks: { beforeWalBatch: () => new Promise((r) => setTimeout(r, 150)) },
  });
}, 60_000);

afterAll(() => stopAll([follower, primary], [leaf, hub]));

describe('a leaf replica’s position', () => {
  it('never passes an acknowledged write of a held collection before that write is applied', async () => {
    const replica = follower.node;
    const acked: Array<{ collection: string; id: string; vector: number[]; seq: number }> = [];
    const violations: string[] = [];
    let checks = 0;
    // Each search is asked the moment the position moves; it reflects every write applied
    // before it was asked, so it must find every acknowledged write at or below that position.
    const searches: Array<Promise<void>> = [];
    const check = () => {
      const at = replica.appliedSeq;
      for (const w of acked) {
        if (w.seq > at || !HELD.includes(w.collection)) continue;
        checks++;
        const view = replica.served(w.collection)?.view;
        const asked = view ? view.search(w.vector, { k: 1 }) : Promise.resolve([]);
        searches.push(
          asked.then(([hit]) => {
            if (hit?.id !== w.id)
              violations.push(`position ${at} but ${w.collection}/${w.id} (seq ${w.seq}) missing`);
          }),
        );
      }
    };
    const off = replica.onChange(check);
    try {
      for (let i = 0; i < 24; i++) {
        const collection = [...HELD, ELSEWHERE][i % 3]!;
        const vector = Array.from({ length: DIM }, (_, j) => i * 10 + j);
        const w = await primary.node.upsert(collection, [{ id: `p${i}`, vector }]);
        acked.push({ collection, id: `p${i}`, vector, seq: w.seq });
      }
      const last = acked[acked.length - 1]!.seq;
      await waitFor(() => replica.appliedSeq >= last, {
        timeoutMs: 30_000,
        message: `the leaf replica at seq ${last}`,
      });
      check();
    } finally {
      off();
    }
    await Promise.all(searches);
    expect(violations).toEqual([]);
    expect(checks).toBeGreaterThan(24);
    // X is placed elsewhere: none of it here, and it did not hold the position back.
    expect((await replica.served(ELSEWHERE)?.view.stats())?.points ?? 0).toBe(0);
  });
});
