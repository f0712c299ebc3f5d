import { describe, expect, it } from 'vitest';
import { PointRate } from './rate-limit.ts';

/** A clock that moves only when slept on, so the test measures the bucket, not the machine. */
function fakeClock() {
  let t = 0;
  return {
    now: () => t,
    sleep: async (ms: number) => {
      t += ms;
    },
    get t() {
      return t;
    },
  };
}

describe('PointRate', () => {
  it('lets a second of burst through, then paces takes to the rate', async () => {
    const clock = fakeClock();
    const rate = new PointRate(1_000, clock);
    expect(await rate.take(1_000)).toBe(0);
    // The bucket is empty now: 500 more points wait 0 ms (debt), the next take pays 0.5 s.
    expect(await rate.take(500)).toBe(0);
    expect(await rate.take(500)).toBe(500);
    expect(clock.t).toBe(500);
  });

  it('a batch larger than the burst goes at once and slows the takes after it', async () => {
    const clock = fakeClock();
    const rate = new PointRate(100, clock);
    expect(await rate.take(1_000)).toBe(0);
    expect(await rate.take(1)).toBe(9_000);
    // 10,000 ms for 1,001 points at 100/s: the rate holds over the run.
    expect(clock.t).toBe(9_000);
  });

  it('serves concurrent takes in arrival order, each paying its share', async () => {
    const clock = fakeClock();
    const rate = new PointRate(10, clock);
    await rate.take(10);
    const order: number[] = [];
    await Promise.all([1, 2, 3].map((i) => rate.take(10).then(() => order.push(i))));
    expect(order).toEqual([1, 2, 3]);
    expect(clock.t).toBe(2_000);
  });

  it('refuses a rate that is not positive', () => {
    expect(() => new PointRate(0)).toThrow(/must be > 0/);
  });
});
