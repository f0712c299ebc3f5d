import { describe, expect, it } from 'vitest';
import { StalenessEstimator } from './staleness.ts';
import type { PrimaryBeacon } from './types.ts';

const beacon = (
  time: number,
  lastSeq: number,
  commits: PrimaryBeacon['commits'],
): PrimaryBeacon => ({
  node: 'p',
  region: 'r',
  lastSeq,
  lastCommitTime: time,
  commits,
  time,
  intervalMs: 100,
});

describe('staleness estimator', () => {
  it('is infinite before the primary was ever heard', () => {
    expect(new StalenessEstimator().stalenessMs(0, 1_000)).toBe(Infinity);
  });

  it('says a caught-up replica is as stale as the primary is silent', () => {
    const s = new StalenessEstimator();
    s.observe(beacon(10_000, 50, [[1, 9_000, 50]]), 10_000);
    expect(s.stalenessMs(50, 10_000)).toBe(0);
    expect(s.stalenessMs(50, 10_400)).toBe(400);
  });

  it('dates a missing write by the first commit of the bucket that holds it', () => {
    const s = new StalenessEstimator();
    s.observe(
      beacon(10_000, 30, [
        [1, 5_000, 10],
        [11, 8_000, 20],
        [21, 9_900, 30],
      ]),
      10_000,
    );
    // Missing seq 16: committed no earlier than 8,000.
    expect(s.stalenessMs(15, 10_000)).toBe(2_000);
    // Missing seq 21: exactly the first of its bucket.
    expect(s.stalenessMs(20, 10_000)).toBe(100);
    // Missing seq 1: the oldest bucket.
    expect(s.stalenessMs(0, 10_000)).toBe(5_000);
  });

  it('never says a replica is fresher than the time since the primary was last heard', () => {
    const s = new StalenessEstimator();
    s.observe(beacon(10_000, 30, [[21, 9_990, 30]]), 10_000);
    // Primary silent for 5 s (a partition): at least 5 s stale, however little is missing.
    expect(s.stalenessMs(29, 15_000)).toBeGreaterThanOrEqual(5_000);
    expect(s.stalenessMs(30, 15_000)).toBe(5_000);
  });

  it('counts a position older than the history it keeps as infinitely stale', () => {
    const s = new StalenessEstimator(1_000);
    s.observe(beacon(1_000, 10, [[1, 900, 10]]), 1_000);
    s.observe(beacon(5_000, 20, [[11, 4_900, 20]]), 5_000);
    expect(s.stalenessMs(3, 5_000)).toBe(Infinity);
    expect(s.stalenessMs(12, 5_000)).toBe(100);
  });

  it('extends a bucket when a later beacon repeats it with a higher last seq', () => {
    const s = new StalenessEstimator();
    s.observe(beacon(1_000, 12, [[10, 990, 12]]), 1_000);
    s.observe(beacon(1_100, 15, [[10, 990, 15]]), 1_100);
    expect(s.stalenessMs(13, 1_100)).toBe(110);
  });
});
