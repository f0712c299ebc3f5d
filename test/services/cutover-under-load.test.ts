/**
 * A cutover under load (issue 14): clients in three regions query at every level — some
 * naming a generation, most not — while model B is activated and then rolled back to A.
 * The followers' WAL apply is slowed, so regions flip at different moments. Each
 * generation's points have ids of their own prefix, so an answer that mixed them shows.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../dev/harness/datasets.ts';
import { checkGenerations, formatGenerationReport } from '../../dev/harness/generation-checker.ts';
import type { ActivationRecord } from '../../dev/harness/generation-checker.ts';
import { TEST_KEYS, http } from '../../dev/harness/services.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';
import { useServiceCluster } from '../harness/service-fixture.ts';

const REGIONS = ['us-east', 'eu-west', 'ap-south'];
const A = 'a@1';
const B = 'b@2';
const IDS = 30;
const DIM = 4;
const LEVELS = ['strong', 'bounded', 'session', 'eventual'] as const;

/** A follower whose WAL apply is slowed by 5–45 ms per batch. */
const slowed = (seed: number) => {
  const r = seededRandom(seed);
  return { beforeWalBatch: () => new Promise<void>((res) => setTimeout(res, 5 + r() * 40)) };
};
const router = { hostReplica: false, probeIntervalMs: 200, hedgeAfterMs: 0 };
const fx = useServiceCluster(REGIONS, [
  { role: 'primary', region: 'us-east', node: 'p1' },
  { role: 'follower', region: 'eu-west', node: 'f-eu', hooks: slowed(1) },
  { role: 'follower', region: 'ap-south', node: 'f-ap', hooks: slowed(2) },
  { role: 'router', region: 'eu-west', node: 'r-eu', overrides: { router } },
  { role: 'router', region: 'ap-south', node: 'r-ap', overrides: { router } },
]);

interface Read {
  client: number;
  level: (typeof LEVELS)[number];
  model: string | null;
  start: number;
  end: number;
  status: number;
  generation: string | null;
  appliedSeq: number;
  ids: string[];
}

const vec = (i: number) => [i, (i * 7) % 5, 1, 0.5];

describe('a cutover and a rollback under load', () => {
  const reads: Read[] = [];
  const phase = { activateStart: 0, activateEnd: 0, rollbackStart: 0, rollbackEnd: 0 };
  const activations: ActivationRecord[] = [];

  beforeAll(async () => {
    const p1 = fx.cluster.node('p1').url;
    const put = await http(`${p1}/v1/collections/cut`, 'PUT', { dim: DIM, metric: 'l2', model: A });
    expect(put.status).toBe(201);
    const points = (prefix: string) =>
      Array.from({ length: IDS }, (_, i) => ({ id: `${prefix}${i}`, vector: vec(i) }));
    expect(
      (await http(`${p1}/v1/collections/cut/points`, 'POST', { points: points('a') })).status,
    ).toBe(200);
    expect(
      (await http(`${p1}/v1/collections/cut/generations`, 'POST', { model: B, dim: DIM })).status,
    ).toBe(201);
    const backfill = await http(`${p1}/v1/collections/cut/points`, 'POST', {
      points: points('b'),
      model: B,
    });
    expect(backfill.status).toBe(200);
    const targets = ['r-eu', 'r-ap', 'f-eu', 'f-ap', 'p1'].map((n) => fx.cluster.node(n).url);
    for (const url of targets.slice(0, 2)) {
      await waitFor(
        async () => (await http(`${url}/v1/regions`, 'GET')).body.replicas?.length >= 3,
        {
          message: 'the routers to hear every replica',
        },
      );
    }

    let running = true;
    const client = async (c: number) => {
      const r = seededRandom(100 + c);
      const url = targets[c % targets.length]!;
      let token: string | undefined;
      while (running) {
        const level = LEVELS[Math.floor(r() * LEVELS.length)]!;
        const roll = r();
        const model = roll < 0.15 ? A : roll < 0.3 ? B : null;
        const i = Math.floor(r() * IDS);
        const start = performance.now();
        const res = await http(
          `${url}/v1/collections/cut/query`,
          'POST',
          {
            vector: vec(i),
            k: 3,
            consistency: level,
            ...(level === 'bounded' ? { maxStalenessMs: 1_000 } : {}),
            ...(model ? { model } : {}),
            ...(token ? { token } : {}),
          },
          TEST_KEYS.read,
        );
        if (res.status === 200) token = res.body.token;
        reads.push({
          client: c,
          level,
          model,
          start,
          end: performance.now(),
          status: res.status,
          generation: res.status === 200 ? res.body.generation : null,
          appliedSeq: res.status === 200 ? res.body.appliedSeq : 0,
          ids: res.status === 200 ? res.body.results.map((x: { id: string }) => x.id) : [],
        });
      }
    };
    const clients = Array.from({ length: 6 }, (_, c) => client(c));
    // The clients stop however this ends: a failed step must not leave them querying a
    // cluster that is being stopped.
    try {
      const settle = (n: number) => waitFor(() => reads.length >= n, { timeoutMs: 30_000 });
      await settle(150);
      phase.activateStart = performance.now();
      // Each generation has ids of its own prefix (to see a mix), so B covers none of A's.
      const on = await http(`${p1}/v1/collections/cut/generations/${B}/activate`, 'POST', {
        timeoutMs: 20_000,
        minCoverage: 0,
      });
      phase.activateEnd = performance.now();
      expect(on.status, JSON.stringify(on.body)).toBe(200);
      activations.push({ model: B, seq: on.body.seq });
      await settle(reads.length + 300);
      phase.rollbackStart = performance.now();
      const back = await http(`${p1}/v1/collections/cut/generations/${A}/activate`, 'POST', {
        timeoutMs: 20_000,
        minCoverage: 0,
      });
      phase.rollbackEnd = performance.now();
      expect(back.status, JSON.stringify(back.body)).toBe(200);
      activations.push({ model: A, seq: back.body.seq });
      await settle(reads.length + 300);
    } finally {
      running = false;
      await Promise.all(clients);
    }
  }, 120_000);

  it('answers every query, the retired generation named included', () => {
    expect(reads.length).toBeGreaterThan(750);
    // A level that waits for freshness may honestly refuse (503 no_replica) on a busy
    // machine; an eventual read, and every other error, may not.
    const refusedHonestly = (r: Read) => r.status === 503 && r.level !== 'eventual';
    const failed = reads.filter((r) => r.status !== 200 && !refusedHonestly(r));
    expect(failed.map((r) => `${r.level} ${r.model} ${r.status}`)).toEqual([]);
    expect(reads.filter(refusedHonestly).length).toBeLessThan(reads.length * 0.05);
    expect(
      reads.filter((r) => r.model === A && r.start > phase.activateEnd).length,
    ).toBeGreaterThan(0);
  });

  it('a query naming a generation is answered by it, and no answer mixes generations', () => {
    expect(reads.filter((r) => r.model && r.generation !== r.model)).toEqual([]);
    const prefix = { [A]: 'a', [B]: 'b' } as Record<string, string>;
    expect(reads.filter((r) => r.ids.some((id) => !id.startsWith(prefix[r.generation!]!)))).toEqual(
      [],
    );
  });

  it('no region serves B as active before the activation was asked', () => {
    const early = reads.filter(
      (r) => !r.model && r.generation === B && r.end < phase.activateStart,
    );
    expect(early).toEqual([]);
    expect(reads.filter((r) => !r.model && r.end < phase.activateStart).length).toBeGreaterThan(50);
  });

  it('a strong read asked after a flip returns sees the new active generation', () => {
    const afterOn = reads.filter(
      (r) =>
        !r.model &&
        r.level === 'strong' &&
        r.start > phase.activateEnd &&
        r.end < phase.rollbackStart &&
        // A refusal (counted by the first test) is not an answer from either generation.
        r.status === 200,
    );
    const afterBack = reads.filter(
      (r) => !r.model && r.level === 'strong' && r.start > phase.rollbackEnd && r.status === 200,
    );
    expect(afterOn.length).toBeGreaterThan(10);
    expect(afterBack.length).toBeGreaterThan(10);
    expect(afterOn.filter((r) => r.generation !== B).map((r) => JSON.stringify(r))).toEqual([]);
    expect(afterBack.filter((r) => r.generation !== A).map((r) => JSON.stringify(r))).toEqual([]);
  });

  it('a session that saw B as active never sees A as active again before the rollback', () => {
    const wrong: Read[] = [];
    let sessionsThatSawB = 0;
    for (let c = 0; c < 6; c++) {
      let sawB = false;
      for (const r of reads.filter(
        (x) => x.client === c && !x.model && x.end < phase.rollbackStart,
      )) {
        if (r.generation === B) {
          if (!sawB) sessionsThatSawB++;
          sawB = true;
        } else if (sawB && r.level === 'session') wrong.push(r);
      }
    }
    expect(sessionsThatSawB).toBeGreaterThan(0);
    expect(wrong).toEqual([]);
  });

  it('the generation checker finds every answer from the generation active at its position', () => {
    const answered = reads.filter((r) => r.status === 200);
    const report = checkGenerations(
      answered.map((r) => ({
        client: String(r.client),
        model: r.model,
        generation: r.generation!,
        appliedSeq: r.appliedSeq,
        resultGenerations: r.ids.map((id) => (id.startsWith('a') ? A : B)),
      })),
      activations,
      A,
    );
    expect(report.checked['active-at-position']).toBeGreaterThan(500);
    expect(report.violations, formatGenerationReport(report)).toEqual([]);
  });
});
