import type { NatsConnection } from 'nats';
import { Subjects } from '../subjects.ts';
import type { AppliedNotice, Heartbeat } from '../types.ts';

export interface HeartbeatOptions {
  nc: NatsConnection;
  region: string;
  node: string;
  role: Heartbeat['role'];
  intervalMs: number;
  /** Where this replica answers queries. */
  url?: string;
  /** What the replica reports now: the position it announces, its versions, its health. */
  state: () => {
    appliedSeq: number;
    appliedCommitTime: number;
    collections: Heartbeat['collections'];
    storageError: string | null;
  };
}

/**
 * Publishes a replica's heartbeat on STATE every interval (core publish: the STATE
 * stream keeps the last one per replica, live listeners get each as it is sent), and its
 * applied-position notices.
 */
export class HeartbeatPublisher {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly o: HeartbeatOptions) {}

  start(): void {
    this.beat();
    this.timer = setInterval(() => this.beat(), this.o.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The heartbeat as it would be published now. */
  body(): Heartbeat {
    const now = this.o.state();
    return {
      region: this.o.region,
      node: this.o.node,
      role: this.o.role,
      appliedSeq: now.appliedSeq,
      appliedCommitTime: now.appliedCommitTime,
      collections: now.collections,
      ...(this.o.url ? { url: this.o.url } : {}),
      ...(now.storageError ? { storageError: now.storageError } : {}),
      time: Date.now(),
      intervalMs: this.o.intervalMs,
    };
  }

  beat(): void {
    if (this.o.nc.isClosed()) return;
    const hb = this.body();
    this.o.nc.publish(Subjects.replicaState(hb.region, hb.node), Buffer.from(JSON.stringify(hb)));
    this.announce(hb.appliedSeq);
  }

  /**
   * A small applied-position notice (core NATS, not stored), sent after every applied WAL
   * batch so that a primary waiting on `semi-sync`/`sync` learns it within a round trip.
   */
  announce(appliedSeq: number): void {
    if (this.o.nc.isClosed()) return;
    const notice: AppliedNotice = { region: this.o.region, node: this.o.node, appliedSeq };
    this.o.nc.publish(
      Subjects.applied(this.o.region, this.o.node),
      Buffer.from(JSON.stringify(notice)),
    );
  }
}
