import type { NatsConnection, Subscription } from 'nats';
import type { AckMode } from '../../catalog/index.ts';
import { Subjects } from '../subjects.ts';
import type { AppliedNotice, WriteAck } from '../types.ts';

interface Waiter {
  check: () => boolean;
}

/**
 * Knows how far each region has applied the WAL (from replicas' applied notices and
 * heartbeats) and answers write acknowledgements: `async` at once, `semi-sync` when at
 * least one region other than the primary's has applied the seq, `sync` when every
 * region of the collection's placement has. On timeout the answer says the write is
 * durable on the primary, which regions applied it, and that replication is pending.
 */
export class AckTracker {
  private readonly applied = new Map<string, number>();
  private readonly waiters = new Set<Waiter>();
  private sub: Subscription | null = null;

  constructor(
    private readonly o: { nc: NatsConnection; region: string; regions: readonly string[] },
  ) {}

  start(): void {
    const take = (data: Uint8Array) => {
      try {
        const n = JSON.parse(Buffer.from(data).toString('utf8')) as AppliedNotice;
        this.record(n.region, n.appliedSeq);
      } catch {
        // A malformed notice is ignored; the next heartbeat corrects the picture.
      }
    };
    this.sub = this.o.nc.subscribe(Subjects.appliedAll, { callback: (_e, m) => take(m.data) });
  }

  stop(): void {
    this.sub?.unsubscribe();
    for (const w of this.waiters) this.waiters.delete(w);
  }

  /** Records that a node in `region` has applied up to `seq` (monotonic per region). */
  record(region: string, seq: number): void {
    if ((this.applied.get(region) ?? 0) >= seq) return;
    this.applied.set(region, seq);
    for (const w of [...this.waiters]) if (w.check()) this.waiters.delete(w);
  }

  /** How far `region` is known to have applied the WAL (0 when not heard yet). */
  position(region: string): number {
    return region === this.o.region ? Infinity : (this.applied.get(region) ?? 0);
  }

  appliedRegions(seq: number): string[] {
    return [...this.applied.entries()]
      .filter(([, s]) => s >= seq)
      .map(([r]) => r)
      .sort();
  }

  /**
   * Waits until `needed` of `regions` have applied `seq` (the primary's own region counts
   * at once), or `timeoutMs` passes. Resolves with whether it was met and what each region
   * had applied; never rejects. The gate of an activation (issue 14).
   */
  async gate(
    seq: number,
    regions: readonly string[],
    needed: number,
    timeoutMs: number,
  ): Promise<{ met: boolean; applied: Map<string, number> }> {
    const met = (): boolean =>
      regions.filter((r) => r === this.o.region || (this.applied.get(r) ?? 0) >= seq).length >=
      needed;
    if (timeoutMs > 0) await this.until(met, timeoutMs);
    return { met: met(), applied: new Map(this.applied) };
  }

  /** Waits for `mode` on `seq`; never rejects: a timeout is an honest, non-replicated answer. */
  async wait(
    seq: number,
    mode: AckMode,
    placement: readonly string[] | null,
    timeoutMs: number,
  ): Promise<WriteAck> {
    const regions = placement ?? this.o.regions;
    const others = regions.filter((r) => r !== this.o.region);
    const needed = mode === 'sync' ? regions : mode === 'semi-sync' ? others : [];
    const satisfied = (): boolean => {
      const done = new Set(this.appliedRegions(seq));
      done.add(this.o.region);
      if (mode === 'async') return true;
      if (mode === 'semi-sync') return others.some((r) => done.has(r));
      return regions.every((r) => done.has(r));
    };
    const answer = (timedOut: boolean): WriteAck => {
      const done = new Set(this.appliedRegions(seq));
      done.add(this.o.region);
      const ok = satisfied();
      return {
        seq,
        mode,
        replicated: ok,
        appliedRegions: [...done].sort(),
        pendingRegions: ok ? [] : needed.filter((r) => !done.has(r)),
        timedOut: timedOut && !ok,
      };
    };
    return answer(!(await this.until(satisfied, timeoutMs)));
  }

  /**
   * Resolves true as soon as `check` holds (checked now and on each applied position this
   * tracker records), false when `timeoutMs` passes first. One waiter per call, removed
   * either way.
   */
  private until(check: () => boolean, timeoutMs: number): Promise<boolean> {
    if (check()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const w: Waiter = {
        check: () => {
          if (!check()) return false;
          clearTimeout(timer);
          resolve(true);
          return true;
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        resolve(false);
      }, timeoutMs);
      this.waiters.add(w);
    });
  }
}
