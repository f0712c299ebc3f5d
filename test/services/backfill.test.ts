/**
 * Backfilling a staging generation (issue 14): coverage of the active generation shown per
 * generation and required by an activation (`minCoverage`), and `sourceSeq` — a backfill
 * write never resurrects an id deleted in the active generation, nor overwrites a newer
 * version with an older one, even while deletes and updates race it. A primary in us-east,
 * a follower in eu-west.
 */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../dev/harness/datasets.ts';
import { http } from '../../dev/harness/services.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';
import { usePrimaryAndFollower } from '../harness/service-fixture.ts';

const fx = usePrimaryAndFollower();

const A = 'a@1';
const B = 'b@2';
const url = (node: string) => fx.cluster.node(node).url;
/** The active model's vector of id `i` at version `v`. */
const vA = (i: number, v: number) => [i, v, 0];
/** The new model's embedding of that same version (what a pipeline would compute). */
const embedB = (vec: number[]) => [vec[0]!, vec[1]!, 1, 1];

interface Point {
  id: string;
  vector: number[];
}

async function create(name: string, points: Point[]): Promise<void> {
  const put = await http(`${url('p1')}/v1/collections/${name}`, 'PUT', {
    dim: 3,
    metric: 'l2',
    model: A,
  });
  expect(put.status).toBe(201);
  for (let i = 0; i < points.length; i += 500) {
    const w = await upsert(name, points.slice(i, i + 500));
    expect(w.status).toBe(200);
  }
  const staged = await http(`${url('p1')}/v1/collections/${name}/generations`, 'POST', {
    model: B,
    dim: 4,
  });
  expect(staged.status).toBe(201);
}

const upsert = (name: string, points: Point[], extra: Record<string, unknown> = {}) =>
  http(`${url('p1')}/v1/collections/${name}/points`, 'POST', { points, ...extra });

const del = (name: string, ids: string[]) =>
  http(`${url('p1')}/v1/collections/${name}/points/delete`, 'POST', { ids });

/** Reads ids from a generation on the primary; the answer's appliedSeq is the source position. */
async function read(
  name: string,
  ids: string[],
  model?: string,
): Promise<{ points: Point[]; appliedSeq: number }> {
  const r = await http(`${url('p1')}/v1/collections/${name}/points/get`, 'POST', {
    ids,
    withVector: true,
    consistency: 'strong',
    ...(model ? { model } : {}),
  });
  expect(r.status).toBe(200);
  return { points: r.body.points, appliedSeq: r.body.appliedSeq };
}

const describeCollection = async (name: string) =>
  (await http(`${url('p1')}/v1/collections/${name}`, 'GET')).body;

const generation = (d: { generations: Array<{ model: string }> }, model: string) =>
  d.generations.find((g) => g.model === model) as any;

describe('backfill: coverage and minCoverage', () => {
  it('shows the staging generation covering half of the active one, naming what it lacks', async () => {
    const points = Array.from({ length: 10 }, (_, i) => ({ id: `c${i}`, vector: vA(i, 0) }));
    await create('cov', points);
    const half = points.slice(0, 5).map((p) => ({ id: p.id, vector: embedB(p.vector) }));
    expect((await upsert('cov', half, { model: B })).status).toBe(200);
    // One id only the new generation has.
    expect(
      (await upsert('cov', [{ id: 'only-b', vector: [0, 0, 0, 0] }], { model: B })).status,
    ).toBe(200);
    const d = await describeCollection('cov');
    expect(generation(d, A).coverage).toBeNull();
    const c = generation(d, B).coverage;
    expect(c).toMatchObject({ of: A, ratio: 0.5, missing: 5, extra: 1, extraSample: ['only-b'] });
    expect([...c.missingSample].sort()).toEqual(['c5', 'c6', 'c7', 'c8', 'c9']);
  });

  it('an activation below minCoverage is 409 with the figures and flips nothing; a lower bar commits', async () => {
    const refused = await http(
      `${url('p1')}/v1/collections/cov/generations/${B}/activate`,
      'POST',
      {
        policy: 'primary',
      },
    );
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('activation_blocked');
    expect(refused.body.error.message).toContain('coverage 0.5000 < minCoverage 1');
    expect(refused.body.error.details.coverage).toMatchObject({ missing: 5, reference: 10 });
    expect(generation(await describeCollection('cov'), A).state).toBe('active');

    const done = await http(`${url('p1')}/v1/collections/cov/generations/${B}/activate`, 'POST', {
      policy: 'primary',
      minCoverage: 0.5,
    });
    expect(done.status).toBe(200);
    expect(done.body.coverage).toMatchObject({ ratio: 0.5, missing: 5 });
    expect(generation(await describeCollection('cov'), B).state).toBe('active');
  });

  it('minCoverage outside 0..1 is a 400 and changes nothing', async () => {
    const r = await http(`${url('p1')}/v1/collections/cov/generations/${A}/activate`, 'POST', {
      minCoverage: 2,
    });
    expect(r.status).toBe(400);
    expect(generation(await describeCollection('cov'), B).state).toBe('active');
  });
});

describe('backfill: sourceSeq', () => {
  it('writes points unchanged since sourceSeq and skips the ones updated, deleted or absent', async () => {
    const points = Array.from({ length: 4 }, (_, i) => ({ id: `s${i}`, vector: vA(i, 0) }));
    await create('src', points);
    const { appliedSeq } = await read(
      'src',
      points.map((p) => p.id),
    );
    expect((await upsert('src', [{ id: 's1', vector: vA(1, 1) }])).status).toBe(200);
    expect((await del('src', ['s2'])).status).toBe(200);
    const backfill = [...points, { id: 'never', vector: vA(9, 0) }].map((p) => ({
      id: p.id,
      vector: embedB(p.vector),
    }));
    const w = await upsert('src', backfill, { model: B, sourceSeq: appliedSeq });
    expect(w.status).toBe(200);
    expect(w.body.skipped.count).toBe(3);
    expect([...w.body.skipped.ids].sort()).toEqual(['never', 's1', 's2']);
    const inB = await read('src', ['s0', 's1', 's2', 's3', 'never'], B);
    expect(inB.points.map((p) => p.id).sort()).toEqual(['s0', 's3']);
  });

  it('a write whose every point is skipped appends nothing and still answers 200', async () => {
    const before = await read('src', ['s0']);
    const w = await upsert('src', [{ id: 's2', vector: [2, 0, 1, 1] }], {
      model: B,
      sourceSeq: before.appliedSeq,
    });
    expect(w.status).toBe(200);
    expect(w.body.skipped).toEqual({ count: 1, ids: ['s2'] });
    expect(w.body.seq).toBe(before.appliedSeq);
  });

  it('a negative or fractional sourceSeq is a 400', async () => {
    for (const sourceSeq of [-1, 1.5, 'x']) {
      const w = await upsert('src', [{ id: 's0', vector: [0, 0, 1, 1] }], { model: B, sourceSeq });
      expect(w.status).toBe(400);
    }
  });

  it('randomized races (seeded): deletes, updates and inserts during a backfill leave the new generation with exactly the active ids and versions', async () => {
    const rand = seededRandom(1405);
    const N = 150;
    const initial = Array.from({ length: N }, (_, i) => ({ id: `r${i}`, vector: vA(i, 0) }));
    await create('race', initial);
    const universe = new Set(initial.map((p) => p.id));
    const version = new Map<string, number>();
    let mutating = true;

    const mutator = (async () => {
      let next = N;
      for (let op = 0; op < 300; op++) {
        const i = Math.floor(rand() * next);
        const id = `r${i}`;
        const roll = rand();
        if (roll < 0.35) {
          expect((await del('race', [id])).status).toBe(200);
        } else if (roll < 0.85) {
          const v = (version.get(id) ?? 0) + 1;
          version.set(id, v);
          expect((await upsert('race', [{ id, vector: vA(i, v) }])).status).toBe(200);
        } else {
          const nid = `r${next}`;
          expect((await upsert('race', [{ id: nid, vector: vA(next, 0) }])).status).toBe(200);
          universe.add(nid);
          next++;
        }
      }
      mutating = false;
    })();

    // The pipeline: read a batch of the active generation, embed it, write it with the
    // read's position, a little later (so deletes and updates land in between).
    let skipped = 0;
    const pass = async () => {
      const ids = [...universe];
      for (let i = 0; i < ids.length; i += 20) {
        const src = await read('race', ids.slice(i, i + 20));
        if (src.points.length === 0) continue;
        await new Promise<void>((r) => setImmediate(r));
        const w = await upsert(
          'race',
          src.points.map((p) => ({ id: p.id, vector: embedB(p.vector) })),
          { model: B, sourceSeq: src.appliedSeq },
        );
        expect(w.status).toBe(200);
        skipped += w.body.skipped.count;
      }
    };
    while (mutating) await pass();
    await mutator;
    // One more pass after the writes stop: what a pipeline does when coverage says < 1.
    // It only writes; it never deletes from the new generation.
    await pass();
    expect(generation(await describeCollection('race'), B).coverage.ratio).toBe(1);

    const ids = [...universe];
    const a = await read('race', ids);
    const b = await read('race', ids, B);
    const inA = new Map(a.points.map((p) => [p.id, p.vector]));
    const inB = new Map(b.points.map((p) => [p.id, p.vector]));
    const resurrected = [...inB.keys()].filter((id) => !inA.has(id));
    const missing = [...inA.keys()].filter((id) => !inB.has(id));
    const stale = [...inA].filter(([id, v]) => {
      const got = inB.get(id);
      return got !== undefined && JSON.stringify(got) !== JSON.stringify(embedB(v));
    });
    expect({ resurrected, missing, stale }).toEqual({ resurrected: [], missing: [], stale: [] });
    // The races were real: some backfill points were skipped as changed or deleted.
    expect(skipped).toBeGreaterThan(0);
    expect(inA.size).toBeGreaterThan(50);
  });
});

describe('backfill: dropping a staging generation while it is written', () => {
  it('writes in flight land before the drop or are refused; replication keeps going after it', async () => {
    await create('dropr', [{ id: 'd0', vector: vA(0, 0) }]);
    // Four writers keep writes to the staging generation in flight until the drop is done.
    let dropping = true;
    const statuses: number[] = [];
    const writer = async (w: number) => {
      for (let n = 0; dropping; n++) {
        const points = Array.from({ length: 200 }, (_, i) => ({
          id: `d${w}-${n}-${i}`,
          vector: [w, i, 1, 1],
        }));
        statuses.push((await upsert('dropr', points, { model: B })).status);
      }
    };
    const writers = [0, 1, 2, 3].map(writer);
    await waitFor(() => statuses.length >= 4, { message: 'the writers to get going' });
    const drop = await http(`${url('p1')}/v1/collections/dropr/generations/${B}`, 'DELETE');
    dropping = false;
    await Promise.all(writers);
    expect(drop.status).toBe(200);
    expect(
      statuses.every((s) => [200, 404, 409].includes(s)),
      statuses.join(),
    ).toBe(true);
    // Every WAL follower goes on: a write after the drop is read on the follower.
    const w = await upsert('dropr', [{ id: 'after', vector: vA(1, 1) }]);
    expect(w.status).toBe(200);
    const r = await http(`${url('f1')}/v1/collections/dropr/points/get`, 'POST', {
      ids: ['after'],
      consistency: 'session',
      token: w.body.token,
      waitMs: 10_000,
    });
    expect([r.status, r.body.points?.[0]?.id]).toEqual([200, 'after']);
  });
});

describe('a cutover and the writes around it', () => {
  it('a write to the active generation lands before the switch or goes to the new one; none lands in the retired one after it', async () => {
    const points = Array.from({ length: 20 }, (_, i) => ({ id: `w${i}`, vector: vA(i, 0) }));
    await create('switch', points);
    const backfill = points.map((p) => ({ id: p.id, vector: embedB(p.vector) }));
    expect((await upsert('switch', backfill, { model: B })).status).toBe(200);
    let writing = true;
    const results: Array<{ status: number; generation?: string; seq?: number }> = [];
    const writer = async (w: number) => {
      for (let n = 0; writing; n++) {
        // Without a model: the active generation, whichever it is when the write arrives.
        const id = `w${(w * 7 + n) % 20}`;
        const dim = results.some((r) => r.generation === B) ? 4 : 3;
        const vector = dim === 3 ? vA(n, w) : [n, w, 1, 1];
        const r = await upsert('switch', [{ id, vector }]);
        results.push({ status: r.status, generation: r.body.generation, seq: r.body.seq });
      }
    };
    const writers = [0, 1, 2].map(writer);
    await waitFor(() => results.length >= 10, { message: 'the writers to get going' });
    const on = await http(`${url('p1')}/v1/collections/switch/generations/${B}/activate`, 'POST', {
      policy: 'primary',
      minCoverage: 0,
    });
    writing = false;
    await Promise.all(writers);
    expect(on.status, JSON.stringify(on.body)).toBe(200);
    const late = results.filter((r) => r.generation === A && r.seq! > on.body.seq);
    expect(late).toEqual([]);
    // Refused writes were told to retry (503), never acknowledged into the retired one.
    expect(results.filter((r) => ![200, 400, 503].includes(r.status))).toEqual([]);
  });

  it('a delete after the cutover reaches the retired generation; a rollback that would lose new ids is refused', async () => {
    const gone = await del('switch', ['w3']);
    expect(gone.status).toBe(200);
    const inA = await read('switch', ['w3'], A);
    expect(inA.points).toEqual([]);
    // An id written after the cutover lives in B only: rolling back would lose it.
    expect((await upsert('switch', [{ id: 'only-b', vector: [9, 9, 1, 1] }])).status).toBe(200);
    const refused = await http(
      `${url('p1')}/v1/collections/switch/generations/${A}/activate`,
      'POST',
      {
        policy: 'primary',
      },
    );
    expect([refused.status, refused.body.error?.code]).toEqual([409, 'activation_blocked']);
    expect(refused.body.error.details.coverage.missingSample).toContain('only-b');
    const back = await http(
      `${url('p1')}/v1/collections/switch/generations/${A}/activate`,
      'POST',
      {
        policy: 'primary',
        minCoverage: 0.5,
      },
    );
    expect(back.status, JSON.stringify(back.body)).toBe(200);
    expect((await read('switch', ['w3'])).points).toEqual([]);
  });
});
