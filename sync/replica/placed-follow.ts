import type { Subscription } from 'nats';
import { errorMessage } from '../errors.ts';
import { ensureCollectionMirrors } from '../mirrors.ts';
import { Streams, Subjects } from '../subjects.ts';
import type { CollectionDef, PrimaryBeacon } from '../types.ts';
import { Backoff } from '../../lib/wait.ts';
import { CatalogFollower } from './catalog-follower.ts';
import { assertRunning, dataFloor } from './follow.ts';
import type { Follow, Position, ReplicaContext } from './follow.ts';
import { PlacedPosition } from './placed-position.ts';
import { WalFollower } from './wal-follower.ts';

interface CollectionFollowers {
  catalog: CatalogFollower;
  wal: WalFollower;
}

/**
 * Follows a leaf region's streams (ADR 0011, decision 0018): the region's mirror of every
 * collection definition; for each collection placed here, the region's mirrors of that
 * collection's manifests and WAL entries. The primary's beacons close the position over
 * the gaps other regions' collections leave in the WAL.
 */
export class PlacedFollow implements Follow {
  private readonly placed = new PlacedPosition(0);
  private definitions: CatalogFollower | null = null;
  private readonly collections = new Map<string, Promise<CollectionFollowers | null>>();
  private beaconSub: Subscription | null = null;
  private started = false;

  constructor(private readonly ctx: ReplicaContext) {}

  position(): Position {
    return { seq: this.placed.seq, commitTime: this.placed.commitTime };
  }

  get caughtUp(): boolean {
    return this.started;
  }

  async start(): Promise<void> {
    const { ctx, placed } = this;
    for (const s of ctx.catalog.listCollections()) {
      if (ctx.keeps(s.name)) placed.hold(s.name, dataFloor(ctx, s.name));
      else placed.exclude(s.name);
    }
    const onBeacon = (b: PrimaryBeacon) => {
      placed.observe(b);
      ctx.positionChanged();
    };
    this.beaconSub = ctx.link.nc.subscribe(Subjects.primaryState, {
      callback: (_e, m) => {
        try {
          onBeacon(JSON.parse(Buffer.from(m.data).toString('utf8')) as PrimaryBeacon);
        } catch (err) {
          ctx.log('bad primary beacon', { err: String(err) });
        }
      },
    });
    const last = await ctx.link.jsm.streams
      .getMessage(Streams.state, { last_by_subj: Subjects.primaryState })
      .catch(() => null);
    assertRunning(ctx);
    if (last) onBeacon(JSON.parse(Buffer.from(last.data).toString('utf8')) as PrimaryBeacon);

    this.definitions = new CatalogFollower({
      js: ctx.link.js,
      jsm: ctx.link.jsm,
      stream: ctx.layout.definitions,
      onDefinition: (def) => {
        ctx.applyDefinition(def);
        this.place(def);
      },
      // The region's CATALOG mirror holds definitions only; manifests come per collection.
      onManifest: () => undefined,
      onError: (err) => ctx.log('catalog follower error', { err: String(err) }),
    });
    await this.definitions.start();
    await this.definitions.initialSync;
    assertRunning(ctx);
    for (const s of ctx.catalog.listCollections()) {
      if (ctx.keeps(s.name)) this.followCollection(s.name);
    }
    await Promise.all(this.collections.values());
    assertRunning(ctx);
    this.started = true;
  }

  async stop(): Promise<void> {
    this.beaconSub?.unsubscribe();
    await this.definitions?.stop();
    for (const f of this.collections.values()) {
      const started = await f.catch(() => null);
      await started?.catalog.stop();
      await started?.wal.stop();
    }
  }

  private place(def: CollectionDef): void {
    const name = def.settings.name;
    if (this.ctx.keeps(name)) {
      this.placed.hold(name, dataFloor(this.ctx, name));
      this.followCollection(name);
    } else {
      this.placed.exclude(name);
    }
    this.ctx.positionChanged();
  }

  /** Starts following one placed collection (once); retried with backoff until it starts. */
  private followCollection(collection: string): void {
    const { ctx } = this;
    if (this.collections.has(collection) || ctx.signal.aborted) return;
    const start = async () => {
      const backoff = new Backoff({ firstMs: 200, maxMs: 5_000 });
      while (!ctx.signal.aborted) {
        try {
          return await this.startCollection(collection);
        } catch (err) {
          ctx.log('cannot follow collection', { collection, err: errorMessage(err) });
          await backoff.wait(ctx.signal);
        }
      }
      return null;
    };
    this.collections.set(collection, start());
  }

  private async startCollection(collection: string): Promise<CollectionFollowers> {
    const { ctx } = this;
    const { link } = ctx;
    await ensureCollectionMirrors(link.jsm, ctx.layout.hubDomain!, collection);
    const catalog = new CatalogFollower({
      js: link.js,
      jsm: link.jsm,
      stream: ctx.layout.manifests(collection),
      onDefinition: (def) => ctx.applyDefinition(def),
      onManifest: (m) => ctx.enqueue(m),
      onError: (err) => ctx.log('catalog follower error', { collection, err: String(err) }),
    });
    await catalog.start();
    await catalog.initialSync;
    await ctx.firstTries(collection);
    const startSeq = dataFloor(ctx, collection) + 1;
    this.placed.hold(collection, startSeq - 1);
    const wal = new WalFollower({
      js: link.js,
      jsm: link.jsm,
      catalog: ctx.catalog,
      stream: ctx.layout.wal(collection),
      legacyDurable: `replica_${ctx.region}_${ctx.node}__${collection}`,
      startSeq,
      apply: (entries) => ctx.applyWal(entries),
      keeps: (collection) => ctx.keeps(collection),
      awaitDefinition: (c, g, seq) => ctx.awaitDefinition(c, g, seq),
      onPosition: (seq) => {
        this.placed.advance(collection, seq);
        ctx.walStored();
        ctx.hooks?.afterWalBatch?.(seq);
      },
      onError: (err) => ctx.walFailed(err, { collection }),
      ...(ctx.hooks?.beforeWalBatch ? { beforeBatch: ctx.hooks.beforeWalBatch } : {}),
    });
    await wal.start();
    if (ctx.signal.aborted) {
      await catalog.stop();
      await wal.stop();
    }
    return { catalog, wal };
  }
}
