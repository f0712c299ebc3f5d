import type { NatsConnection } from 'nats';
import { Subjects } from '../subjects.ts';
import type { AppliedNotice, Heartbeat } from '../types.ts';

/**
 * Publishes a replica's heartbeat on STATE every interval (core publish: the STATE
 * stream keeps the last one per replica, live listeners get each as it is sent).
 */
export class HeartbeatPublisher {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly o: { nc: NatsConnection; intervalMs: number; build: () => Heartbeat },
  ) {}

  start(): void {
    this.beat();
    this.timer = setInterval(() => this.beat(), this.o.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  beat(): void {
    if (this.o.nc.isClosed()) return;
    const hb = this.o.build();
    this.o.nc.publish(Subjects.replicaState(hb.region, hb.node), Buffer.from(JSON.stringify(hb)));
    this.announce(hb.region, hb.node, hb.appliedSeq);
  }

  /**
   * A small applied-position notice (core NATS, not stored), sent after every applied WAL
   * batch so that a primary waiting on `semi-sync`/`sync` learns it within a round trip.
   */
  announce(region: string, node: string, appliedSeq: number): void {
    if (this.o.nc.isClosed()) return;
    const notice: AppliedNotice = { region, node, appliedSeq };
    this.o.nc.publish(Subjects.applied(region, node), Buffer.from(JSON.stringify(notice)));
  }
}
