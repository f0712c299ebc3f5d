import { describe, expect, it } from 'vitest';
import { PlacedPosition } from './placed-position.ts';

const beacon = (
  lastSeq: number,
  collections: Record<string, number>,
  lastCommitTime = lastSeq,
) => ({
  lastSeq,
  lastCommitTime,
  collections,
});

describe('PlacedPosition (a leaf region that receives only its collections)', () => {
  it('closes the gaps other collections leave, once the held ones reach the beacon', () => {
    const p = new PlacedPosition();
    p.hold('a', 0);
    p.exclude('b');
    // WAL: 1 a, 2 b, 3 b, 4 a, 5 b
    p.observe(beacon(5, { a: 4, b: 5 }));
    expect(p.seq).toBe(0);
    p.advance('a', 1);
    expect(p.seq).toBe(1);
    p.advance('a', 4);
    expect(p.seq).toBe(5);
    expect(p.commitTime).toBe(5);
  });

  it('does not claim a beacon position while a held collection lacks an entry below it', () => {
    const p = new PlacedPosition();
    p.hold('a', 0);
    p.hold('c', 0);
    p.observe(beacon(10, { a: 3, c: 9 }));
    p.advance('a', 3);
    // c's entry 9 is missing: c is complete only to 0, so nothing above 0 is claimed.
    expect(p.seq).toBe(0);
    p.advance('c', 9);
    expect(p.seq).toBe(10);
  });

  it('an applied entry counts before the next beacon, but only up to the slowest held collection', () => {
    const p = new PlacedPosition();
    p.hold('a', 0);
    p.hold('c', 0);
    p.observe(beacon(4, { a: 4, c: 2 }));
    p.advance('c', 2);
    p.advance('a', 4);
    expect(p.seq).toBe(4);
    p.advance('a', 7); // c may have entries 5..7 not seen yet
    expect(p.seq).toBe(4);
    p.observe(beacon(8, { a: 7, c: 2 }));
    expect(p.seq).toBe(8);
  });

  it('holds back for a collection the beacon names whose definition has not arrived', () => {
    const p = new PlacedPosition();
    p.hold('a', 0);
    p.observe(beacon(3, { a: 3 }));
    p.advance('a', 3);
    expect(p.seq).toBe(3);
    // "n" appears with entries 4..6; it may be placed here.
    p.observe(beacon(7, { a: 3, n: 6 }));
    expect(p.seq).toBe(3);
    p.exclude('n');
    expect(p.seq).toBe(7);
  });

  it('a held collection the region is still catching up on keeps the position at its floor', () => {
    const p = new PlacedPosition();
    p.hold('a', 0);
    p.observe(beacon(3, { a: 3 }));
    p.advance('a', 3);
    p.hold('late', 0);
    p.observe(beacon(9, { a: 3, late: 8 }));
    // "late" existed before its first beacon here? No: it was not named at 3, so it has
    // nothing at or below 3; it holds the position there until its entries arrive.
    expect(p.seq).toBe(3);
    p.advance('late', 8);
    expect(p.seq).toBe(9);
  });

  it('never goes back, and ignores an older beacon', () => {
    const p = new PlacedPosition();
    p.hold('a', 0);
    p.observe(beacon(5, { a: 0 }));
    expect(p.seq).toBe(5);
    p.observe(beacon(4, { a: 4 }));
    expect(p.seq).toBe(5);
    p.observe(beacon(9, { a: 8 }));
    expect(p.seq).toBe(5);
    p.hold('z', 0);
    expect(p.seq).toBe(5);
  });

  it('with nothing held it follows the primary', () => {
    const p = new PlacedPosition();
    p.exclude('b');
    p.observe(beacon(12, { b: 12 }));
    expect(p.seq).toBe(12);
  });
});
