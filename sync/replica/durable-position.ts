import { sleep } from '../../lib/wait.ts';

export interface DurablePositionOptions {
  /** Makes every WAL log row committed so far durable (fdatasync, off the event loop). */
  sync(): Promise<void>;
  /** Told of each new durable position. */
  onDurable(seq: number): void;
  onError(err: unknown): void;
  signal: AbortSignal;
}

/**
 * The position whose WAL log rows are on disk: what a follower announces and what acks
 * may count (decision 0016). Requests are coalesced: one sync runs at a time and covers
 * every commit made before it started.
 */
export class DurablePosition {
  private durable = 0;
  private wanted = 0;
  private epoch = 0;
  private syncing: Promise<void> | null = null;

  constructor(private readonly o: DurablePositionOptions) {}

  get seq(): number {
    return this.durable;
  }

  /** Everything up to `seq` is known to be on disk (synced at start-up). */
  markDurable(seq: number): void {
    this.durable = seq;
  }

  /** Asks for the WAL log to be fsynced up to `seq`. */
  request(seq: number): void {
    // In a leaf region the position can step back (a collection placed here later starts
    // lower): rows stored on the way up again are not synced yet, and a sync already under
    // way must not count for them (review of issue 12).
    if (seq < this.wanted) {
      this.epoch++;
      this.durable = Math.min(this.durable, seq);
    }
    this.wanted = seq;
    this.syncing ??= this.loop().finally(() => {
      this.syncing = null;
      // A request that came after the loop's last check starts it again.
      if (!this.o.signal.aborted && this.wanted > this.durable) this.request(this.wanted);
    });
  }

  /** Resolves once no sync is running (call after aborting the signal). */
  async settled(): Promise<void> {
    await this.syncing;
  }

  private async loop(): Promise<void> {
    while (!this.o.signal.aborted && this.wanted > this.durable) {
      const target = this.wanted;
      const epoch = this.epoch;
      try {
        await this.o.sync();
      } catch (err) {
        this.o.onError(err);
        await sleep(100, this.o.signal);
        continue;
      }
      if (epoch !== this.epoch) continue; // the position stepped back meanwhile
      this.durable = Math.max(this.durable, target);
      this.o.onDurable(this.durable);
    }
  }
}
