import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { JetStreamClient } from 'nats';
import { isSegmentIntegrityError } from '../../index/index.ts';
import type { PreparedInstall } from '../../index/index.ts';
import type { Catalog, Manifest } from '../../catalog/index.ts';
import { SyncError } from '../errors.ts';
import { hubLayout } from '../layout.ts';
import type { StreamLayout } from '../layout.ts';
import { collectGarbage } from '../garbage.ts';
import { fetchSegment } from '../segment-fetch.ts';

/** Fetched bytes after which the applier collects the chunk buffers at once. */
const LARGE_FETCH_BYTES = 32 * 1024 * 1024;
import type { ServedGeneration, ServedViews } from './views.ts';

/** The steps of applying a manifest, in order; hooks see each one (fault-injection seam). */
export const ApplyStages = [
  'fetch',
  'verify',
  'load',
  'transaction',
  'commit',
  'swap',
  'done',
] as const;
export type ApplyStage = (typeof ApplyStages)[number];

export interface ApplyHooksOptions {
  /**
   * Called at each stage. `commit` is called synchronously inside the SQLite transaction,
   * just before it commits (a crash there must roll back).
   */
  onStage?: (stage: ApplyStage, manifest: Manifest) => void | Promise<void>;
  /** Called before each batch of WAL entries is stored and applied (tests slow a replica with it). */
  beforeWalBatch?: (entries: number) => void | Promise<void>;
  /** Called once a batch of WAL entries is stored and applied, with its last seq (crash tests). */
  afterWalBatch?: (lastSeq: number) => void;
  /** Called after each segment chunk is written during `fetch`. */
  onFetchChunk?: (digest: string, index: number, count: number) => void | Promise<void>;
}

export interface AppliedManifest {
  collection: string;
  generation: string;
  version: number;
  ms: number;
}

export interface ManifestApplierOptions {
  js: JetStreamClient;
  catalog: Catalog;
  views: ServedViews;
  segmentsDir: string;
  /** Where this region keeps each collection's segment chunks. Default the hub's streams. */
  layout?: StreamLayout;
  hooks?: ApplyHooksOptions;
  /** How many segments to fetch at once. */
  fetchParallelism?: number;
  /** Told after each manifest is applied, with how long it took (fetch to swap). */
  onApplied?: (e: AppliedManifest) => void;
  /** Runs before a reinstall fetches missing files (a leaf region sets up its mirrors). */
  beforeRefetch?: (collection: string) => Promise<void>;
}

/**
 * Applies manifests on a replica: fetch the missing segments → load and verify them beside
 * the served view, on the node's view host (digest, header, Arrow data; each segment once
 * per node) → ONE SQLite transaction (manifest, segments, applied state, WAL-log trim) →
 * swap the view's install (its memtable trimmed by the swap). The view keeps answering
 * from its current install until the swap (decision 0013).
 *
 * A crash at any step leaves the replica on version v or v+1: before the transaction
 * commits nothing durable names v+1 (fetched files are content-addressed and harmless);
 * after it, a restart loads v+1 from the catalog. A segment that fails verification is
 * deleted, never served, and the error propagates: the replica stays on its last good
 * version. Idempotent: a manifest at or below the applied version is a no-op.
 */
export class ManifestApplier {
  private fetchedTotal = 0;
  private readonly o: ManifestApplierOptions;

  constructor(opts: ManifestApplierOptions) {
    this.o = opts;
  }

  segmentPath(digest: string): string {
    return join(this.o.segmentsDir, digest);
  }

  async apply(m: Manifest): Promise<'applied' | 'stale'> {
    const started = performance.now();
    const served = this.o.views.get(m.collection, m.generation);
    if (!served) {
      throw new SyncError(
        'unknown_collection',
        `manifest for ${m.collection}/${m.generation} arrived before its definition`,
        { transient: true },
      );
    }
    return this.o.views.exclusive(served, async () => {
      if (m.version <= served.version) return 'stale';
      const stage = async (s: ApplyStage) => this.o.hooks?.onStage?.(s, m);

      await stage('fetch');
      const current = new Set(served.digests);
      const missing = m.segments
        .map((s) => s.digest)
        .filter((d) => !current.has(d) && !existsSync(this.segmentPath(d)));
      const fetched = await this.fetchAll(m.collection, missing);

      await stage('verify');
      const prepared = await this.prepare(served, m, fetched);
      await stage('load');
      await stage('transaction');
      try {
        this.o.catalog.applyManifest(m, {
          beforeCommit: () => {
            void this.o.hooks?.onStage?.('commit', m);
          },
        });
      } catch (err) {
        served.view.abort(prepared);
        throw err;
      }

      await stage('swap');
      this.swap(served, m, prepared);
      this.o.onApplied?.({
        collection: m.collection,
        generation: m.generation,
        version: m.version,
        ms: performance.now() - started,
      });
      await stage('done');
      return 'applied';
    });
  }

  /**
   * Installs a manifest the catalog already records as applied: at start, and when a view
   * is rebuilt after its thread was lost. Fetches the segments that are not on disk; a
   * file that fails verification is deleted and fetched again once, in this same call.
   * Idempotent.
   */
  reinstall(served: ServedGeneration, m: Manifest): Promise<void> {
    return this.o.views.exclusive(served, async () => {
      let prepared: PreparedInstall;
      for (let attempt = 0; ; attempt++) {
        const missing = m.segments
          .map((s) => s.digest)
          .filter((d) => !existsSync(this.segmentPath(d)));
        if (missing.length > 0) await this.o.beforeRefetch?.(m.collection);
        const fetched = await this.fetchAll(m.collection, missing);
        try {
          prepared = await this.prepare(served, m, fetched);
          break;
        } catch (err) {
          // prepare deleted the damaged file: the next attempt fetches a good copy.
          if (attempt > 0 || !isSegmentIntegrityError(err)) throw err;
        }
      }
      this.swap(served, m, prepared);
    });
  }

  /**
   * Loads and verifies m's segments beside the view. A file whose bytes are bad is
   * deleted, so that a good copy is fetched next time; the error propagates. Files in
   * `fetched` were hashed as they arrived (fetchSegment renames only a matching copy), so
   * they are not hashed again; every other file is.
   */
  private async prepare(
    served: ServedGeneration,
    m: Manifest,
    fetched: ReadonlySet<string>,
  ): Promise<PreparedInstall> {
    try {
      return await served.view.prepare(
        m.segments.map((s) => ({
          digest: s.digest,
          path: this.segmentPath(s.digest),
          ...(fetched.has(s.digest) ? { verified: true } : {}),
        })),
        { collection: m.collection, generation: m.generation, dim: served.generation.dim },
      );
    } catch (err) {
      const digest = isSegmentIntegrityError(err) ? err.details?.['digest'] : undefined;
      if (typeof digest === 'string') await rm(this.segmentPath(digest), { force: true });
      throw err;
    }
  }

  private swap(served: ServedGeneration, m: Manifest, prepared: PreparedInstall): void {
    served.view.commit(prepared, m.tombstones, m.coversSeq);
    served.version = m.version;
    served.digests = m.segments.map((s) => s.digest);
    served.error = null;
    void served.view.stats().catch(() => undefined);
  }

  /** Fetches one segment of `collection` from this region's stream, unless it is on disk; the bytes fetched. */
  async fetch(collection: string, digest: string): Promise<number> {
    const onFetchChunk = this.o.hooks?.onFetchChunk;
    const r = await fetchSegment(this.o.js, {
      collection,
      digest,
      stream: (this.o.layout ?? hubLayout).segments(collection),
      destPath: this.segmentPath(digest),
      ...(onFetchChunk ? { onChunk: (i: number, n: number) => onFetchChunk(digest, i, n) } : {}),
    });
    return r.chunks > 0 ? r.bytes : 0;
  }

  /** Segment bytes fetched since this process started (`/metrics`; bench/cutover's rollback). */
  get bytesFetched(): number {
    return this.fetchedTotal;
  }

  /** Fetches `digests`; returns those this call fetched (and so verified) itself. */
  private async fetchAll(collection: string, digests: string[]): Promise<Set<string>> {
    const queue = [...digests];
    const verified = new Set<string>();
    let fetched = 0;
    const workers = Array.from(
      { length: Math.min(queue.length, this.o.fetchParallelism ?? 2) },
      async () => {
        for (let d = queue.shift(); d !== undefined; d = queue.shift()) {
          const bytes = await this.fetch(collection, d);
          if (bytes > 0) verified.add(d);
          fetched += bytes;
          this.fetchedTotal += bytes;
        }
      },
    );
    await Promise.all(workers);
    // The chunk buffers of a large fetch are garbage now; an idle follower would keep them.
    if (fetched >= LARGE_FETCH_BYTES) collectGarbage();
    return verified;
  }
}
