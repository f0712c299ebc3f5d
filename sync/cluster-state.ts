import { DeliverPolicy } from 'nats';
import type { NatsConnection, JetStreamClient, Subscription } from 'nats';
import { StalenessEstimator } from './staleness.ts';
import { Streams, Subjects } from './subjects.ts';
import type { AppliedNotice, Heartbeat, PrimaryBeacon } from './types.ts';

/** One replica as last heard. */
export interface KnownReplica {
  heartbeat: Heartbeat;
  /** Local clock time the last heartbeat arrived. */
  heardAt: number;
  /** Highest applied seq heard (heartbeats and applied notices). */
  appliedSeq: number;
}

type Listener = () => void;

/**
 * What a node knows about the cluster from STATE: every replica's last heartbeat and
 * applied position (live, plus the last stored ones at start), and the primary's commit
 * position, from which it judges staleness ({@link StalenessEstimator}).
 */
export class ClusterState {
  readonly staleness = new StalenessEstimator();
  private readonly replicas = new Map<string, KnownReplica>();
  private readonly subs: Subscription[] = [];
  private readonly listeners = new Set<Listener>();

  constructor(private readonly o: { nc: NatsConnection; js: JetStreamClient }) {}

  async start(): Promise<void> {
    this.subs.push(
      this.o.nc.subscribe(Subjects.stateAll, { callback: (_e, m) => this.take(m.subject, m.data) }),
      this.o.nc.subscribe(Subjects.appliedAll, {
        callback: (_e, m) => {
          const n = parse<AppliedNotice>(m.data);
          if (n) this.noteApplied(n.region, n.node, n.appliedSeq);
        },
      }),
    );
    await this.loadStored();
  }

  stop(): void {
    for (const s of this.subs.splice(0)) s.unsubscribe();
  }

  onChange(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  all(): KnownReplica[] {
    return [...this.replicas.values()];
  }

  get(region: string, node: string): KnownReplica | null {
    return this.replicas.get(`${region}/${node}`) ?? null;
  }

  /** Whether a replica's heartbeat is recent enough (within `misses` intervals). */
  isLive(r: KnownReplica, now = Date.now(), misses = 3): boolean {
    return now - r.heardAt <= misses * r.heartbeat.intervalMs + 250;
  }

  private async loadStored(): Promise<void> {
    try {
      const consumer = await this.o.js.consumers.get(Streams.state, {
        filterSubjects: Subjects.stateAll,
        deliver_policy: DeliverPolicy.LastPerSubject,
      });
      const batch = await consumer.fetch({ max_messages: 1000, expires: 1000 });
      for await (const m of batch) {
        this.take(m.subject, m.data, m.info.timestampNanos / 1e6);
        if (m.info.pending === 0) break;
      }
    } catch {
      // No stored state yet (or the stream is missing): live messages will fill it in.
    }
  }

  private take(subject: string, data: Uint8Array, storedAt?: number): void {
    if (subject === Subjects.primaryState) {
      const b = parse<PrimaryBeacon>(data);
      if (b) this.staleness.observe(b, storedAt ?? Date.now());
    } else {
      const hb = parse<Heartbeat>(data);
      if (!hb) return;
      const key = `${hb.region}/${hb.node}`;
      const cur = this.replicas.get(key);
      if (cur && cur.heartbeat.time > hb.time) return;
      this.replicas.set(key, {
        heartbeat: hb,
        heardAt: storedAt ?? Date.now(),
        appliedSeq: Math.max(hb.appliedSeq, cur?.appliedSeq ?? 0),
      });
    }
    this.notify();
  }

  private noteApplied(region: string, node: string, seq: number): void {
    const r = this.replicas.get(`${region}/${node}`);
    if (r && seq > r.appliedSeq) {
      r.appliedSeq = seq;
      this.notify();
    }
  }

  private notify(): void {
    for (const fn of [...this.listeners]) fn();
  }
}

function parse<T>(data: Uint8Array): T | null {
  try {
    return JSON.parse(Buffer.from(data).toString('utf8')) as T;
  } catch {
    return null;
  }
}
