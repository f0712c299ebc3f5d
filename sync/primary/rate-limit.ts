import { sleep } from '../../lib/wait.ts';

/**
 * A token bucket in points per second: `take(n)` resolves once `n` points fit the rate,
 * with up to one second of burst. A take larger than the burst is let through at once and
 * paid for by the takes after it (the bucket goes into debt), so a big batch is never
 * refused, only the writes after it slowed. Takes are served in arrival order.
 */
export class PointRate {
  private tokens: number;
  private last: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly perSecond: number,
    private readonly clock: { now: () => number; sleep: (ms: number) => Promise<void> } = {
      now: () => performance.now(),
      sleep: (ms) => sleep(ms),
    },
  ) {
    if (!(perSecond > 0)) throw new Error(`PointRate: perSecond must be > 0, got ${perSecond}`);
    this.tokens = perSecond;
    this.last = clock.now();
  }

  /** Waits until `n` points may go; resolves with the ms waited. */
  take(n: number): Promise<number> {
    const turn = this.queue.then(() => this.wait(n));
    this.queue = turn.then(
      () => undefined,
      () => undefined,
    );
    return turn;
  }

  private async wait(n: number): Promise<number> {
    this.refill();
    let waited = 0;
    if (this.tokens < 0) {
      const ms = (-this.tokens / this.perSecond) * 1000;
      await this.clock.sleep(ms);
      waited = ms;
      this.refill();
    }
    this.tokens -= n;
    return waited;
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(
      this.perSecond,
      this.tokens + ((now - this.last) / 1000) * this.perSecond,
    );
    this.last = now;
  }
}
