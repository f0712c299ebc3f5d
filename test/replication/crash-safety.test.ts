import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChildFollower } from '../../dev/harness/child-follower.ts';
import type { ChildEvent } from '../../dev/harness/child-follower.ts';
import { generateClustered } from '../../dev/harness/datasets.ts';
import { makeTempDir } from '../../dev/harness/tmp.ts';
import type { TempDir } from '../../dev/harness/tmp.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';
import { useReplicationCluster } from '../harness/replication-fixture.ts';

const DIM = 64;
const BATCH = 2_000; // about 1.3 MB per segment: two chunks, so a kill can land mid-fetch
// Kill points spread over the apply pipeline: before fetching, after the first chunk,
// before verifying, after loading, before the transaction, inside it before commit, after
// commit before the swap, and after the swap.
const STAGES = ['fetch', 'fetch-chunk', 'verify', 'load', 'transaction', 'commit', 'swap', 'done'];
// Two rounds: each stage killed twice, 16 kill points (three rounds took 145–250 s of `npm test`).
const ROUNDS = 2;

let dir: TempDir;
let child: ChildFollower | null = null;
const data = generateClustered({ n: BATCH * (STAGES.length * ROUNDS + 1), dim: DIM, seed: 11 });
const vec = (i: number) => Array.from(data.subarray(i * DIM, (i + 1) * DIM));

interface CollState {
  viewVersion: number;
  catalogVersion: number;
  viewDigests: string[];
  catalogDigests: string[];
}

const fx = useReplicationCluster({ primary: { seal: { compactAbove: 1_000, mergeFactor: 64 } } });

beforeAll(async () => {
  dir = await makeTempDir('crash');
});

afterAll(async () => {
  await child?.stop();
  await dir?.cleanup();
});

async function writeAndSeal(round: number): Promise<number> {
  const p = fx.primary.node;
  const base = round * BATCH;
  await p.upsert(
    'crash',
    Array.from({ length: BATCH }, (_, j) => ({ id: `c${base + j}`, vector: vec(base + j) })),
  );
  const m = await p.seal('crash');
  return m!.version;
}

function only(e: ChildEvent): CollState {
  const cols = e.collections as CollState[];
  expect(cols).toHaveLength(1);
  return cols[0]!;
}

describe('follower crash safety', () => {
  it(`stays on version v or v+1 and converges after SIGKILL at ${STAGES.length * ROUNDS} points of the apply`, async () => {
    await fx.primary.node.createCollection({ name: 'crash', dim: DIM, metric: 'l2', model: 'm@1' });
    let version = await writeAndSeal(0);
    child = new ChildFollower({
      natsUrl: fx.nats.url,
      dataDir: dir.path,
      region: 'eu-west',
      node: 'c1',
    });
    await child.next((e) => e.event === 'ready' && only(e).viewVersion === version, 60_000, true);
    await child.stop();

    let run = 0;
    for (let r = 0; r < ROUNDS; r++) {
      for (const stage of STAGES) {
        run++;
        const v = version;
        const crashAt = { stage, version: v + 1, chunk: 0 };
        child = new ChildFollower({
          natsUrl: fx.nats.url,
          dataDir: dir.path,
          region: 'eu-west',
          node: 'c1',
          crashAt,
        });
        await child.next((e) => e.event === 'ready', 60_000, true);
        version = await writeAndSeal(run);
        const exit = await child.exited;
        expect(exit.signal, `run ${run} (${stage}) should have been killed`).toBe('SIGKILL');

        child = new ChildFollower({
          natsUrl: fx.nats.url,
          dataDir: dir.path,
          region: 'eu-west',
          node: 'c1',
        });
        const recovered = only(await child.next((e) => e.event === 'recovered', 60_000, true));
        // What the catalog says is exactly what is loaded, and it is v or v+1, never a mix.
        expect([v, v + 1], `run ${run} (${stage})`).toContain(recovered.catalogVersion);
        expect(recovered.viewVersion).toBe(recovered.catalogVersion);
        expect(recovered.viewDigests).toEqual(recovered.catalogDigests);
        if (stage === 'commit') expect(recovered.catalogVersion, 'rolled back').toBe(v);
        if (stage === 'done') expect(recovered.catalogVersion, 'committed').toBe(v + 1);

        await child.next((e) => e.event === 'ready', 60_000, true);
        const target = fx.primary.node.commitPosition.seq;
        await waitFor(
          async () => {
            const s = await child!.request({ cmd: 'status' }, 'status');
            return only(s).viewVersion === version && (s.appliedSeq as number) >= target;
          },
          { timeoutMs: 60_000, message: `run ${run} (${stage}): follower did not converge` },
        );
        const q = vec(run * BATCH + 3);
        const res = await child.request(
          { cmd: 'query', collection: 'crash', vector: q, k: 10 },
          'result',
        );
        const expected = await fx.primary.node.replica.served('crash')!.view.search(q, { k: 10 });
        expect(res.hits).toEqual(expected.map((h) => ({ id: h.id, score: h.score })));
        await child.stop();
      }
    }
    expect(run).toBe(STAGES.length * ROUNDS);
  }, 600_000);
});
