import { afterAll, describe, expect, it } from 'vitest';
import { ThreadViewHost } from '../../index/thread-view-host.ts';
import { SourceGuard } from './source-check.ts';

/**
 * The backfill guard against a real view on a view thread: what the view says (updated,
 * deleted, absent since `sourceSeq`) and what is in flight (a write to the active generation
 * begun before the check, or during it) both make a point skipped.
 */
const host = new ThreadViewHost(1);
afterAll(() => host.close());

const pt = (id: string, x = 0) => ({ id, vector: Float32Array.from([x, 1]), metadata: null });

function activeView() {
  const view = host.open(2, 'l2');
  view.upsert([pt('a'), pt('b'), pt('c'), pt('d')], 10);
  view.upsert([pt('b', 1)], 12);
  view.delete(['c'], 13);
  return view;
}

describe('SourceGuard', () => {
  it('keeps ids whose live copy is at or below sourceSeq; skips updated, deleted and absent ones', async () => {
    const guard = new SourceGuard();
    const check = await guard.check(
      'c1',
      activeView(),
      ['a', 'b', 'c', 'x'].map((id) => pt(id)),
      11,
    );
    const kept = check.filter(['a', 'b', 'c', 'x'].map((id) => pt(id)));
    check.close();
    expect(kept.map((p) => p.id)).toEqual(['a']);
    expect(check.skipped().sort()).toEqual(['b', 'c', 'x']);
  });

  it('skips ids of a write in flight when the check began, and of a write begun while it ran', async () => {
    const guard = new SourceGuard();
    const view = activeView();
    const endEarly = guard.begin('c1', ['a']);
    const checking = guard.check('c1', view, [pt('a'), pt('d')], 20);
    endEarly(); // the in-flight write lands while the view is asked: still skipped
    const check = await checking;
    const endLate = guard.begin('c1', ['d']); // begun before the part's append: skipped
    expect(check.filter([pt('a'), pt('d')])).toEqual([]);
    endLate();
    check.close();
    expect(check.skipped().sort()).toEqual(['a', 'd']);
  });

  it('a write to another collection, or begun after the check closed, changes nothing', async () => {
    const guard = new SourceGuard();
    const view = activeView();
    const other = guard.begin('c2', ['a']);
    const check = await guard.check('c1', view, [pt('a')], 20);
    expect(check.filter([pt('a')]).map((p) => p.id)).toEqual(['a']);
    check.close();
    other();
    const after = guard.begin('c1', ['a']);
    expect(check.skipped()).toEqual([]);
    after();
    // Nothing is left registered once every write and check has ended.
    const again = await guard.check('c1', view, [pt('a')], 20);
    expect(again.filter([pt('a')]).map((p) => p.id)).toEqual(['a']);
    again.close();
  });
});
