import type { Primary, Replica } from '../../sync/index.ts';
import type { Foundation } from './foundation.ts';

/**
 * The gauges `/metrics` shows, refreshed when it is scraped: WAL positions, view threads,
 * points and segments per served generation, sealer events, and each replica's lag in
 * time and in versions behind the newest any replica holds.
 */
export class Gauges {
  private readonly sealerSeen = new Map<string, number>();
  /** What the counter has of the replica's fetched bytes (a new role's replica starts at 0). */
  private fetchedSeen = { replica: null as Replica | null, bytes: 0 };

  constructor(
    private readonly f: Foundation,
    private readonly of: () => { primary: Primary | null; replica: Replica | null },
  ) {}

  refresh(): void {
    const { metrics, state } = this.f;
    const { primary, replica } = this.of();
    if (primary) metrics.walSeq.set({ kind: 'committed' }, primary.commitPosition.seq);
    if (replica) {
      metrics.walSeq.set({ kind: 'applied' }, replica.appliedSeq);
      const host = replica.viewHost;
      metrics.searchThreads.set({ state: 'configured' }, host?.threads ?? 0);
      metrics.searchThreads.set({ state: 'serving' }, host?.serving ?? 0);
      if (this.fetchedSeen.replica !== replica) this.fetchedSeen = { replica, bytes: 0 };
      const fetched = replica.segmentBytesFetched;
      if (fetched > this.fetchedSeen.bytes) {
        metrics.segmentFetchBytes.inc(fetched - this.fetchedSeen.bytes);
      }
      this.fetchedSeen.bytes = fetched;
      for (const s of replica.views.all()) {
        const labels = { collection: s.settings.name, generation: s.generation.model };
        const st = s.view.lastStats;
        metrics.points.set({ ...labels, state: 'sealed' }, st.sealedPoints);
        metrics.points.set({ ...labels, state: 'memtable' }, st.memtablePoints);
        metrics.segments.set(labels, st.segments);
      }
    }
    if (primary) this.sealerEvents(primary);
    const replicas = state.all();
    // Versions are counted per generation: each has its own manifest sequence.
    const key = (c: { collection: string; generation: string }) =>
      `${c.collection}\u0000${c.generation}`;
    const newest = new Map<string, number>();
    for (const r of replicas) {
      for (const c of r.heartbeat.collections) {
        newest.set(key(c), Math.max(newest.get(key(c)) ?? -Infinity, c.version));
      }
    }
    metrics.replicaGeneration.reset(); // a dropped generation or a lost replica disappears
    for (const r of replicas) {
      const s = state.staleness.stalenessMs(r.appliedSeq);
      for (const c of r.heartbeat.collections) {
        const labels = {
          collection: c.collection,
          generation: c.generation,
          region: r.heartbeat.region,
          node: r.heartbeat.node,
        };
        metrics.lagMs.set(labels, Number.isFinite(s) ? s : -1);
        metrics.lagVersions.set(labels, newest.get(key(c))! - c.version);
        const g = { ...labels, state: c.state ?? 'unknown' };
        metrics.replicaGeneration.set({ ...g, kind: 'points' }, c.points);
        metrics.replicaGeneration.set({ ...g, kind: 'version' }, c.version);
      }
    }
  }

  /** Sealer counters are totals on the primary: the counter gets what grew since the last scrape. */
  private sealerEvents(primary: Primary): void {
    const now = primary.sealer.stats;
    const counts = {
      seals: now.seals,
      merges: now.merges,
      sealed_points: now.sealedPoints,
      merged_points: now.mergedPoints,
      segment_bytes: now.segmentBytes,
    };
    for (const [event, n] of Object.entries(counts)) {
      const delta = n - (this.sealerSeen.get(event) ?? 0);
      if (delta > 0) this.f.metrics.sealer.inc({ event }, delta);
      this.sealerSeen.set(event, n);
    }
  }
}
