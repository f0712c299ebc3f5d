import { randomUUID } from 'node:crypto';
import type { JetStreamClient, KV } from 'nats';
import { sleep } from '../../lib/wait.ts';
import { SyncError, fromNatsError, isWrongLastSequence } from '../errors.ts';
import { Buckets } from '../subjects.ts';

/** Who holds the primary lease, as written in it. */
export interface LeaseHolder {
  node: string;
  region: string;
  /** One per process: tells a restarted primary from the one it replaces. */
  instance: string;
  since: string;
}

export interface PrimaryLeaseOptions {
  js: JetStreamClient;
  node: string;
  region: string;
  /**
   * How long a lease lives without renewal (ms). A primary that crashed is replaced at
   * most this long after its last renewal; one that cannot renew for this long stops
   * taking writes. Renewed every ttl / 4.
   */
  ttlMs: number;
  /** Told once when the lease is lost (taken over, or not renewed in time). */
  onLost?: (why: string) => void;
}

const KEY = 'primary';

/**
 * One primary at a time (issue 11): a lease in a JetStream key-value bucket on the hub,
 * taken with a compare-and-set create and renewed with compare-and-set updates (both are
 * expected-last-sequence publishes), expiring `ttlMs` after its last renewal.
 *
 * A second primary started while the first runs sees the lease renewed while it waits and
 * is refused with a message naming the holder. A primary restarted after a crash takes the
 * lease once it has expired. A primary that loses it — someone else took it, or it could
 * not renew in time — reports that at once and holds it no more: its writes are refused.
 */
export class PrimaryLease {
  private kv: KV | null = null;
  private revision = 0;
  private validUntil = 0;
  private timer: NodeJS.Timeout | null = null;
  private renewing: Promise<void> | null = null;
  private lost: string | null = null;
  private readonly me: LeaseHolder;

  constructor(private readonly o: PrimaryLeaseOptions) {
    this.me = {
      node: o.node,
      region: o.region,
      instance: randomUUID(),
      since: new Date().toISOString(),
    };
  }

  /** True while this process holds an unexpired lease. */
  get held(): boolean {
    return this.lost === null && this.revision > 0 && Date.now() < this.validUntil;
  }

  /** Why writes are refused, or null while the lease is held. */
  get refusal(): string | null {
    if (this.held) return null;
    return this.lost ?? 'this primary does not hold the primary lease (yet)';
  }

  /**
   * Whether this process may take a write now. While the lease is held, at once. When it
   * lapsed without being lost — this process stalled (a long GC pause, a blocked event
   * loop) or NATS was out of reach past its life — it renews now (one renewal for every
   * caller asking together) and answers from the result, so a write after a stall is not
   * refused for the few milliseconds before the next scheduled renewal. A compare-and-set
   * renewal or re-creation that succeeds proves no other process holds the lease.
   */
  async confirm(): Promise<boolean> {
    if (this.held) return true;
    if (this.lost !== null || !this.kv) return false;
    await this.renewShared();
    return this.held;
  }

  /**
   * Takes the lease, waiting up to one TTL for an expired holder's lease to lapse. Throws
   * `not_primary` when another process renews it meanwhile (it is alive).
   */
  async acquire(stopped: () => boolean = () => false): Promise<void> {
    try {
      this.kv = await this.o.js.views.kv(Buckets.primaryLease, { ttl: this.o.ttlMs, history: 1 });
    } catch (err) {
      throw fromNatsError(err, 'cannot open the primary lease bucket');
    }
    const deadline = Date.now() + this.o.ttlMs * 2;
    let seen: { revision: number; holder: LeaseHolder | null } | null = null;
    for (;;) {
      if (stopped()) throw new SyncError('stopped', 'primary stopped', { transient: true });
      const started = Date.now();
      try {
        this.revision = await this.kv.create(KEY, encode(this.me));
        this.validUntil = started + this.o.ttlMs;
        break;
      } catch (err) {
        if (!isWrongLastSequence(err) && !/exists/i.test(String(err))) {
          throw fromNatsError(err, 'cannot take the primary lease');
        }
      }
      const cur = await this.kv.get(KEY);
      const now =
        cur && cur.operation === 'PUT'
          ? { revision: cur.revision, holder: decode(cur.value) }
          : null;
      if (seen && now && now.revision !== seen.revision) throw held(now.holder);
      if (!seen && now) seen = now;
      if (Date.now() > deadline) throw held(now?.holder ?? seen?.holder ?? null);
      await sleep(Math.min(250, this.o.ttlMs / 4));
    }
    this.schedule();
  }

  /** Gives the lease up (a graceful stop): a restarted primary takes it at once. */
  async release(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.lost ??= 'this primary stopped';
    await this.renewing?.catch(() => undefined); // its revision is the one to delete
    const rev = this.revision;
    if (this.kv && rev > 0) await this.kv.delete(KEY, { previousSeq: rev }).catch(() => undefined);
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      void this.renewShared().then(() => {
        if (!this.lost && this.timer !== null) this.schedule();
      });
    }, this.o.ttlMs / 4);
    this.timer.unref();
  }

  /** One renewal at a time: the scheduled one and those asked by {@link confirm} share it. */
  private renewShared(): Promise<void> {
    this.renewing ??= this.renew().finally(() => (this.renewing = null));
    return this.renewing;
  }

  private async renew(): Promise<void> {
    if (this.lost || !this.kv) return;
    const started = Date.now();
    try {
      this.revision = await this.kv.update(KEY, encode(this.me), this.revision);
      this.validUntil = started + this.o.ttlMs;
    } catch (err) {
      if (isWrongLastSequence(err)) {
        // Our entry is gone: it expired while NATS was out of reach (or this process
        // stalled). If nobody took the lease meanwhile, no other primary took writes: take
        // it again.
        const cur = await this.kv.get(KEY).catch(() => null);
        const by = cur && cur.operation === 'PUT' ? decode(cur.value) : null;
        if (by && by.instance !== this.me.instance) {
          this.lose(`the primary lease was taken by ${describe(by)}`);
          return;
        }
        try {
          this.revision = await this.kv.create(KEY, encode(this.me));
          this.validUntil = started + this.o.ttlMs;
        } catch {
          // taken in between, or unreachable again: the next renewal finds out which
        }
      }
      // NATS unreachable: keep trying; past the lease's life writes are refused (`held`
      // turns false by itself) until a renewal gets through.
    }
  }

  private lose(why: string): void {
    if (this.lost) return;
    this.lost = why;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.o.onLost?.(why);
  }
}

function encode(h: LeaseHolder): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(h));
}

function decode(b: Uint8Array): LeaseHolder | null {
  try {
    return JSON.parse(new TextDecoder().decode(b)) as LeaseHolder;
  } catch {
    return null;
  }
}

function describe(h: LeaseHolder): string {
  return `node ${h.node} in region ${h.region} (instance ${h.instance.slice(0, 8)}, since ${h.since})`;
}

function held(h: LeaseHolder | null): SyncError {
  return new SyncError(
    'not_primary',
    `another primary is running${h ? `: ${describe(h)}` : ''}; only one primary may take writes. Stop it first, or start this node as a follower.`,
    { details: h ? { ...h } : {} },
  );
}
