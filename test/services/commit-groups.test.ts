/**
 * Commit groups (issue 14): `POST /v1/cutovers` flips several collections' generations
 * together — image and text embeddings of the same assets — behind one gate; a replica
 * shows all of them flipped or none. A primary in us-east, a follower in eu-west.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { TEST_KEYS, http } from '../../dev/harness/services.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';
import { usePrimaryAndFollower } from '../harness/service-fixture.ts';

const fx = usePrimaryAndFollower();

const A = 'a@1';
const B = 'b@2';
const url = (node: string) => fx.cluster.node(node).url;
const COLLECTIONS = ['img', 'txt'];

const cutover = (body: Record<string, unknown>) => http(`${url('p1')}/v1/cutovers`, 'POST', body);

/** The active generation of each collection, as `node` answers a query without a model. */
async function actives(node: string): Promise<string[]> {
  return Promise.all(
    COLLECTIONS.map(async (c) => {
      const r = await http(
        `${url(node)}/v1/collections/${c}/query`,
        'POST',
        { vector: [1, 0, 0], k: 1, consistency: 'eventual' },
        TEST_KEYS.read,
      );
      expect(r.status).toBe(200);
      return r.body.generation as string;
    }),
  );
}

describe('commit groups', () => {
  beforeAll(async () => {
    for (const c of COLLECTIONS) {
      const put = await http(`${url('p1')}/v1/collections/${c}`, 'PUT', {
        dim: 3,
        metric: 'l2',
        model: A,
      });
      expect(put.status).toBe(201);
      const points = [0, 1, 2].map((i) => ({ id: `${c}${i}`, vector: [i, 0, 0] }));
      expect(
        (await http(`${url('p1')}/v1/collections/${c}/points`, 'POST', { points })).status,
      ).toBe(200);
      const staged = await http(`${url('p1')}/v1/collections/${c}/generations`, 'POST', {
        model: B,
        dim: 3,
      });
      expect(staged.status).toBe(201);
      const backfill = points.map((p) => ({ ...p, vector: [p.vector[0]!, 1, 0] }));
      expect(
        (
          await http(`${url('p1')}/v1/collections/${c}/points`, 'POST', {
            points: backfill,
            model: B,
          })
        ).status,
      ).toBe(200);
    }
  });

  it('refuses a bad group with the right status and flips nothing', async () => {
    expect((await cutover({ activate: [] })).status).toBe(400);
    const twice = await cutover({
      activate: [
        { collection: 'img', model: B },
        { collection: 'img', model: B },
      ],
    });
    expect(twice.status).toBe(400);
    expect(twice.body.error.message).toContain('each collection may appear once');
    const unknown = await cutover({
      activate: [
        { collection: 'img', model: B },
        { collection: 'nope', model: B },
      ],
    });
    expect(unknown.status).toBe(404);
    const active = await cutover({
      activate: [
        { collection: 'img', model: B },
        { collection: 'txt', model: A },
      ],
    });
    expect(active.status).toBe(409);
    expect(active.body.error.code).toBe('generation_conflict');
    expect(await actives('p1')).toEqual([A, A]);
    expect(await actives('f1')).toEqual([A, A]);
  });

  it('flips both collections in every region behind one gate; each member names its entry', async () => {
    const done = await cutover({
      activate: COLLECTIONS.map((collection) => ({ collection, model: B })),
      policy: 'all',
      timeoutMs: 10_000,
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body.members).toHaveLength(2);
    expect(done.body.members.map((m: { retired: string }) => m.retired)).toEqual([A, A]);
    expect(done.body.seq).toBe(done.body.members[1].seq);
    expect(done.body.regions.map((r: { region: string }) => r.region).sort()).toEqual([
      'eu-west',
      'us-east',
    ]);
    expect(await actives('p1')).toEqual([B, B]);
    await waitFor(async () => (await actives('f1')).join() === [B, B].join(), {
      message: 'f1 flips',
    });
  });

  it('a group rollback (the retired generations, no coverage check) flips both back', async () => {
    const back = await http(`${url('p1')}/v1/cutovers`, 'POST', {
      activate: COLLECTIONS.map((collection) => ({ collection, model: A })),
      policy: 'primary',
    });
    expect(back.status).toBe(200);
    expect(await actives('p1')).toEqual([A, A]);
    await waitFor(async () => (await actives('f1')).join() === [A, A].join(), {
      message: 'f1 rolls back',
    });
  });
});
