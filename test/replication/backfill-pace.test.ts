/**
 * `backfillPointsPerSecond` (decision 0021): writes to a staging generation are paced,
 * writes to the active one are not, and a write waiting for its turn does not hold up a
 * drop of its generation (it is refused when its turn comes).
 */
import { describe, expect, it } from 'vitest';
import { isSyncError } from '../../sync/index.ts';
import { useReplicationCluster } from '../harness/replication-fixture.ts';

const fx = useReplicationCluster({ primary: { backfillPointsPerSecond: 1_000 } });

const points = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, vector: [i, 1] }));

describe('backfill pacing', () => {
  it('paces staging writes only, and lets a drop through while a paced write waits', async () => {
    const p = fx.primary.node;
    await p.createCollection({ name: 'paced', dim: 2, metric: 'l2', model: 'a@1' });
    await p.generations.stage('paced', 'b@2', 2);
    // 3,000 points against a 1,000-point burst: the bucket owes 2,000 (two seconds).
    await p.upsert('paced', points('b', 3_000), { model: 'b@2' });
    const order: string[] = [];
    const waiting = p.upsert('paced', points('w', 10), { model: 'b@2' }).then(
      () => order.push('paced write stored'),
      (err: unknown) => {
        order.push(isSyncError(err) ? `paced write refused: ${err.code}` : String(err));
      },
    );
    // The active generation is not paced: this write does not wait behind the debt.
    await p.upsert('paced', points('a', 10));
    order.push('active write stored');
    await p.generations.drop('paced', 'b@2');
    order.push('dropped');
    await waiting;
    expect(order).toEqual([
      'active write stored',
      'dropped',
      'paced write refused: unknown_collection',
    ]);
  });
});
