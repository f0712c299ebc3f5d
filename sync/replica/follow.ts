import type { Catalog, Manifest } from '../../catalog/index.ts';
import type { NatsLink } from '../connection.ts';
import { SyncError } from '../errors.ts';
import type { StreamLayout } from '../layout.ts';
import type { CollectionDef } from '../types.ts';
import type { SeqWalEntry } from '../wal-codec.ts';
import type { ApplyHooksOptions } from './manifest-applier.ts';
import type { ServedViews } from './views.ts';

/** A WAL position: the highest seq applied contiguously, and its entry's commit time. */
export interface Position {
  seq: number;
  commitTime: number;
}

/**
 * One way of following the hub's streams into a replica (decision 0018): the hub's
 * single CATALOG and WAL ({@link HubFollow}), or a leaf region's per-collection mirrors of
 * the collections placed there ({@link PlacedFollow}). A replica runs exactly one.
 */
export interface Follow {
  /**
   * Follows the catalog, applies the initial sync's manifests (each tried once), then
   * follows the WAL from where this node's data stops. Rejects with `stopped` when
   * {@link ReplicaContext.signal} aborts meanwhile.
   */
  start(): Promise<void>;
  /** Stops every consumer it started; safe at any moment, start-up included. */
  stop(): Promise<void>;
  /** Highest WAL seq up to which every entry of the collections held here is applied. */
  position(): Position;
  /** True once the WAL has been applied up to where it stood when following started. */
  readonly caughtUp: boolean;
}

/** What a {@link Follow} uses of its replica: one object, so both follows share it. */
export interface ReplicaContext {
  readonly link: NatsLink;
  readonly catalog: Catalog;
  readonly views: ServedViews;
  readonly region: string;
  readonly node: string;
  readonly layout: StreamLayout;
  readonly hooks: ApplyHooksOptions | undefined;
  /** Aborted when the replica stops. */
  readonly signal: AbortSignal;
  /** Whether this region holds a collection. */
  keeps(collection: string): boolean;
  applyDefinition(def: CollectionDef): void;
  /**
   * Resolves true once the collection generation's definition is known here, false when
   * it was dropped before `seq` (see WalFollower).
   */
  awaitDefinition(collection: string, generation: string, seq: number): Promise<boolean>;
  /** Queues a manifest for the manifest queue. */
  enqueue(m: Manifest): void;
  /** Resolves once every manifest queued so far (of one collection) has been tried once. */
  firstTries(collection?: string): Promise<void>;
  applyWal(entries: readonly SeqWalEntry[]): void;
  /** The WAL log stored a batch: a storage error there is over, and the position moved. */
  walStored(): void;
  /** The position may have moved (a beacon, a placement change): announce it if it did. */
  positionChanged(): void;
  /** Everything up to `seq` is on disk (the start-up fsync of what an earlier process stored). */
  markDurable(seq: number): void;
  /** Reports an error of the WAL log (a storage error marks the node unhealthy). */
  walFailed(err: unknown, fields?: Record<string, unknown>): void;
  log(msg: string, fields?: Record<string, unknown>): void;
}

/**
 * How far this node's data directory holds every WAL entry (of one collection, or of all):
 * the higher of its WAL log's last stored seq and the lowest seq its views' segments cover.
 */
export function dataFloor(ctx: ReplicaContext, collection?: string): number {
  const covers = ctx.views
    .all()
    .filter((s) => collection === undefined || s.settings.name === collection)
    .map((s) => s.view.coversSeq);
  const floor = covers.length ? Math.min(...covers) : 0;
  return Math.max(ctx.catalog.storedWalSeq(collection), floor);
}

/** Throws `stopped` once the replica stops: start-up steps check it after each wait. */
export function assertRunning(ctx: ReplicaContext): void {
  if (ctx.signal.aborted) throw stoppedError();
}

export function stoppedError(): Error {
  return new SyncError('stopped', 'replica stopped', { transient: true });
}
