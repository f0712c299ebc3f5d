import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ViewHandle, ViewHost } from '../../index/index.ts';
import type { Catalog, Manifest } from '../../catalog/index.ts';
import { Backoff, until } from '../../lib/wait.ts';
import { lastCollectionDef } from '../catalog-stream.ts';
import type { NatsLink } from '../connection.ts';
import { SyncError, errorMessage, isStorageError } from '../errors.ts';
import { hubLayout } from '../layout.ts';
import type { StreamLayout } from '../layout.ts';
import { ensureCollectionMirrors } from '../mirrors.ts';
import { assertSubjectToken } from '../subjects.ts';
import type { CollectionDef, Heartbeat } from '../types.ts';
import { decodeWalEntry } from '../wal-codec.ts';
import type { SeqWalEntry } from '../wal-codec.ts';
import { applyCollectionDef } from './collection-def.ts';
import { DurablePosition } from './durable-position.ts';
import { stoppedError } from './follow.ts';
import type { Follow, Position, ReplicaContext } from './follow.ts';
import { HeartbeatPublisher } from './heartbeat.ts';
import { HubFollow } from './hub-follow.ts';
import { ManifestApplier } from './manifest-applier.ts';
import type { AppliedManifest, ApplyHooksOptions } from './manifest-applier.ts';
import { ManifestQueue } from './manifest-queue.ts';
import { PlacedFollow } from './placed-follow.ts';
import { ViewSupervisor } from './view-supervisor.ts';
import { ServedViews } from './views.ts';
import type { ServedGeneration } from './views.ts';

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

type Listener = () => void;
type StorageSite = 'wal' | 'manifest';

/**
 * A replica of every collection placed in its region (decision 0018): it recovers from
 * its data directory, then one {@link Follow} — the hub's streams, or a leaf region's
 * mirrors — feeds definitions and manifests to the {@link ManifestQueue} (applied
 * atomically by the {@link ManifestApplier}) and WAL entries to the views through the
 * local WAL log. It announces the {@link DurablePosition} in heartbeats. The primary runs
 * one too, for its own region.
 */
export class Replica {
  readonly views = new ServedViews();
  readonly region: string;
  readonly node: string;
  private readonly o: ReplicaOptions;
  private readonly layout: StreamLayout;
  private readonly segmentsDir: string;
  private readonly stopping = new AbortController();
  private readonly applier: ManifestApplier;
  private readonly queue: ManifestQueue;
  private readonly durable: DurablePosition;
  private supervisor: ViewSupervisor | null = null;
  private follower: Follow | null = null;
  private heartbeat: HeartbeatPublisher | null = null;
  /** Where the data directory's WAL log left this node (until a follow starts). */
  private recovered: Position = { seq: 0, commitTime: 0 };
  private lastAnnounced = -1;
  /** Seqs the primary's write path applied already (see {@link applyOwnWrite}). */
  private readonly ownWrites = new Set<number>();
  private readonly listeners = new Set<Listener>();
  /** Storage errors by where they happened; each cleared by its next success there. */
  private readonly storage = new Map<StorageSite, string>();

  constructor(opts: ReplicaOptions) {
    this.o = opts;
    this.region = assertSubjectToken('region', opts.region);
    this.node = assertSubjectToken('node', opts.node);
    this.segmentsDir = join(opts.dataDir, 'segments');
    this.layout = opts.layout ?? hubLayout;
    const { hubDomain } = this.layout;
    this.applier = new ManifestApplier({
      js: opts.link.js,
      catalog: opts.catalog,
      views: this.views,
      segmentsDir: this.segmentsDir,
      layout: this.layout,
      hooks: opts.hooks,
      ...(opts.onManifestApplied ? { onApplied: opts.onManifestApplied } : {}),
      ...(hubDomain
        ? { beforeRefetch: (c: string) => ensureCollectionMirrors(opts.link.jsm, hubDomain, c) }
        : {}),
    });
    const signal = this.stopping.signal;
    this.queue = new ManifestQueue({
      apply: (m) => this.applyManifest(m),
      onApplied: () => {
        this.stored('manifest');
        this.changed();
      },
      onFailed: (m, err) => {
        const served = this.views.get(m.collection, m.generation);
        const at = new Date().toISOString();
        if (served) served.error = { version: m.version, message: errorMessage(err), at };
        this.failed('manifest', 'manifest apply failed', err, {
          collection: m.collection,
          version: m.version,
        });
        this.changed();
      },
      retry: { firstMs: opts.retryMs ?? 200, maxMs: 5_000 },
      signal,
    });
    this.durable = new DurablePosition({
      sync: () => opts.catalog.syncWalLog(),
      // A primary announces its commit position after each write already.
      onDurable: () => {
        if (!opts.readSeq) this.heartbeat?.announce(this.region, this.node, this.announcedSeq());
      },
      onError: (err) => this.failed('wal', 'WAL log fsync failed', err),
      signal,
    });
  }

  /** Highest WAL seq up to which every entry of the collections held here is applied. */
  get appliedSeq(): number {
    return this.position().seq;
  }
  get appliedCommitTime(): number {
    return this.position().commitTime;
  }
  /** True once the WAL has been applied up to where it stood when following started. */
  get caughtUp(): boolean {
    return this.follower?.caughtUp ?? false;
  }
  get catalog(): Catalog {
    return this.o.catalog;
  }
  /** Where this replica's views live: its view threads, or its event loop (decision 0013). */
  get viewHost(): ViewHost | null {
    return this.supervisor?.host ?? null;
  }

  private position(): Position {
    return this.follower?.position() ?? this.recovered;
  }

  /** Recovers from disk, then follows; resolves once the initial catalog sync is applied. */
  async start(): Promise<void> {
    await this.recover();
    this.assertRunning();
    await this.follow();
  }

  /**
   * Loads what the data directory says this node applied: each generation's applied
   * manifest, its segments (verified; refetched when missing or bad), then the local WAL
   * log into the memtables. Touches no stream but SEGMENTS.
   */
  async recover(): Promise<void> {
    this.supervisor ??= new ViewSupervisor({
      dataDir: this.o.dataDir,
      searchThreads: this.o.searchThreads ?? 0,
      views: this.views,
      rebuild: (view) => this.rebuild(view),
      signal: this.stopping.signal,
      log: (msg, fields) => this.log(msg, fields),
    });
    await mkdir(this.segmentsDir, { recursive: true });
    const { catalog } = this.o;
    for (const settings of catalog.listCollections()) {
      for (const g of catalog.listGenerations(settings.name)) {
        const served = this.views.ensure(settings, g);
        const m = catalog.appliedManifest(settings.name, g.model);
        if (m) await this.applier.reinstall(served, m);
      }
    }
    const entries: SeqWalEntry[] = [];
    for (const row of catalog.walEntriesAll()) {
      entries.push({ ...decodeWalEntry(row.payload), seq: row.seq, time: 0 });
    }
    this.applyWal(entries);
    const last = entries[entries.length - 1];
    if (last) this.recovered = { seq: last.seq, commitTime: 0 };
  }

  /** Follows the streams its layout names (hub or leaf), then publishes heartbeats. */
  async follow(): Promise<void> {
    const ctx = this.context();
    this.follower =
      this.layout.kind === 'leaf' ? new PlacedFollow(ctx) : new HubFollow(ctx, this.recovered);
    await this.follower.start();
    this.assertRunning();
    this.heartbeat = new HeartbeatPublisher({
      nc: this.o.link.nc,
      intervalMs: this.o.heartbeatMs ?? 1_000,
      build: () => this.heartbeatBody(),
    });
    this.heartbeat.start();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.heartbeat?.stop();
    await this.follower?.stop();
    await this.queue.settled();
    await this.durable.settled();
    await this.supervisor?.close();
  }

  /** What both follows use of this replica. */
  private context(): ReplicaContext {
    return {
      link: this.o.link,
      catalog: this.o.catalog,
      views: this.views,
      region: this.region,
      node: this.node,
      layout: this.layout,
      hooks: this.o.hooks,
      signal: this.stopping.signal,
      keeps: (c) => this.keeps(c),
      applyDefinition: (def) => this.applyDefinition(def),
      awaitDefinition: (c, g) => this.awaitDefinition(c, g),
      enqueue: (m) => this.queue.enqueue(m),
      firstTries: (c) => this.queue.firstTries(c),
      applyWal: (entries) => this.applyWal(entries),
      walStored: () => {
        this.stored('wal');
        this.positionChanged();
      },
      positionChanged: () => this.positionChanged(),
      markDurable: (seq) => this.durable.markDurable(seq),
      walFailed: (err, fields) => this.failed('wal', 'WAL follower error', err, fields),
      log: (msg, fields) => this.log(msg, fields),
    };
  }

  /**
   * Why this node cannot store what it receives, or null while it can: set by a storage
   * error of the WAL log or a segment fetch (a full disk), cleared by the next success.
   */
  get storageError(): string | null {
    return [...this.storage.values()][0] ?? null;
  }

  /** Whether this region holds a collection (its placement includes the region, or is unset). */
  keeps(collection: string): boolean {
    // Views first: this runs for every WAL entry, and the views hold the settings in memory.
    const settings =
      this.views.all().find((s) => s.settings.name === collection)?.settings ??
      this.o.catalog.getCollection(collection);
    return (
      settings !== null && (settings.placement === null || settings.placement.includes(this.region))
    );
  }

  served(collection: string, generation?: string): ServedGeneration | null {
    return generation ? this.views.get(collection, generation) : this.views.active(collection);
  }

  /** Calls `fn` whenever the applied position or a version changes; returns an unsubscribe. */
  onChange(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Resolves when `predicate` holds (checked on every change), or rejects after `timeoutMs`. */
  async waitUntil(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (await until(predicate, { timeoutMs, onChange: (wake) => this.onChange(wake) })) return;
    throw new SyncError(
      'replication_pending',
      `timed out after ${timeoutMs} ms waiting for ${what}`,
      {
        transient: true,
      },
    );
  }

  heartbeatBody(): Heartbeat {
    return {
      region: this.region,
      node: this.node,
      role: this.o.role ?? 'follower',
      appliedSeq: this.announcedSeq(),
      appliedCommitTime: this.appliedCommitTime,
      collections: this.views.states(),
      ...(this.o.url ? { url: this.o.url } : {}),
      ...(this.storageError ? { storageError: this.storageError } : {}),
      time: Date.now(),
      intervalMs: this.o.heartbeatMs ?? 1_000,
    };
  }

  /** Announces the applied position now (the primary does after each write it applies). */
  announce(): void {
    this.heartbeat?.announce(this.region, this.node, this.announcedSeq());
    this.notify();
  }

  /** Publishes a heartbeat now (tests, and right after a state change worth telling). */
  beat(): void {
    this.heartbeat?.beat();
  }

  /**
   * The position this node tells others (heartbeats, applied notices that `semi-sync` and
   * `sync` acks count): on a follower, only as far as its WAL log is on disk. Local reads
   * use the applied position, which a process crash cannot take back (decision 0016).
   */
  private announcedSeq(): number {
    return this.o.readSeq?.() ?? Math.min(this.appliedSeq, this.durable.seq);
  }

  /** Applies WAL entries to the served views (also used by the primary for its own writes). */
  applyWal(entries: readonly SeqWalEntry[]): void {
    for (const e of entries) {
      // The primary applied its own writes before acknowledging them: posting them to the
      // view thread again when the WAL brings them back costs a structured clone each.
      if (this.ownWrites.size > 0 && this.ownWrites.delete(e.seq)) continue;
      const served = this.views.get(e.collection, e.generation);
      if (!served) continue;
      if (e.op === 'upsert') served.view.upsert(e.points, e.seq);
      else served.view.delete(e.ids, e.seq);
    }
  }

  /**
   * Applies a write the primary just appended, before its acknowledgement; when the WAL
   * delivers the same seq again it is not applied twice.
   */
  applyOwnWrite(entry: SeqWalEntry): void {
    this.applyWal([entry]);
    // Bounded: were the WAL never to bring some back, a second apply changes nothing.
    if (this.ownWrites.size >= 100_000) this.ownWrites.clear();
    this.ownWrites.add(entry.seq);
  }

  /** Announces a new position once per change, and asks for it to be made durable. */
  private positionChanged(): void {
    const seq = this.appliedSeq;
    // A write the WAL delivered before its own write path applied it stays behind.
    for (const own of this.ownWrites) if (own <= seq) this.ownWrites.delete(own);
    if (seq === this.lastAnnounced) return;
    this.lastAnnounced = seq;
    this.durable.request(seq);
    this.notify();
  }

  /** A manifest of the queue: fetches its definition when unknown; false when not kept here. */
  private async applyManifest(m: Manifest): Promise<boolean> {
    if (!this.views.get(m.collection, m.generation)) {
      const def = await lastCollectionDef(this.o.link.jsm, m.collection);
      if (def) this.applyDefinition(def);
    }
    if (!this.keeps(m.collection)) return false;
    await this.applier.apply(m);
    return true;
  }

  private applyDefinition(def: CollectionDef): void {
    applyCollectionDef(this.o.catalog, this.views, def);
  }

  /**
   * Rebuilds a view whose thread was lost, from what this node has durably applied: the
   * applied manifest, then the local WAL log. Writes applied since come through the WAL as
   * usual. Resolves once this replica's position has reached what it reported when the
   * rebuild started (the primary's includes its own writes, which reach its WAL log
   * through its WAL follower).
   */
  private async rebuild(view: ViewHandle): Promise<void> {
    const served = this.views.byView(view);
    if (!served) return;
    const { name } = served.settings;
    const { model } = served.generation;
    const target = this.o.readSeq?.() ?? this.appliedSeq;
    // A primary's own writes posted to the lost thread must come again from the WAL, not
    // be skipped as already applied (review of issue 12): forget them all; a second
    // apply of a write changes nothing.
    this.ownWrites.clear();
    const m = this.o.catalog.appliedManifest(name, model);
    if (m) await this.applier.reinstall(served, m);
    for (const row of this.o.catalog.walEntriesAfter(name, model, m?.coversSeq ?? 0)) {
      const e = decodeWalEntry(row.payload);
      if (e.op === 'upsert') view.upsert(e.points, row.seq);
      else view.delete(e.ids, row.seq);
    }
    await this.waitUntil(() => this.appliedSeq >= target, 60_000, 'the rebuilt view');
  }

  /**
   * Waits until this replica knows a collection generation (its definition arrived on
   * CATALOG, or is fetched from it), polling with backoff. Regression: it used to return
   * when the definition was not there yet, and the WAL entries of a collection whose
   * definition lagged behind (a leaf region's CATALOG mirror behind its WAL mirror) were
   * skipped while the position moved past them.
   */
  private async awaitDefinition(collection: string, generation: string): Promise<void> {
    const backoff = new Backoff({ firstMs: 50, maxMs: 1_000 });
    for (;;) {
      if (this.views.get(collection, generation)) return;
      const def = await lastCollectionDef(this.o.link.jsm, collection);
      if (def) this.applyDefinition(def);
      if (this.views.get(collection, generation)) return;
      this.assertRunning();
      // A placed-elsewhere collection still gets its definition (and views) here; only a
      // definition that has not arrived yet keeps us waiting.
      await backoff.wait(this.stopping.signal);
    }
  }

  /** Reports an error; a storage error marks the node unhealthy until the next success there. */
  private failed(where: StorageSite, what: string, err: unknown, fields = {}): void {
    if (isStorageError(err)) {
      const message = `cannot store data (${what}): ${errorMessage(err)}`;
      if (!this.storage.has(where))
        this.log('storage error: this node is not ready', { err: message });
      this.storage.set(where, message);
      this.o.onStorageError?.(err);
      this.heartbeat?.beat();
    }
    this.log(what, { ...fields, err: errorMessage(err) });
  }

  private stored(where: StorageSite): void {
    if (!this.storage.delete(where)) return;
    this.log('storage recovered: this node stores data again', { where });
    this.heartbeat?.beat();
  }

  /** A manifest was applied or failed: heartbeat at once, and wake waiters. */
  private changed(): void {
    this.heartbeat?.beat();
    this.notify();
  }

  private assertRunning(): void {
    if (this.stopping.signal.aborted) throw stoppedError();
  }

  private notify(): void {
    for (const fn of [...this.listeners]) fn();
  }

  private log(msg: string, fields?: Record<string, unknown>): void {
    this.o.log?.(msg, { region: this.region, node: this.node, ...fields });
  }
}
