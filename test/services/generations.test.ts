/**
 * Embedding-model generations (issue 14, first part): a staging generation beside the
 * active one, backfilled by name, replicated; an activation gated on the regions' applied
 * positions and committed as a WAL entry; rollback by the same call; drop. A primary in
 * us-east, a follower in eu-west.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { TEST_KEYS, http } from '../../dev/harness/services.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';
import { usePrimaryAndFollower } from '../harness/service-fixture.ts';

const fx = usePrimaryAndFollower();

const A = 'a@1';
const B = 'b@2';
const url = (node: string) => fx.cluster.node(node).url;
const vA = (i: number) => [i, 1, 0];
const vB = (i: number) => [i, 0, 1, 1];

/** A k=1 query; `model` names a generation, else the active one answers. */
async function query(node: string, vector: number[], consistency: string, model?: string) {
  return http(
    `${url(node)}/v1/collections/docs/query`,
    'POST',
    { vector, k: 1, consistency, ...(model ? { model } : {}) },
    TEST_KEYS.read,
  );
}

const write = (points: Array<{ id: string; vector: number[] }>, model?: string) =>
  http(`${url('p1')}/v1/collections/docs/points`, 'POST', {
    points,
    ...(model ? { model } : {}),
  });

const activate = (model: string, body: Record<string, unknown> = {}) =>
  http(`${url('p1')}/v1/collections/docs/generations/${model}/activate`, 'POST', body);

describe('embedding-model generations', () => {
  beforeAll(async () => {
    const put = await http(`${url('p1')}/v1/collections/docs`, 'PUT', {
      dim: 3,
      metric: 'l2',
      model: A,
    });
    expect(put.status).toBe(201);
    const w = await write(Array.from({ length: 5 }, (_, i) => ({ id: `p${i}`, vector: vA(i) })));
    expect(w.status).toBe(200);
  });

  it('stages a second model with its own dim; a second staging or a known model is 409', async () => {
    const staged = await http(`${url('p1')}/v1/collections/docs/generations`, 'POST', {
      model: B,
      dim: 4,
    });
    expect(staged.status, JSON.stringify(staged.body)).toBe(201);
    expect(staged.body).toMatchObject({ model: B, dim: 4, state: 'staging' });
    for (const model of [B, 'c@3']) {
      const again = await http(`${url('p1')}/v1/collections/docs/generations`, 'POST', {
        model,
        dim: 4,
      });
      expect(again.status, model).toBe(409);
      expect(again.body.error.code).toBe('generation_conflict');
    }
  });

  it('a backfill writes to the staging generation by name; the active one keeps answering', async () => {
    const w = await write(
      Array.from({ length: 5 }, (_, i) => ({ id: `p${i}`, vector: vB(i) })),
      B,
    );
    expect(w.status, JSON.stringify(w.body)).toBe(200);
    expect(w.body.generation).toBe(B);
    const active = await query('f1', vA(2), 'strong');
    expect([active.status, active.body.generation, active.body.results[0].id]).toEqual([
      200,
      A,
      'p2',
    ]);
    const staging = await query('f1', vB(3), 'strong', B);
    expect([staging.status, staging.body.generation, staging.body.results[0].id]).toEqual([
      200,
      B,
      'p3',
    ]);
  });

  it('a delete without a model reaches every live generation', async () => {
    const d = await http(`${url('p1')}/v1/collections/docs/points/delete`, 'POST', { ids: ['p4'] });
    expect(d.status, JSON.stringify(d.body)).toBe(200);
    for (const [model, vector] of [
      [A, vA(4)],
      [B, vB(4)],
    ] as const) {
      const q = await query('f1', vector, 'strong', model);
      expect(q.body.results[0].id, model).not.toBe('p4');
    }
  });

  it('activation (policy all) commits once every region has the backfill; every region then serves B', async () => {
    const done = await activate(B, { policy: 'all', timeoutMs: 10_000 });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body).toMatchObject({ activated: B, retired: A, policy: 'all' });
    expect(done.body.seq).toBeGreaterThan(done.body.fence);
    for (const node of ['p1', 'f1']) {
      const q = await query(node, vB(1), 'strong');
      expect([q.status, q.body.generation, q.body.results[0].id], node).toEqual([200, B, 'p1']);
    }
  });

  it('after the cutover the retired generation answers by name, and takes no writes', async () => {
    const q = await query('f1', vA(1), 'strong', A);
    expect([q.status, q.body.generation, q.body.results[0].id]).toEqual([200, A, 'p1']);
    const w = await write([{ id: 'late', vector: vA(9) }], A);
    expect(w.status).toBe(409);
    expect(w.body.error.code).toBe('generation_conflict');
  });

  it('a query vector of the wrong dim for the generation is a 400 naming both dims', async () => {
    const q = await query('f1', vA(1), 'eventual');
    expect(q.status).toBe(400);
    expect(q.body.error.message).toMatch(/3 dimensions, expected 4/);
  });

  it('activating an unknown model is 404, the active one 409; neither changes anything', async () => {
    expect((await activate('nope@0')).status).toBe(404);
    const again = await activate(B);
    expect([again.status, again.body.error.code]).toEqual([409, 'generation_conflict']);
    expect((await query('p1', vB(1), 'strong')).body.generation).toBe(B);
  });

  it('rolling back is the same call: the retired generation is active again everywhere', async () => {
    const back = await activate(A, { timeoutMs: 10_000 });
    expect(back.status, JSON.stringify(back.body)).toBe(200);
    expect(back.body).toMatchObject({ activated: A, retired: B });
    for (const node of ['p1', 'f1']) {
      const q = await query(node, vA(2), 'strong');
      expect([q.body.generation, q.body.results[0].id], node).toEqual([A, 'p2']);
    }
  });

  it('with a region behind, policy all is refused naming it and nothing flips; policy primary commits', async () => {
    await fx.cluster.stop('f1');
    // Written while eu-west is down: the fence moves past what it applied.
    expect((await write([{ id: 'p9', vector: vA(9) }])).status).toBe(200);
    const refused = await activate(B, { policy: 'all' });
    expect(refused.status, JSON.stringify(refused.body)).toBe(409);
    expect(refused.body.error.code).toBe('activation_blocked');
    const behind = refused.body.error.details.regions.filter(
      (r: { behind: number }) => r.behind > 0,
    );
    expect(behind.map((r: { region: string }) => r.region)).toEqual(['eu-west']);
    expect((await query('p1', vA(2), 'strong')).body.generation).toBe(A);

    // p9 went to A only (B was retired then): coverage is not what this test is about.
    const primaryOnly = await activate(B, { policy: 'primary', minCoverage: 0 });
    expect(primaryOnly.status, JSON.stringify(primaryOnly.body)).toBe(200);
    // The region that was away applies the activation entry where it stands in the WAL.
    await fx.cluster.start({ role: 'follower', region: 'eu-west', node: 'f1' });
    const q = await query('f1', vB(1), 'strong');
    expect([q.status, q.body.generation, q.body.results[0].id]).toEqual([200, B, 'p1']);
  });

  it('an async activation answers 202 and shows each region on its way to the fence until it commits', async () => {
    expect((await activate('nope@0', { async: true })).status).toBe(404);
    await fx.cluster.stop('f1');
    expect((await write([{ id: 'p10', vector: vB(10) }])).status).toBe(200);
    const started = await activate(A, {
      policy: 'all',
      timeoutMs: 60_000,
      async: true,
      minCoverage: 0,
    });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    expect(started.body.state).toBe('waiting');
    const follow = () => http(`${url('p1')}${started.body.href}`, 'GET');
    const waiting = await follow();
    expect(waiting.body.state).toBe('waiting');
    const eu = waiting.body.regions.find((r: { region: string }) => r.region === 'eu-west');
    expect(eu.behind).toBeGreaterThan(0);
    expect(eu.percent).toBeLessThan(100);
    expect((await query('p1', vB(2), 'strong')).body.generation).toBe(B);
    expect((await http(`${url('p1')}/v1/activations/nope`, 'GET')).status).toBe(404);
    // Dropping a generation while its activation waits would leave an entry no replica can
    // place (regression: every WAL follower then waited for the dropped definition).
    const drop = await http(`${url('p1')}/v1/collections/docs/generations/${A}`, 'DELETE');
    expect([drop.status, drop.body.error.code]).toEqual([409, 'generation_conflict']);
    expect(drop.body.error.message).toContain('under way');

    await fx.cluster.start({ role: 'follower', region: 'eu-west', node: 'f1' });
    await waitFor(async () => (await follow()).body.state === 'committed', {
      timeoutMs: 30_000,
      message: 'the activation commits once eu-west is back',
    });
    const done = (await follow()).body;
    expect(done.result.activated).toBe(A);
    expect(done.regions.map((r: { percent: number }) => r.percent)).toEqual([100, 100]);
    // Back to B for the tests below.
    expect((await activate(B, { policy: 'all', timeoutMs: 10_000, minCoverage: 0 })).status).toBe(
      200,
    );
  });

  it('drops a retired generation everywhere; dropping the active one is 409', async () => {
    const active = await http(`${url('p1')}/v1/collections/docs/generations/${B}`, 'DELETE');
    expect([active.status, active.body.error.code]).toEqual([409, 'generation_conflict']);
    const dropped = await http(`${url('p1')}/v1/collections/docs/generations/${A}`, 'DELETE');
    expect(dropped.status, JSON.stringify(dropped.body)).toBe(200);
    await waitFor(
      async () => {
        const got = await http(
          `${url('f1')}/v1/collections/docs`,
          'GET',
          undefined,
          TEST_KEYS.read,
        );
        return (
          JSON.stringify(got.body.generations.map((g: { model: string }) => g.model)) ===
          JSON.stringify([B])
        );
      },
      { message: 'the follower to drop the retired generation' },
    );
    const gone = await query('f1', vA(1), 'eventual', A);
    expect(gone.status).toBe(409);
  });

  it('a strong read that waits across an activation is served by the generation active when it is admitted', async () => {
    // Regression: the generation was chosen when the read arrived; a read that then waited
    // for the activation's seq searched the generation it retired.
    const C = 'c@3';
    expect(
      (await http(`${url('p1')}/v1/collections/docs/generations`, 'POST', { model: C, dim: 4 }))
        .status,
    ).toBe(201);
    expect((await write([{ id: 'c1', vector: vB(1) }], C)).status).toBe(200);
    let holding = false;
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => (release = r));
    await fx.cluster.start({
      role: 'follower',
      region: 'eu-west',
      node: 'f-held',
      hooks: { beforeWalBatch: async () => (holding ? released : undefined) },
    });
    await waitFor(
      async () => (await query('f-held', vB(1), 'strong', C)).body.results?.[0]?.id === 'c1',
      {
        message: 'f-held to hold the staging generation',
      },
    );
    // f-held cannot apply what comes next: the activation commits without it (policy
    // primary), then a strong read asked at f-held must wait for the activation's seq.
    holding = true;
    // C holds one id of B's four: coverage is not what this test is about.
    const on = await activate(C, { policy: 'primary', minCoverage: 0 });
    expect(on.status, JSON.stringify(on.body)).toBe(200);
    const pending = http(
      `${url('f-held')}/v1/collections/docs/query`,
      'POST',
      { vector: vB(1), k: 1, consistency: 'strong', waitMs: 20_000 },
      TEST_KEYS.read,
    );
    // The read has arrived and waits: f-held answers nothing fresher meanwhile.
    await waitFor(async () => (await query('f-held', vB(1), 'eventual')).body.generation === B, {
      message: 'f-held to still serve B as active',
    });
    holding = false;
    release();
    const answer = await pending;
    expect([answer.status, answer.body.generation, answer.body.results[0].id]).toEqual([
      200,
      C,
      'c1',
    ]);
  });
});
