import { Streams } from '../subjects.ts';
import { CatalogFollower } from './catalog-follower.ts';
import { assertRunning, dataFloor } from './follow.ts';
import type { Follow, Position, ReplicaContext } from './follow.ts';
import { WalFollower } from './wal-follower.ts';

/**
 * Follows the hub's streams (decision 0018): CATALOG (the newest manifest of each
 * generation first, then each new one) and, once that initial sync is applied, the whole
 * WAL from where this node's data stops, contiguously.
 */
export class HubFollow implements Follow {
  private catalogFollower: CatalogFollower | null = null;
  private walFollower: WalFollower | null = null;
  private walTargetAtStart = Infinity;
  private at: Position;

  /** `recovered`: the position the data directory's WAL log reached (see Replica.recover). */
  constructor(
    private readonly ctx: ReplicaContext,
    recovered: Position,
  ) {
    this.at = recovered;
  }

  position(): Position {
    return this.at;
  }

  get caughtUp(): boolean {
    return this.at.seq >= this.walTargetAtStart;
  }

  async start(): Promise<void> {
    const { ctx } = this;
    const { link, catalog } = ctx;
    this.catalogFollower = new CatalogFollower({
      js: link.js,
      jsm: link.jsm,
      onDefinition: (def) => ctx.applyDefinition(def),
      onManifest: (m) => ctx.enqueue(m),
      onError: (err) => ctx.log('catalog follower error', { err: String(err) }),
    });
    await this.catalogFollower.start();
    await this.catalogFollower.initialSync;
    // Each manifest of the initial sync is tried once before the WAL starts (a failing one
    // keeps retrying in the background; the replica serves its last good version meanwhile).
    await ctx.firstTries();
    assertRunning(ctx);

    const wal = await link.jsm.streams.info(Streams.wal);
    assertRunning(ctx);
    this.walTargetAtStart = wal.state.last_seq;
    const startSeq = dataFloor(ctx) + 1;
    this.at = { seq: startSeq - 1, commitTime: this.at.commitTime };
    // What an earlier process stored may not have reached the disk yet (decision 0016).
    await catalog.syncWalLog();
    ctx.markDurable(this.at.seq);
    this.walFollower = new WalFollower({
      js: link.js,
      jsm: link.jsm,
      catalog,
      contiguous: true,
      legacyDurable: `replica_${ctx.region}_${ctx.node}`,
      startSeq,
      apply: (entries) => ctx.applyWal(entries),
      keeps: (collection) => ctx.keeps(collection),
      awaitDefinition: (c, g, seq) => ctx.awaitDefinition(c, g, seq),
      onPosition: (seq, commitTime) => {
        this.at = { seq, commitTime };
        ctx.walStored();
        ctx.hooks?.afterWalBatch?.(seq);
      },
      onError: (err) => ctx.walFailed(err),
      ...(ctx.hooks?.beforeWalBatch ? { beforeBatch: ctx.hooks.beforeWalBatch } : {}),
    });
    await this.walFollower.start();
    assertRunning(ctx);
  }

  async stop(): Promise<void> {
    await this.catalogFollower?.stop();
    await this.walFollower?.stop();
  }
}
