import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InlineViewHost, ThreadViewHost } from '../../index/index.ts';
import type { ViewHandle, ViewHost } from '../../index/index.ts';
import type { Catalog, Manifest } from '../../catalog/index.ts';
import { lastCollectionDef } from '../catalog-stream.ts';
import type { NatsLink } from '../connection.ts';
import type { Subscription } from 'nats';
import { SyncError, isStorageError } from '../errors.ts';
import { hubLayout } from '../layout.ts';
import type { StreamLayout } from '../layout.ts';
import { ensureCollectionMirrors } from '../mirrors.ts';
import { Streams, Subjects, assertSubjectToken } from '../subjects.ts';
import type { CollectionDef, Heartbeat, PrimaryBeacon } from '../types.ts';
import { decodeWalEntry } from '../wal-codec.ts';
import type { SeqWalEntry } from '../wal-codec.ts';
import { CatalogFollower } from './catalog-follower.ts';
import { applyCollectionDef } from './collection-def.ts';
import { HeartbeatPublisher } from './heartbeat.ts';
import { ManifestApplier } from './manifest-applier.ts';
import type { AppliedManifest, ApplyHooksOptions } from './manifest-applier.ts';
import { PlacedPosition } from './placed-position.ts';
import { ServedViews } from './views.ts';
import { WalFollower } from './wal-follower.ts';
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

/**
 * A replica of every collection placed in its region: it recovers from its data
 * directory, follows CATALOG (definitions and manifests, applied atomically by the
 * {@link ManifestApplier}) and the WAL (into the memtable, through the local WAL log),
 * and publishes heartbeats. The primary runs one too, for its own region.
 */
export class Replica {
  readonly views = new ServedViews();
  private host: ViewHost | null = null;
  readonly region: string;
  readonly node: string;
  private readonly o: ReplicaOptions;
  private readonly applier: ManifestApplier;
  private readonly segmentsDir: string;
  private catalogFollower: CatalogFollower | null = null;
  private walFollower: WalFollower | null = null;
  private readonly layout: StreamLayout;
  /** Leaf layout: the position, closed over other regions' collections by the primary's beacons. */
  private placed: PlacedPosition | null = null;
  /** Leaf layout: per placed collection, its manifest and WAL followers (once started). */
  private readonly collectionFollowers = new Map<
    string,
    Promise<{ catalog: CatalogFollower; wal: WalFollower } | null>
  >();
  private beaconSub: Subscription | null = null;
  private lastAnnounced = -1;
  /** Seqs the primary's write path applied already (see {@link applyOwnWrite}). */
  private readonly ownWrites = new Set<number>();
  /** The position whose WAL log rows are on disk (fsynced): what acks may count. */
  private durable = 0;
  private syncWanted = 0;
  private syncEpoch = 0;
  private syncing: Promise<void> | null = null;
  private heartbeat: HeartbeatPublisher | null = null;
  private readonly pending = new Map<string, Manifest>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly firstTries = new Map<string, Promise<void>>();
  private readonly listeners = new Set<Listener>();
  /** Pending retry sleeps: stop() wakes them so no drain outlives the replica. */
  private readonly sleepers = new Set<() => void>();
  private position = { seq: 0, commitTime: 0 };
  /** Storage errors by where they happened ('wal', 'manifest'); each cleared by its next success. */
  private readonly storage = new Map<'wal' | 'manifest', string>();
  private walTargetAtStart = Infinity;
  private stopped = false;

  constructor(opts: ReplicaOptions) {
    this.o = opts;
    this.region = assertSubjectToken('region', opts.region);
    this.node = assertSubjectToken('node', opts.node);
    this.segmentsDir = join(opts.dataDir, 'segments');
    this.layout = opts.layout ?? hubLayout;
    this.applier = new ManifestApplier({
      js: opts.link.js,
      catalog: opts.catalog,
      views: this.views,
      segmentsDir: this.segmentsDir,
      layout: this.layout,
      hooks: opts.hooks,
      ...(opts.onManifestApplied ? { onApplied: opts.onManifestApplied } : {}),
      ...(this.layout.hubDomain
        ? {
            beforeRefetch: (c: string) =>
              ensureCollectionMirrors(opts.link.jsm, this.layout.hubDomain!, c),
          }
        : {}),
    });
  }

  /**
   * Highest WAL seq up to which every entry of the collections held here is applied (in
   * the hub region: contiguously, every collection).
   */
  get appliedSeq(): number {
    return this.placed ? this.placed.seq : this.position.seq;
  }
  get appliedCommitTime(): number {
    return this.placed ? this.placed.commitTime : this.position.commitTime;
  }
  /** True once the WAL has been applied up to where it stood when this replica started following it. */
  get caughtUp(): boolean {
    return this.position.seq >= this.walTargetAtStart;
  }

  get catalog(): Catalog {
    return this.o.catalog;
  }

  /**
   * Starts the view host, recovers from disk, then follows CATALOG and the WAL. Resolves
   * once the initial catalog sync is done.
   */
  async start(): Promise<void> {
    await this.recover();
    this.assertRunning();
    await this.follow();
  }

  /** Start-up steps check this after each wait: a stop may come at any moment (SIGTERM). */
  private assertRunning(): void {
    if (this.stopped) throw new SyncError('stopped', 'replica stopped', { transient: true });
  }

  /** Where this replica's views live: its view threads, or its event loop (decision 0013). */
  get viewHost(): ViewHost | null {
    return this.host;
  }

  private startViewHost(): void {
    const size = this.o.searchThreads ?? 0;
    const scratchDir = join(this.o.dataDir, 'view-scratch');
    this.host =
      size > 0
        ? new ThreadViewHost(size, {
            scratchDir,
            onLost: (err, restartInMs) =>
              this.log('view thread lost; its views refuse searches until rebuilt', {
                error: err.message,
                restartInMs,
              }),
            onRebound: (views) => {
              for (const v of views) void this.rebuild(v);
            },
          })
        : new InlineViewHost({ scratchDir });
    this.views.useHost(this.host);
  }

  /**
   * Rebuilds a view whose thread was lost, from what this node has durably applied: the
   * applied manifest, then the local WAL log. Writes applied since come through the WAL as
   * usual. The view answers again once this replica's position has reached what it
   * reported when the rebuild started (the primary's includes its own writes, which reach
   * its WAL log through its WAL follower). Retries with backoff until it succeeds or the
   * replica stops.
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
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const m = this.o.catalog.appliedManifest(name, model);
        if (m) await this.applier.reinstall(served, m);
        for (const row of this.o.catalog.walEntriesAfter(name, model, m?.coversSeq ?? 0)) {
          const e = decodeWalEntry(row.payload);
          if (e.op === 'upsert') view.upsert(e.points, row.seq);
          else view.delete(e.ids, row.seq);
        }
        await this.waitUntil(() => this.appliedSeq >= target, 60_000, 'the rebuilt view');
        view.markAvailable();
        this.log('view rebuilt', { collection: name, generation: model });
        return;
      } catch (err) {
        this.log('view rebuild failed; retrying', { collection: name, err: errorMessage(err) });
        await this.sleep(Math.min(5_000, 200 * 2 ** attempt));
      }
    }
  }

  /**
   * Follows CATALOG (the newest manifest of each generation first, then each new one)
   * and, once that initial sync is applied, the WAL from where this node's data stops.
   */
  async follow(): Promise<void> {
    if (this.layout.kind === 'leaf') return this.followPlaced();
    this.catalogFollower = new CatalogFollower({
      js: this.o.link.js,
      jsm: this.o.link.jsm,
      onDefinition: (def) => applyCollectionDef(this.o.catalog, this.views, def),
      onManifest: (m) => this.enqueue(m),
      onError: (err) => this.log('catalog follower error', { err: String(err) }),
    });
    await this.catalogFollower.start();
    await this.catalogFollower.initialSync;
    // Each manifest of the initial sync is tried once before the WAL starts (a failing one
    // keeps retrying in the background; the replica serves its last good version meanwhile).
    await Promise.all(this.firstTries.values());
    this.assertRunning();

    const wal = await this.o.link.jsm.streams.info(Streams.wal);
    this.assertRunning();
    this.walTargetAtStart = wal.state.last_seq;
    const stored = this.o.catalog.storedWalSeq();
    const covers = this.views.all().map((s) => s.view.coversSeq);
    const floor = covers.length ? Math.min(...covers) : 0;
    const startSeq = Math.max(stored, floor) + 1;
    this.position = { seq: startSeq - 1, commitTime: this.position.commitTime };
    // What an earlier process stored may not have reached the disk yet (decision 0016).
    await this.o.catalog.syncWalLog();
    this.durable = this.appliedSeq;
    this.walFollower = new WalFollower({
      js: this.o.link.js,
      jsm: this.o.link.jsm,
      catalog: this.o.catalog,
      contiguous: true,
      legacyDurable: `replica_${this.region}_${this.node}`,
      startSeq,
      apply: (entries) => this.applyWal(entries),
      keeps: (e) => this.keeps(e.collection),
      awaitDefinition: (c, g) => this.awaitDefinition(c, g),
      onPosition: (seq, commitTime) => {
        this.stored('wal');
        this.position = { seq, commitTime };
        // A write the WAL delivered before its own write path applied it stays behind.
        for (const own of this.ownWrites) if (own <= seq) this.ownWrites.delete(own);
        this.requestDurable(seq);
        this.notify();
      },
      onError: (err) => this.failed('wal', 'WAL follower error', err),
      ...(this.o.hooks?.beforeWalBatch ? { beforeBatch: this.o.hooks.beforeWalBatch } : {}),
    });
    await this.walFollower.start();
    this.assertRunning();
    this.heartbeat = new HeartbeatPublisher({
      nc: this.o.link.nc,
      intervalMs: this.o.heartbeatMs ?? 1_000,
      build: () => this.heartbeatBody(),
    });
    this.heartbeat.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of [...this.sleepers]) wake();
    this.heartbeat?.stop();
    this.beaconSub?.unsubscribe();
    await this.catalogFollower?.stop();
    await this.walFollower?.stop();
    for (const f of this.collectionFollowers.values()) {
      const started = await f.catch(() => null);
      await started?.catalog.stop();
      await started?.wal.stop();
    }
    await Promise.allSettled(this.running.values());
    await this.syncing;
    this.views.stop();
    await this.host?.close();
  }

  /**
   * Why this node cannot store what it receives, or null while it can: set by a storage
   * error of the WAL log or a segment fetch (a full disk), cleared by the next success.
   */
  get storageError(): string | null {
    return [...this.storage.values()][0] ?? null;
  }

  /** Reports an error; a storage error marks the node unhealthy until the next success there. */
  private failed(
    where: 'wal' | 'manifest',
    what: string,
    err: unknown,
    fields: Record<string, unknown> = {},
  ): void {
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

  private stored(where: 'wal' | 'manifest'): void {
    if (!this.storage.delete(where)) return;
    this.log('storage recovered: this node stores data again', { where });
    this.heartbeat?.beat();
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
  waitUntil(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const off = this.onChange(() => {
        if (predicate()) {
          clearTimeout(timer);
          off();
          resolve();
        }
      });
      const timer = setTimeout(() => {
        off();
        reject(
          new SyncError(
            'replication_pending',
            `timed out after ${timeoutMs} ms waiting for ${what}`,
            { transient: true },
          ),
        );
      }, timeoutMs);
    });
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

  /**
   * The position this node tells others (heartbeats, applied notices that `semi-sync` and
   * `sync` acks count): on a follower, only as far as its WAL log is on disk. Local reads
   * use the applied position, which a process crash cannot take back (decision 0016).
   */
  private announcedSeq(): number {
    return this.o.readSeq?.() ?? Math.min(this.appliedSeq, this.durable);
  }

  /**
   * Asks for the WAL log to be fsynced up to `seq`, off the event loop; one sync runs at a
   * time and covers every commit made before it started. Announces each new durable
   * position.
   */
  private requestDurable(seq: number): void {
    // In a leaf region the position can step back (a collection placed here later starts
    // lower): rows stored on the way up again are not synced yet, and a sync already under
    // way must not count for them (review of issue 12).
    if (seq < this.syncWanted) {
      this.syncEpoch++;
      this.durable = Math.min(this.durable, seq);
    }
    this.syncWanted = seq;
    this.syncing ??= this.syncLoop().finally(() => {
      this.syncing = null;
      // A request that came after the loop's last check starts it again.
      if (!this.stopped && this.syncWanted > this.durable) this.requestDurable(this.syncWanted);
    });
  }

  private async syncLoop(): Promise<void> {
    while (!this.stopped && this.syncWanted > this.durable) {
      const target = this.syncWanted;
      const epoch = this.syncEpoch;
      try {
        await this.o.catalog.syncWalLog();
      } catch (err) {
        this.failed('wal', 'WAL log fsync failed', err);
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      if (epoch !== this.syncEpoch) continue; // the position stepped back meanwhile
      this.durable = Math.max(this.durable, target);
      // A primary announces its commit position after each write already.
      if (!this.o.readSeq) this.heartbeat?.announce(this.region, this.node, this.announcedSeq());
    }
  }

  /** Publishes a heartbeat now (tests, and right after a state change worth telling). */
  beat(): void {
    this.heartbeat?.beat();
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

  /**
   * Loads what the data directory says this node applied: each generation's applied
   * manifest, its segments (verified; refetched when missing or bad), then the local WAL
   * log into the memtables. Touches no stream but SEGMENTS.
   */
  async recover(): Promise<void> {
    if (!this.host) this.startViewHost();
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
    if (last) this.position = { seq: last.seq, commitTime: 0 };
  }

  /**
   * Leaf layout (ADR 0011): follows the region's mirror of every collection definition;
   * for each collection placed here it sets up the region's mirrors of that collection and
   * follows its manifests and WAL entries; the primary's beacons close the position over
   * the gaps other regions' collections leave in the WAL.
   */
  private async followPlaced(): Promise<void> {
    const placed = new PlacedPosition(0);
    this.placed = placed;
    for (const s of this.o.catalog.listCollections()) {
      if (this.keeps(s.name)) placed.hold(s.name, this.placedFloor(s.name));
      else placed.exclude(s.name);
    }
    const onBeacon = (b: PrimaryBeacon) => {
      placed.observe(b);
      this.positionChanged();
    };
    this.beaconSub = this.o.link.nc.subscribe(Subjects.primaryState, {
      callback: (_e, m) => {
        try {
          onBeacon(JSON.parse(Buffer.from(m.data).toString('utf8')) as PrimaryBeacon);
        } catch (err) {
          this.log('bad primary beacon', { err: String(err) });
        }
      },
    });
    const last = await this.o.link.jsm.streams
      .getMessage(Streams.state, { last_by_subj: Subjects.primaryState })
      .catch(() => null);
    this.assertRunning();
    if (last) onBeacon(JSON.parse(Buffer.from(last.data).toString('utf8')) as PrimaryBeacon);

    this.catalogFollower = new CatalogFollower({
      js: this.o.link.js,
      jsm: this.o.link.jsm,
      stream: this.layout.definitions,
      onDefinition: async (def) => {
        await applyCollectionDef(this.o.catalog, this.views, def);
        this.placeDefinition(def);
      },
      // The region's CATALOG mirror holds definitions only; manifests come per collection.
      onManifest: () => undefined,
      onError: (err) => this.log('catalog follower error', { err: String(err) }),
    });
    await this.catalogFollower.start();
    await this.catalogFollower.initialSync;
    this.assertRunning();
    for (const s of this.o.catalog.listCollections()) {
      if (this.keeps(s.name)) this.followCollection(s.name);
    }
    await Promise.all(this.collectionFollowers.values());
    this.assertRunning();
    this.walTargetAtStart = 0;
    this.heartbeat = new HeartbeatPublisher({
      nc: this.o.link.nc,
      intervalMs: this.o.heartbeatMs ?? 1_000,
      build: () => this.heartbeatBody(),
    });
    this.heartbeat.start();
  }

  private placeDefinition(def: CollectionDef): void {
    const name = def.settings.name;
    if (this.keeps(name)) {
      this.placed?.hold(name, this.placedFloor(name));
      this.followCollection(name);
    } else {
      this.placed?.exclude(name);
    }
    this.positionChanged();
  }

  /** How far this node's data dir has every WAL entry of `collection`. */
  private placedFloor(collection: string): number {
    const covers = this.views
      .all()
      .filter((s) => s.settings.name === collection)
      .map((s) => s.view.coversSeq);
    const floor = covers.length ? Math.min(...covers) : 0;
    return Math.max(this.o.catalog.storedWalSeq(collection), floor);
  }

  /** Starts following one placed collection (once); retried with backoff until it starts. */
  private followCollection(collection: string): void {
    if (this.collectionFollowers.has(collection) || this.stopped) return;
    const start = async () => {
      for (let attempt = 0; !this.stopped; attempt++) {
        try {
          return await this.startCollectionFollowers(collection);
        } catch (err) {
          this.log('cannot follow collection', { collection, err: errorMessage(err) });
          await this.sleep(Math.min(5_000, 200 * 2 ** attempt));
        }
      }
      return null;
    };
    this.collectionFollowers.set(collection, start());
  }

  private async startCollectionFollowers(
    collection: string,
  ): Promise<{ catalog: CatalogFollower; wal: WalFollower }> {
    const { link } = this.o;
    await ensureCollectionMirrors(link.jsm, this.layout.hubDomain!, collection);
    const catalog = new CatalogFollower({
      js: link.js,
      jsm: link.jsm,
      stream: this.layout.manifests(collection),
      onDefinition: (def) => applyCollectionDef(this.o.catalog, this.views, def),
      onManifest: (m) => this.enqueue(m),
      onError: (err) => this.log('catalog follower error', { collection, err: String(err) }),
    });
    await catalog.start();
    await catalog.initialSync;
    const prefix = `${collection}\u0000`;
    await Promise.all([...this.firstTries].filter(([k]) => k.startsWith(prefix)).map(([, p]) => p));
    const startSeq = this.placedFloor(collection) + 1;
    this.placed?.hold(collection, startSeq - 1);
    const wal = new WalFollower({
      js: link.js,
      jsm: link.jsm,
      catalog: this.o.catalog,
      stream: this.layout.wal(collection),
      legacyDurable: `replica_${this.region}_${this.node}__${collection}`,
      startSeq,
      apply: (entries) => this.applyWal(entries),
      keeps: (e) => this.keeps(e.collection),
      awaitDefinition: (c, g) => this.awaitDefinition(c, g),
      onPosition: (seq) => {
        this.stored('wal');
        this.placed?.advance(collection, seq);
        this.positionChanged();
      },
      onError: (err) => this.failed('wal', 'WAL follower error', err, { collection }),
      ...(this.o.hooks?.beforeWalBatch ? { beforeBatch: this.o.hooks.beforeWalBatch } : {}),
    });
    await wal.start();
    if (this.stopped) {
      await catalog.stop();
      await wal.stop();
    }
    return { catalog, wal };
  }

  /** Announces a new position (leaf layout), once per change. */
  private positionChanged(): void {
    const seq = this.appliedSeq;
    if (seq === this.lastAnnounced) return;
    this.lastAnnounced = seq;
    this.requestDurable(seq);
    this.notify();
  }

  private enqueue(m: Manifest): void {
    const key = `${m.collection}\u0000${m.generation}`;
    const cur = this.pending.get(key);
    if (!cur || cur.version < m.version) this.pending.set(key, m);
    if (!this.running.has(key)) {
      let tried: () => void = () => undefined;
      this.firstTries.set(key, new Promise<void>((r) => (tried = r)));
      const run = this.drain(key, tried).finally(() => {
        tried();
        this.running.delete(key);
      });
      this.running.set(key, run);
    }
  }

  /** Applies the newest pending manifest of one collection generation; retries with backoff. */
  private async drain(key: string, tried: () => void): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      const m = this.pending.get(key);
      if (!m) return;
      try {
        if (!this.views.get(m.collection, m.generation)) {
          const def = await lastCollectionDef(this.o.link.jsm, m.collection);
          if (def) applyCollectionDef(this.o.catalog, this.views, def);
        }
        if (!this.keeps(m.collection)) {
          this.pending.delete(key);
          return;
        }
        await this.applier.apply(m);
        this.stored('manifest');
        if (this.pending.get(key) === m) this.pending.delete(key);
        attempt = 0;
        tried();
        this.heartbeat?.beat();
        this.notify();
      } catch (err) {
        const served = this.views.get(m.collection, m.generation);
        if (served)
          served.error = {
            version: m.version,
            message: errorMessage(err),
            at: new Date().toISOString(),
          };
        this.failed('manifest', 'manifest apply failed', err, {
          collection: m.collection,
          version: m.version,
        });
        tried();
        this.heartbeat?.beat();
        this.notify();
        const delay = Math.min(5_000, (this.o.retryMs ?? 200) * 2 ** attempt);
        attempt++;
        await this.sleep(delay);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(t);
        this.sleepers.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  /**
   * Waits until this replica knows a collection generation (its definition arrived on
   * CATALOG, or is fetched from it), polling with backoff. Regression: it used to return
   * when the definition was not there yet, and the WAL entries of a collection whose
   * definition lagged behind (a leaf region's CATALOG mirror behind its WAL mirror) were
   * skipped while the position moved past them.
   */
  private async awaitDefinition(collection: string, generation: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.views.get(collection, generation)) return;
      const def = await lastCollectionDef(this.o.link.jsm, collection);
      if (def) applyCollectionDef(this.o.catalog, this.views, def);
      if (this.views.get(collection, generation)) return;
      if (this.stopped) throw new SyncError('stopped', 'replica stopped', { transient: true });
      // A placed-elsewhere collection still gets its definition (and views) here; only a
      // definition that has not arrived yet keeps us waiting.
      await this.sleep(Math.min(1_000, 50 * 2 ** attempt));
    }
  }

  private notify(): void {
    for (const fn of [...this.listeners]) fn();
  }

  private log(msg: string, fields?: Record<string, unknown>): void {
    this.o.log?.(msg, { region: this.region, node: this.node, ...fields });
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
