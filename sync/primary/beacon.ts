import type { NatsConnection } from 'nats';
import { Subjects } from '../subjects.ts';
import type { PrimaryBeacon } from '../types.ts';

/**
 * Publishes the primary's commit position and time on STATE every interval, even when
 * idle. It samples commits into buckets of `bucketMs`, keeping the first (seq, time) of
 * each bucket since the previous beacon, so a router can bound a replica's staleness
 * from above to within one bucket.
 */
export class CommitBeacon {
  private lastSeq = 0;
  private lastCommitTime = 0;
  private commits: Array<[number, number]> = [];
  private lastBucket = -1;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly o: {
      nc: NatsConnection;
      node: string;
      region: string;
      intervalMs: number;
      bucketMs?: number;
      url?: string;
    },
  ) {}

  /** Records a committed WAL seq (called after JetStream's durable ack). */
  committed(seq: number, time = Date.now()): void {
    if (seq <= this.lastSeq) return;
    this.lastSeq = seq;
    this.lastCommitTime = time;
    const bucket = Math.floor(time / (this.o.bucketMs ?? 10));
    if (bucket !== this.lastBucket) {
      this.lastBucket = bucket;
      this.commits.push([seq, time]);
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
    this.timer = null;
  }

  publish(): void {
    if (this.o.nc.isClosed()) return;
    const beacon: PrimaryBeacon = {
      node: this.o.node,
      region: this.o.region,
      lastSeq: this.lastSeq,
      lastCommitTime: this.lastCommitTime,
      commits: this.commits,
      time: Date.now(),
      intervalMs: this.o.intervalMs,
      ...(this.o.url ? { url: this.o.url } : {}),
    };
    this.commits = [];
    this.o.nc.publish(Subjects.primaryState, Buffer.from(JSON.stringify(beacon)));
  }
}
