import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics of one service instance (its own registry, so several services in
 * one process — tests, the demo — do not collide).
 */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly queryLatency: Histogram<'level' | 'region' | 'outcome'>;
  readonly requests: Counter<'route' | 'status'>;
  readonly lagMs: Gauge<'collection' | 'generation' | 'region' | 'node'>;
  readonly lagVersions: Gauge<'collection' | 'generation' | 'region' | 'node'>;
  readonly replicaGeneration: Gauge<
    'collection' | 'generation' | 'state' | 'region' | 'node' | 'kind'
  >;
  readonly applyDuration: Histogram<'collection'>;
  readonly walSeq: Gauge<'kind'>;
  readonly searchThreads: Gauge<'state'>;
  readonly storageErrors: Counter;
  readonly points: Gauge<'collection' | 'generation' | 'state'>;
  readonly segments: Gauge<'collection' | 'generation'>;
  readonly sealer: Counter<'event'>;
  readonly segmentFetchBytes: Counter;

  constructor(labels: { service: string; region: string; node: string }) {
    this.registry.setDefaultLabels(labels);
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.queryLatency = new Histogram({
      name: 'meridian_query_seconds',
      help: 'Query latency by consistency level and serving region',
      labelNames: ['level', 'region', 'outcome'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.requests = new Counter({
      name: 'meridian_http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['route', 'status'],
      registers,
    });
    this.lagMs = new Gauge({
      name: 'meridian_replication_lag_ms',
      help: 'Replication lag in ms (staleness) per collection generation and replica',
      labelNames: ['collection', 'generation', 'region', 'node'],
      registers,
    });
    this.lagVersions = new Gauge({
      name: 'meridian_replication_lag_versions',
      help: 'Manifest versions a replica is behind the newest any replica holds, per collection generation',
      labelNames: ['collection', 'generation', 'region', 'node'],
      registers,
    });
    this.replicaGeneration = new Gauge({
      name: 'meridian_replica_generation',
      help: 'Each replica per collection generation, from its heartbeat: kind=points (served) or kind=version (applied manifest); state is active, staging or retired',
      labelNames: ['collection', 'generation', 'state', 'region', 'node', 'kind'],
      registers,
    });
    this.applyDuration = new Histogram({
      name: 'meridian_manifest_apply_seconds',
      help: 'Time to apply a manifest (fetch to swap)',
      labelNames: ['collection'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
      registers,
    });
    this.walSeq = new Gauge({
      name: 'meridian_wal_seq',
      help: 'WAL positions: committed (primary) and applied (this replica)',
      labelNames: ['kind'],
      registers,
    });
    this.searchThreads = new Gauge({
      name: 'meridian_search_threads',
      help: 'View threads (decision 0013): configured, and serving (fewer while a failed one is replaced and its views rebuilt)',
      labelNames: ['state'],
      registers,
    });
    this.storageErrors = new Counter({
      name: 'meridian_storage_errors_total',
      help: 'Failures to store what this node received (a full disk): the WAL log, segment files',
      registers,
    });
    this.points = new Gauge({
      name: 'meridian_points',
      help: 'Live points this replica serves, by where: sealed (HNSW segments) or memtable (written, not sealed yet, searched exactly)',
      labelNames: ['collection', 'generation', 'state'],
      registers,
    });
    this.segments = new Gauge({
      name: 'meridian_segments',
      help: 'Sealed segments this replica serves (each searched per query)',
      labelNames: ['collection', 'generation'],
      registers,
    });
    this.segmentFetchBytes = new Counter({
      name: 'meridian_segment_fetch_bytes_total',
      help: 'Segment bytes this replica fetched from its region (a rollback, a restart with the files on disk: none)',
      registers,
    });
    this.sealer = new Counter({
      name: 'meridian_sealer_events_total',
      help: 'Primary only: seals and merges, and the points they wrote into segments (sealed_points, merged_points) and segment bytes built (each fetched by every replica)',
      labelNames: ['event'],
      registers,
    });
  }
}
