import type { NatsConnection } from 'nats';
import { Subjects } from '../subjects.ts';
import type { PrimaryBeacon } from '../types.ts';

/**
 * Publishes the primary's commit position and time on STATE every interval, even when
 * idle. It groups commits into buckets of `bucketMs` — first seq, its commit time, last
 * seq — so a router can tell when the oldest write a replica lacks was committed, to
 * within one bucket, and so bound its staleness from above.
 *
 * After a commit it also publishes within `promptMs` (coalescing the commits in between):
 * a leaf region, which receives only its own collections' WAL entries, can claim a
 * position past other collections' writes only once a beacon names it (ADR 0011), so its
 * replicas' lag would otherwise grow by up to one interval.
 */
export class CommitBeacon {
  private lastSeq = 0;
  private lastCommitTime = 0;
  /** Each collection's last committed seq: leaf regions close the gaps of other collections with it. */
  private readonly collections: Record<string, number> = {};
  /** Buckets touched since the last beacon: [firstSeq, firstTime, lastSeq]. */
  private buckets: Array<[number, number, number]> = [];
  private lastBucket = -1;
  private timer: NodeJS.Timeout | null = null;
  private prompt: NodeJS.Timeout | null = null;

  constructor(
    private readonly o: {
      nc: NatsConnection;
      node: string;
      region: string;
      intervalMs: number;
      /** Longest delay from a commit to the beacon that names it. Default 5 ms. */
      promptMs?: number;
      bucketMs?: number;
      url?: string;
    },
  ) {}

  /**
   * Records a committed WAL seq of `collection` (called after JetStream's durable ack, in
   * ack order). Without a collection (at start, the stream's last seq) only the position moves.
   */
  committed(seq: number, time = Date.now(), collection?: string): void {
    if (collection !== undefined && seq > (this.collections[collection] ?? 0)) {
      this.collections[collection] = seq;
    }
    if (seq <= this.lastSeq) return;
    this.lastSeq = seq;
    this.lastCommitTime = time;
    const bucket = Math.floor(time / (this.o.bucketMs ?? 10));
    const cur = this.buckets[this.buckets.length - 1];
    if (bucket !== this.lastBucket || !cur) {
      this.lastBucket = bucket;
      this.buckets.push([seq, time, seq]);
    } else {
      cur[2] = seq;
    }
    if (this.timer && !this.prompt) {
      this.prompt = setTimeout(() => {
        this.prompt = null;
        this.publish();
      }, this.o.promptMs ?? 5);
    }
  }

  /** The last committed seq: what a `strong` read must see. */
  get position(): { seq: number; time: number } {
    return { seq: this.lastSeq, time: this.lastCommitTime };
  }

  start(): void {
    this.publish();
    this.timer = setInterval(() => this.publish(), this.o.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.prompt) clearTimeout(this.prompt);
    this.timer = null;
    this.prompt = null;
  }

  publish(): void {
    if (this.o.nc.isClosed()) return;
    const beacon: PrimaryBeacon = {
      node: this.o.node,
      region: this.o.region,
      lastSeq: this.lastSeq,
      lastCommitTime: this.lastCommitTime,
      commits: this.buckets,
      collections: this.collections,
      time: Date.now(),
      intervalMs: this.o.intervalMs,
      ...(this.o.url ? { url: this.o.url } : {}),
    };
    // Keep the open bucket: later commits in it extend its lastSeq in the next beacon.
    const open = this.buckets[this.buckets.length - 1];
    this.buckets = open ? [[...open]] : [];
    this.o.nc.publish(Subjects.primaryState, Buffer.from(JSON.stringify(beacon)));
  }
}
