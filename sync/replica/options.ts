import type { Catalog } from '../../catalog/index.ts';
import type { NatsLink } from '../connection.ts';
import type { StreamLayout } from '../layout.ts';
import type { Heartbeat } from '../types.ts';
import type { AppliedManifest, ApplyHooksOptions } from './manifest-applier.ts';

/** How a {@link Replica} is set up. */
export interface ReplicaOptions {
  link: NatsLink;
  catalog: Catalog;
  /** The node's data directory: `catalog.db` lives here, segments in `segments/`. */
  dataDir: string;
  region: string;
  node: string;
  role?: Heartbeat['role'];
  /**
   * Which local streams hold what. Default the hub's: every collection in one set of
   * streams. A leaf region's layout has per-collection mirrors of its placed collections
   * only (ADR 0011).
   */
  layout?: StreamLayout;
  heartbeatMs?: number;
  /** First delay before retrying a manifest that failed to apply (doubles up to 5 s). */
  retryMs?: number;
  hooks?: ApplyHooksOptions;
  /** Where this replica answers queries (put into heartbeats); settable until start. */
  url?: string;
  /** Told after each manifest is applied (metrics). */
  onManifestApplied?: (e: AppliedManifest) => void;
  /** Told of each storage error (a full disk; metrics). */
  onStorageError?: (err: unknown) => void;
  /** The position its answers reflect, when that is more than its WAL position (the primary's). */
  readSeq?: () => number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  /**
   * View threads: worker threads that hold the served views (each once) and answer their
   * searches beside the event loop (decision 0013); 0 or unset keeps the views on the
   * event loop.
   */
  searchThreads?: number;
}
