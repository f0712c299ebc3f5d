import type { ClusterState, KnownReplica } from '../../sync/index.ts';

interface Probe {
  rttMs: number | null;
  failures: number;
}

/**
 * Measures the round trip to every replica the router knows, itself: a GET /healthz per
 * replica every interval, smoothed (EWMA, α = 0.3). Three failed probes in a row mark a
 * replica unreachable until a probe succeeds again.
 */
export class RttProber {
  private readonly probes = new Map<string, Probe>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly o: {
      state: ClusterState;
      intervalMs: number;
      self: { region: string; node: string } | null;
      /** Where to reach a replica (its announced URL unless overridden). */
      urlOf: (hb: KnownReplica['heartbeat']) => string | undefined;
    },
  ) {}

  start(): void {
    void this.round();
    this.timer = setInterval(() => void this.round(), this.o.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Smoothed RTT in ms; 0 for the replica hosted in this process; null when unknown. */
  rtt(region: string, node: string): number | null {
    if (this.o.self && this.o.self.region === region && this.o.self.node === node) return 0;
    return this.probes.get(`${region}/${node}`)?.rttMs ?? null;
  }

  reachable(region: string, node: string): boolean {
    return (this.probes.get(`${region}/${node}`)?.failures ?? 0) < 3;
  }

  private async round(): Promise<void> {
    await Promise.all(
      this.o.state.all().map(async (r) => {
        const { region, node } = r.heartbeat;
        const url = this.o.urlOf(r.heartbeat);
        if (!url || !this.o.state.isLive(r)) return;
        if (this.o.self && this.o.self.region === region && this.o.self.node === node) return;
        const key = `${region}/${node}`;
        const p = this.probes.get(key) ?? { rttMs: null, failures: 0 };
        const t0 = performance.now();
        try {
          const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
          await res.arrayBuffer();
          const rtt = performance.now() - t0;
          p.rttMs = p.rttMs === null ? rtt : p.rttMs * 0.7 + rtt * 0.3;
          p.failures = 0;
        } catch {
          p.failures++;
        }
        this.probes.set(key, p);
      }),
    );
  }
}
