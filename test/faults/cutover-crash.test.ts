/**
 * Crash safety of activations (issue 14): a follower in its own process is SIGKILLed while
 * it applies an activation — of a two-collection commit group on even runs, of a single
 * collection on odd ones — right after the batch holding the first entry is stored, after
 * the last, or at a random moment from outside: 24 times. Each time it comes back, the
 * catalog and the served views agree, and a group's collections are both flipped or both
 * not; then it converges.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChildFollower } from '../../dev/harness/child-follower.ts';
import type { ChildEvent } from '../../dev/harness/child-follower.ts';
import { seededRandom } from '../../dev/harness/datasets.ts';
import { makeTempDir } from '../../dev/harness/tmp.ts';
import type { TempDir } from '../../dev/harness/tmp.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';
import { useReplicationCluster } from '../harness/replication-fixture.ts';

const RUNS = 24;
const KINDS = ['after-first', 'after-last', 'timed'] as const;
const GROUP = ['img', 'txt'];
const SOLO = ['solo'];
const COLLECTIONS = [...GROUP, ...SOLO];
const A = 'a@1';
const B = 'b@2';

const fx = useReplicationCluster();
let dir: TempDir;
let child: ChildFollower | null = null;

beforeAll(async () => {
  dir = await makeTempDir('cutover-crash');
  const p = fx.primary.node;
  for (const c of COLLECTIONS) {
    await p.createCollection({ name: c, dim: 2, metric: 'l2', model: A });
    await p.upsert(c, [{ id: `${c}-1`, vector: [1, 0] }]);
    await p.generations.stage(c, B, 2);
    await p.upsert(c, [{ id: `${c}-1`, vector: [0, 1] }], { model: B });
  }
});

afterAll(async () => {
  await child?.stop();
  await dir?.cleanup();
});

const spawn = (crashAt?: { stage: string; seq: number }) =>
  new ChildFollower({
    natsUrl: fx.nats.url,
    dataDir: dir.path,
    region: 'eu-west',
    node: 'c1',
    ...(crashAt ? { crashAt } : {}),
  });

/** What a (re)started follower holds: the active generation of each collection, both ways. */
function actives(e: ChildEvent): {
  served: Record<string, string>;
  catalog: Record<string, string>;
} {
  const served = e.activeServed as Record<string, string | null>;
  const catalog = e.activeInCatalog as Record<string, string | null>;
  return {
    served: Object.fromEntries(COLLECTIONS.map((c) => [c, served[c] ?? 'none'])),
    catalog: Object.fromEntries(COLLECTIONS.map((c) => [c, catalog[c] ?? 'none'])),
  };
}

describe('activation crash safety', () => {
  it(`shows a group's collections both flipped or neither, and a single activation whole, after ${RUNS} SIGKILLs`, async () => {
    const rand = seededRandom(1414);
    const active: Record<string, string> = Object.fromEntries(COLLECTIONS.map((c) => [c, A]));
    const outcomes = { before: 0, after: 0 };
    /** Even runs flip the two-collection group, odd runs the single collection. */
    const membersOf = (run: number) => (run % 2 === 0 ? GROUP : SOLO);
    /** The kill point of a run, fixed when its follower is spawned (nothing else writes). */
    const crashFor = (run: number) => {
      const kind = KINDS[run % KINDS.length]!;
      const first = fx.primary.node.commitPosition.seq + 1;
      if (kind === 'after-first') return { stage: 'wal', seq: first };
      if (kind === 'after-last') return { stage: 'wal', seq: first + membersOf(run).length - 1 };
      return undefined;
    };
    child = spawn(crashFor(0));
    await child.next((e) => e.event === 'ready', 60_000, true);
    for (let run = 0; run < RUNS; run++) {
      const kind = KINDS[run % KINDS.length]!;
      const members = membersOf(run);
      const from = active[members[0]!]!;
      const target = from === A ? B : A;
      const label = `run ${run} (${members.join('+')}, ${kind})`;
      const g = fx.primary.node.generations;
      const done =
        members.length > 1
          ? g.activateGroup(
              members.map((collection) => ({ collection, model: target })),
              { policy: 'primary' },
            )
          : g.activate(members[0]!, target, { policy: 'primary' });
      if (kind === 'timed') {
        const ms = Math.floor(rand() * 8);
        setTimeout(() => child!.kill('SIGKILL'), ms);
      }
      await done;
      const exit = await child.exited;
      expect(exit.signal, `${label} should have been killed`).toBe('SIGKILL');

      // The next follower process recovers this run's kill, and carries the next run's.
      child = spawn(run + 1 < RUNS ? crashFor(run + 1) : undefined);
      const back = actives(await child.next((e) => e.event === 'recovered', 60_000, true));
      expect(back.served, label).toEqual(back.catalog);
      const states = members.map((c) => back.catalog[c]);
      expect([members.map(() => from).join(), members.map(() => target).join()], label).toContain(
        states.join(),
      );
      if (states[0] === target) outcomes.after++;
      else outcomes.before++;
      if (kind === 'after-last') expect(states, label).toEqual(members.map(() => target));

      await child.next((e) => e.event === 'ready', 60_000, true);
      for (const c of members) active[c] = target;
      await waitFor(
        async () => {
          const s = actives(await child!.request({ cmd: 'status' }, 'status'));
          return (
            JSON.stringify(s.served) === JSON.stringify(active) &&
            JSON.stringify(s.catalog) === JSON.stringify(active)
          );
        },
        { timeoutMs: 30_000, message: `${label}: the follower did not converge` },
      );
    }
    // Both outcomes happened: some kills landed before the flip was whole, some after.
    expect(outcomes.after).toBeGreaterThan(0);
    expect(outcomes.before).toBeGreaterThan(0);
    expect(outcomes.before + outcomes.after).toBe(RUNS);
  }, 600_000);
});
