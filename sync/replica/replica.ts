import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ViewHandle, ViewHost } from '../../index/index.ts';
import type { Catalog, Manifest } from '../../catalog/index.ts';
import { until } from '../../lib/wait.ts';
import { SyncError, errorMessage } from '../errors.ts';
import { hubLayout } from '../layout.ts';
import type { StreamLayout } from '../layout.ts';
import { ensureCollectionMirrors } from '../mirrors.ts';
import { assertSubjectToken } from '../subjects.ts';
import type { SeqWalEntry } from '../wal-codec.ts';
import { Definitions } from './definitions.ts';
import { DurablePosition } from './durable-position.ts';
import { stoppedError } from './follow.ts';
import type { Follow, Position, ReplicaContext } from './follow.ts';
import { HeartbeatPublisher } from './heartbeat.ts';
import { HubFollow } from './hub-follow.ts';
import { ManifestApplier } from './manifest-applier.ts';
import { ManifestQueue } from './manifest-queue.ts';
import type { ReplicaOptions } from './options.ts';
import { PlacedFollow } from './placed-follow.ts';
import { restoreView } from './restore.ts';
import { StorageHealth } from './storage-health.ts';
import { ViewSupervisor } from './view-supervisor.ts';
import { ViewWrites } from './view-writes.ts';
import { ServedViews } from './views.ts';
import type { ServedGeneration } from './views.ts';

export type { ReplicaOptions };

type Listener = () => void;

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
  private readonly writes: ViewWrites;
  private readonly definitions: Definitions;
  private readonly health: StorageHealth;
  private readonly listeners = new Set<Listener>();

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
    this.writes = new ViewWrites(this.views);
    this.definitions = new Definitions({
      link: opts.link,
      catalog: opts.catalog,
      views: this.views,
      signal,
    });
    this.health = new StorageHealth({
      log: (msg, fields) => this.log(msg, fields),
      ...(opts.onStorageError ? { onStorageError: opts.onStorageError } : {}),
      onChange: () => this.heartbeat?.beat(),
    });
    this.queue = new ManifestQueue({
      apply: (m) => this.applyManifest(m),
      onApplied: () => {
        this.health.stored('manifest');
        this.changed();
      },
      onFailed: (m, err) => {
        const served = this.views.get(m.collection, m.generation);
        const at = new Date().toISOString();
        if (served) served.error = { version: m.version, message: errorMessage(err), at };
        this.health.failed('manifest', 'manifest apply failed', err, {
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
        if (!opts.readSeq) this.heartbeat?.announce(this.announcedSeq());
      },
      onError: (err) => this.health.failed('wal', 'WAL log fsync failed', err),
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
   * Loads what the data directory says this node applied into every view (see
   * {@link restoreView}). Touches no stream but SEGMENTS.
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
    let last = 0;
    for (const settings of catalog.listCollections()) {
      for (const g of catalog.listGenerations(settings.name)) {
        const served = this.views.ensure(settings, g);
        last = Math.max(last, await restoreView(catalog, this.applier, served));
      }
    }
    this.recovered = { seq: last, commitTime: 0 };
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
      region: this.region,
      node: this.node,
      role: this.o.role ?? 'follower',
      intervalMs: this.o.heartbeatMs ?? 1_000,
      ...(this.o.url ? { url: this.o.url } : {}),
      state: () => ({
        appliedSeq: this.announcedSeq(),
        appliedCommitTime: this.appliedCommitTime,
        collections: this.views.states(),
        storageError: this.storageError,
      }),
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
      applyDefinition: (def) => this.definitions.apply(def),
      awaitDefinition: (c, g, seq) => this.definitions.await(c, g, seq),
      enqueue: (m) => this.queue.enqueue(m),
      firstTries: (c) => this.queue.firstTries(c),
      applyWal: (entries) => this.applyWal(entries),
      walStored: () => {
        this.health.stored('wal');
        this.positionChanged();
      },
      positionChanged: () => this.positionChanged(),
      markDurable: (seq) => this.durable.markDurable(seq),
      walFailed: (err, fields) => this.health.failed('wal', 'WAL follower error', err, fields),
      log: (msg, fields) => this.log(msg, fields),
    };
  }

  /**
   * Why this node cannot store what it receives, or null while it can: set by a storage
   * error of the WAL log or a segment fetch (a full disk), cleared by the next success.
   */
  get storageError(): string | null {
    return this.health.error;
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

  /** Segment bytes this replica fetched since it started. */
  get segmentBytesFetched(): number {
    return this.applier.bytesFetched;
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

  /** Announces the applied position now (the primary does after each write it applies). */
  announce(): void {
    this.heartbeat?.announce(this.announcedSeq());
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
    this.writes.apply(entries);
    for (const e of entries) {
      if (e.op === 'activate' && e.group) this.followGroup(e.group.members);
    }
  }

  /**
   * A commit group's entry was stored: the catalog flipped every member this node holds
   * with the last of their entries, or none yet. The views follow it, and only forward to
   * the group's generations (a member entry delivered again after a later activation, or
   * before the group is complete, changes nothing).
   */
  private followGroup(members: ReadonlyArray<{ collection: string; generation: string }>): void {
    for (const m of members) {
      const active = this.o.catalog.listGenerations(m.collection).find((g) => g.state === 'active');
      if (active?.model === m.generation) this.views.activate(m.collection, m.generation);
    }
  }

  /**
   * Applies a write the primary just appended, before its acknowledgement; when the WAL
   * delivers the same seq again it is not applied twice.
   */
  applyOwnWrite(entry: SeqWalEntry): void {
    this.writes.applyOwn(entry);
  }

  /** Announces a new position once per change, and asks for it to be made durable. */
  private positionChanged(): void {
    const seq = this.appliedSeq;
    this.writes.passed(seq);
    if (seq === this.lastAnnounced) return;
    this.lastAnnounced = seq;
    this.durable.request(seq);
    this.notify();
  }

  /** A manifest of the queue: fetches its definition when unknown; false when not kept here. */
  private async applyManifest(m: Manifest): Promise<boolean> {
    // A manifest of a generation dropped since is not applied (its segments are garbage).
    const found = await this.definitions.lookup(m.collection, m.generation, m.coversSeq);
    if (found === 'dropped' || !this.keeps(m.collection)) return false;
    await this.applier.apply(m);
    return true;
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
    const target = this.o.readSeq?.() ?? this.appliedSeq;
    this.writes.forgetOwn();
    await restoreView(this.o.catalog, this.applier, served);
    await this.waitUntil(() => this.appliedSeq >= target, 60_000, 'the rebuilt view');
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
