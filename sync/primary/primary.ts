import { randomUUID } from 'node:crypto';
import { until } from '../../lib/wait.ts';
import { validatePoints } from '../../index/index.ts';
import type { Point, PointInput } from '../../index/index.ts';
import type {
  AckMode,
  Catalog,
  CollectionInput,
  CollectionSettings,
  Manifest,
} from '../../catalog/index.ts';
import { publishCollectionDef } from '../catalog-stream.ts';
import { SyncError } from '../errors.ts';
import { Replica } from '../replica/replica.ts';
import type { ReplicaOptions } from '../replica/replica.ts';
import { applyCollectionDef } from '../replica/collection-def.ts';
import type { ServedGeneration } from '../replica/views.ts';
import { ensureStreams } from '../streams.ts';
import { serveCommitPosition } from '../commit-position.ts';
import type { Subscription } from 'nats';
import { Streams } from '../subjects.ts';
import type { WriteAck } from '../types.ts';
import type { WalEntry } from '../wal-codec.ts';
import { AckTracker } from './ack-tracker.ts';
import { GenerationLifecycle } from './generations.ts';
import { PrimaryLease } from './primary-lease.ts';
import { CommitBeacon } from './beacon.ts';
import { Sealer, defaultSealPolicy } from './sealer.ts';
import { SourceGuard } from './source-check.ts';
import { PointRate } from './rate-limit.ts';
import type { SealPolicy } from './sealer.ts';
import { WalWriter, lastWalSeqOf } from './wal-writer.ts';
import type { Appended } from './wal-writer.ts';

export interface PrimaryOptions extends Omit<ReplicaOptions, 'role'> {
  /** Every region of the deployment (for `sync` acks when a collection has no placement). */
  regions: readonly string[];
  seal?: Partial<SealPolicy>;
  /** How often the primary checks seal thresholds (ms). */
  sealCheckMs?: number;
  /** Routine lines: each seal and merge (info level); `log` when not given. */
  info?: (msg: string, fields?: Record<string, unknown>) => void;
  /** How often it publishes its commit position (ms). */
  beaconMs?: number;
  /** Default timeout of `semi-sync` and `sync` acknowledgements (ms). */
  ackTimeoutMs?: number;
  /** Life of the primary lease without renewal (ms; default 5 000). See {@link PrimaryLease}. */
  leaseTtlMs?: number;
  /**
   * Points per second that writes to staging generations (backfills) may take, over all
   * collections; unlimited when not set. A backfill at full speed competes with queries
   * for the CPU of every region (bench/cutover); this paces it, as Elasticsearch's
   * reindex `requests_per_second` does. Writes to active generations are never paced.
   */
  backfillPointsPerSecond?: number;
}

export interface AppendOptions {
  ack?: AckMode;
  timeoutMs?: number;
  /** Target generation (model); default the active one. */
  model?: string;
  /** Idempotency key: a retry with the same id inside the duplicate window is stored once. */
  msgId?: string;
  /**
   * Upserts only: the active generation's WAL position the points were embedded from (a
   * backfill, issue 14). A point whose id changed, was deleted or was absent in the active
   * generation after it is skipped and counted, never written. See {@link SourceGuard}.
   */
  sourceSeq?: number;
}

export interface WriteResult extends WriteAck {
  collection: string;
  generation: string;
  /** True when an earlier try with the same msgId was already stored. */
  duplicate: boolean;
  /** Ids a `sourceSeq` write skipped: changed or deleted in the active generation since. */
  skipped?: string[];
}

/** What a write asks of the write path besides the entry (issue 14's backfill check). */
interface WriteHooks {
  /** Keeps the points of an upsert part still to write; called right before its append. */
  filter?: (points: readonly Point[]) => Point[];
  /** Called once every part is in the primary's own view. */
  applied?: () => void;
}

/**
 * The primary region's writer: validates writes, appends them to the WAL (durable in
 * JetStream before anything else), makes them visible in its own replica at once, waits
 * for the requested acknowledgement mode, and seals and compacts segments in the
 * background. Its {@link Replica} applies manifests and recovers exactly as a follower's.
 */
export class Primary {
  readonly replica: Replica;
  private readonly o: PrimaryOptions;
  private readonly writer: WalWriter;
  private readonly beacon: CommitBeacon;
  private readonly acks: AckTracker;
  readonly sealer: Sealer;
  private sealTimer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private commitSub: Subscription | null = null;
  private stopped = false;
  private readonly lease: PrimaryLease;
  private readonly sources = new SourceGuard();
  private readonly backfillRate: PointRate | null;
  /** Writes in flight per collection generation, and generations being dropped (no new writes). */
  private readonly inflight = new Map<string, number>();
  private readonly closing = new Map<string, () => SyncError>();
  /** Embedding-model generations: stage, activate behind a gate, drop (issue 14). */
  readonly generations: GenerationLifecycle;

  constructor(opts: PrimaryOptions) {
    this.o = opts;
    this.backfillRate = opts.backfillPointsPerSecond
      ? new PointRate(opts.backfillPointsPerSecond)
      : null;
    this.replica = new Replica({ ...opts, role: 'primary', readSeq: () => this.readSeq });
    this.writer = new WalWriter(opts.link.js);
    this.beacon = new CommitBeacon({
      nc: opts.link.nc,
      node: opts.node,
      region: opts.region,
      intervalMs: opts.beaconMs ?? 250,
      url: opts.url,
    });
    this.acks = new AckTracker({ nc: opts.link.nc, region: opts.region, regions: opts.regions });
    this.lease = new PrimaryLease({
      js: opts.link.js,
      node: opts.node,
      region: opts.region,
      ttlMs: opts.leaseTtlMs ?? 5_000,
      onLost: (why) => opts.log?.('primary lease lost: refusing writes from now on', { why }),
    });
    this.generations = new GenerationLifecycle({
      link: opts.link,
      catalog: opts.catalog,
      replica: this.replica,
      acks: this.acks,
      region: opts.region,
      regions: opts.regions,
      committedSeq: () => this.beacon.position.seq,
      commit: (entry) => this.commitControl(entry),
      quiesce: (collection, model, why, then) => this.quiesce(collection, model, why, then),
    });
    this.sealer = new Sealer({
      link: opts.link,
      replica: this.replica,
      dataDir: opts.dataDir,
      policy: { ...defaultSealPolicy, ...opts.seal },
      committedSeq: () => this.beacon.position.seq,
      writable: () => this.lease.held,
      ...(opts.log ? { log: opts.log } : {}),
      ...(opts.info ? { info: opts.info } : {}),
    });
  }

  get catalog(): Catalog {
    return this.o.catalog;
  }

  /**
   * The WAL position a read on the primary reflects. The write path applies every write
   * to the primary's view before acknowledging it, so once the replica has replayed the
   * WAL it had at start, the primary reflects everything it has committed.
   */
  get readSeq(): number {
    return this.replica.caughtUp
      ? Math.max(this.replica.appliedSeq, this.beacon.position.seq)
      : this.replica.appliedSeq;
  }

  /** The last committed WAL seq and its time: what a `strong` read must see. */
  get commitPosition(): { seq: number; time: number } {
    return this.beacon.position;
  }

  /**
   * Takes the primary lease (refused with `not_primary` while another primary holds it),
   * then recovers and starts taking writes.
   */
  async start(): Promise<void> {
    await ensureStreams(this.o.link.jsm);
    await this.lease.acquire(() => this.stopped);
    const wal = await this.o.link.jsm.streams.info(Streams.wal);
    for (const c of this.o.catalog.listCollections()) {
      const last = await lastWalSeqOf(this.o.link.jsm, c.name);
      if (last > 0) this.beacon.committed(last, Date.now(), c.name);
    }
    this.beacon.committed(wal.state.last_seq, Date.now());
    if (this.stopped) throw new SyncError('stopped', 'primary stopped', { transient: true });
    this.acks.start();
    await this.replica.start();
    if (this.stopped) throw new SyncError('stopped', 'primary stopped', { transient: true });
    this.commitSub = serveCommitPosition(this.o.link.nc, () => this.beacon.position);
    this.beacon.start();
    this.sealTimer = setInterval(() => {
      this.ticking ??= this.sealer.tick().finally(() => (this.ticking = null));
    }, this.o.sealCheckMs ?? 250);
    this.sealTimer.unref();
  }

  /** Stops sealing, beacons and the replica. Safe at any moment, start-up included. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.sealTimer) clearInterval(this.sealTimer);
    await this.ticking;
    await this.sealer.stop();
    await this.lease.release();
    this.beacon.stop();
    this.commitSub?.unsubscribe();
    this.acks.stop();
    await this.replica.stop();
  }

  /**
   * Creates a collection with its first (active) generation and publishes its definition.
   * Idempotent for identical settings; different settings for an existing name throw.
   */
  async createCollection(input: CollectionInput & { model: string }): Promise<CollectionSettings> {
    const settings = this.o.catalog.createCollection(input);
    const def = {
      settings,
      generations: this.o.catalog.listGenerations(settings.name),
      walSeq: this.beacon.position.seq,
    };
    applyCollectionDef(this.o.catalog, this.replica.views, def);
    await publishCollectionDef(this.o.link.js, def);
    return settings;
  }

  /** Validates and appends an upsert; see {@link write}. */
  async upsert(
    collection: string,
    points: readonly PointInput[],
    opts: AppendOptions = {},
  ): Promise<WriteResult> {
    let [target, release] = this.writeTarget(collection, opts.model);
    let valid: Point[];
    try {
      valid = validatePoints(points, target.generation.dim);
    } catch (err) {
      release();
      throw err;
    }
    if (this.backfillRate && target.generation.state === 'staging') {
      // A paced write is not in flight while it waits: a drop does not wait for it, and
      // it looks at its generation again once its turn comes.
      release();
      await this.backfillRate.take(valid.length);
      [target, release] = this.writeTarget(collection, opts.model);
      if (target.generation.dim !== valid[0]?.vector.length) {
        release();
        throw new SyncError(
          'generation_conflict',
          `generation ${target.generation.model} of ${collection} changed while the write waited`,
          { details: { collection, model: target.generation.model } },
        );
      }
    }
    try {
      // In flight until its last part is appended (not until its acknowledgement).
      return await this.upsertTo(target, collection, valid, opts, release);
    } finally {
      release();
    }
  }

  private upsertTo(
    target: ServedGeneration,
    collection: string,
    valid: Point[],
    opts: AppendOptions,
    appended: () => void,
  ): Promise<WriteResult> {
    const entry: WalEntry = {
      op: 'upsert',
      collection,
      generation: target.generation.model,
      points: valid,
    };
    // A write to the active generation, a backfill's source, is watched by SourceGuard.
    const end =
      target.generation.state === 'active'
        ? this.sources.begin(
            collection,
            valid.map((p) => p.id),
          )
        : () => {};
    const applied = () => {
      end();
      appended();
    };
    const done =
      opts.sourceSeq !== undefined
        ? this.backfill(entry, target, opts, opts.sourceSeq, applied)
        : this.write(entry, target, opts, { applied });
    return done.finally(end);
  }

  /**
   * An upsert checked against the active generation (`sourceSeq`, issue 14): the points
   * whose active copy is no longer the one at or below `sourceSeq` are skipped. When all
   * are, nothing is appended and the answer carries the last committed seq.
   */
  private async backfill(
    entry: WalEntry & { op: 'upsert' },
    target: ServedGeneration,
    opts: AppendOptions,
    sourceSeq: number,
    applied: () => void,
  ): Promise<WriteResult> {
    if (!this.replica.caughtUp) {
      throw new SyncError(
        'stopped',
        'the primary is still replaying its WAL: a sourceSeq write cannot be checked yet',
        { transient: true },
      );
    }
    const active = this.target(entry.collection);
    const check = await this.sources.check(entry.collection, active.view, entry.points, sourceSeq);
    try {
      const r = await this.write(entry, target, opts, { filter: check.filter, applied });
      return { ...r, skipped: check.skipped() };
    } finally {
      check.close();
    }
  }

  /**
   * Appends a delete of ids (unknown ids are fine: deleting is idempotent). Without a
   * model it reaches every live generation — the active one and a staging one being
   * backfilled — so a backfill never keeps what was deleted (issue 14); the answer is the
   * active generation's.
   */
  async delete(
    collection: string,
    ids: readonly string[],
    opts: AppendOptions = {},
  ): Promise<WriteResult> {
    const [target, release] = this.writeTarget(collection, opts.model);
    const end =
      target.generation.state === 'active' ? this.sources.begin(collection, ids) : () => {};
    try {
      return await this.deleteFrom(collection, ids, target, opts, release);
    } finally {
      end();
      release();
    }
  }

  private async deleteFrom(
    collection: string,
    ids: readonly string[],
    target: ServedGeneration,
    opts: AppendOptions,
    appended: () => void,
  ): Promise<WriteResult> {
    const entry = (generation: string): WalEntry => ({
      op: 'delete',
      collection,
      generation,
      ids: [...ids],
    });
    if (!opts.model) {
      for (const g of this.generations.live(collection)) {
        if (g.model === target.generation.model) continue;
        // A generation being dropped takes no more writes; its data goes with it.
        if (this.closing.has(`${collection}\u0000${g.model}`)) continue;
        const other = this.target(collection, g.model);
        const { msgId: _msgId, ...rest } = opts;
        const done = this.enter(collection, g.model);
        try {
          await this.write(
            entry(g.model),
            other,
            { ...rest, ...(opts.msgId ? { msgId: `${opts.msgId}:${g.model}` } : {}) },
            { applied: done },
          );
        } finally {
          done();
        }
      }
    }
    return this.write(entry(target.generation.model), target, opts, { applied: appended });
  }

  /**
   * Appends a control entry (an activation) through the write path: refused unless this
   * process holds the primary lease; applied to its own views before it returns.
   */
  private async commitControl(entry: WalEntry): Promise<number> {
    const refusal = this.lease.refusal;
    if (refusal !== null && !(await this.lease.confirm())) {
      const now = this.lease.refusal ?? refusal;
      throw new SyncError('not_primary', `not taking writes: ${now}`, { transient: true });
    }
    const appended = await this.writer.append(entry);
    const time = Date.now();
    this.beacon.committed(appended.seq, time, entry.collection);
    this.replica.applyOwnWrite({ ...entry, seq: appended.seq, time });
    this.acks.record(this.o.region, appended.seq);
    this.replica.announce();
    return appended.seq;
  }

  /** Whether this process may take writes now (it holds the primary lease). */
  get writable(): boolean {
    return this.lease.held;
  }

  /** Seals now (tests and admin); null when there was nothing to seal. */
  seal(collection: string, model?: string): Promise<Manifest | null> {
    const t = this.target(collection, model);
    return this.sealer.seal(collection, t.generation.model);
  }

  compact(collection: string, model?: string): Promise<Manifest | null> {
    const t = this.target(collection, model);
    return this.sealer.compact(collection, t.generation.model);
  }

  /**
   * Refuses new writes to a generation (with `why`), waits until the writes in flight to
   * it are appended, then runs `then` (a drop, or an activation's commit), and takes
   * writes again.
   */
  private async quiesce(
    collection: string,
    model: string,
    why: () => SyncError,
    then: () => Promise<void>,
  ): Promise<void> {
    const key = `${collection}\u0000${model}`;
    if (this.closing.has(key)) throw why();
    this.closing.set(key, why);
    try {
      if (!(await until(() => !this.inflight.has(key), { timeoutMs: 30_000, pollMs: 2 }))) {
        throw new SyncError(
          'write_stalled',
          `writes to ${collection}/${model} were not appended within 30 s: nothing was changed`,
          { transient: true },
        );
      }
      await then();
    } finally {
      if (this.closing.get(key) === why) this.closing.delete(key);
    }
  }

  /** Counts a write to a generation in flight until the returned function is called. */
  private enter(collection: string, model: string): () => void {
    const key = `${collection}\u0000${model}`;
    this.inflight.set(key, (this.inflight.get(key) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.inflight.get(key) ?? 1) - 1;
      if (n <= 0) this.inflight.delete(key);
      else this.inflight.set(key, n);
    };
  }

  /**
   * The generation a write goes to, counted in flight until the returned release is
   * called: a retired generation, or one being dropped, takes none (issue 14).
   */
  private writeTarget(collection: string, model?: string): [ServedGeneration, () => void] {
    const target = this.target(collection, model);
    const closed = this.closing.get(`${collection}\u0000${target.generation.model}`);
    if (closed) throw closed();
    if (target.generation.state === 'retired') {
      throw new SyncError(
        'generation_conflict',
        `generation ${target.generation.model} of ${collection} is retired: it is queryable by name but takes no writes (activate it to roll back)`,
        { details: { collection, model: target.generation.model } },
      );
    }
    return [target, this.enter(collection, target.generation.model)];
  }

  private target(collection: string, model?: string): ServedGeneration {
    const served = this.replica.served(collection, model);
    if (!served) {
      const exists = this.o.catalog.getCollection(collection) !== null;
      throw new SyncError(
        'unknown_collection',
        exists
          ? `collection ${collection} has no generation ${model}`
          : `no collection named ${collection}`,
        { details: { collection, model } },
      );
    }
    return served;
  }

  /**
   * The write path: WAL append (durable in JetStream) → own memtable → acknowledgement
   * wait. Nothing is changed before the append succeeds. Safe to retry with the same
   * `msgId`: JetStream stores it once and the same seq comes back.
   */
  private async write(
    entry: WalEntry,
    target: ServedGeneration,
    opts: AppendOptions,
    hooks: WriteHooks = {},
  ): Promise<WriteResult> {
    // A lease that lapsed while this process stalled is renewed before the write is refused.
    const refusal = this.lease.refusal;
    if (refusal !== null && !(await this.lease.confirm())) {
      const now = this.lease.refusal ?? refusal;
      throw new SyncError('not_primary', `not taking writes: ${now}`, { transient: true });
    }
    this.sealer.assertWritable(target);
    const mode = opts.ack ?? target.settings.defaultAck;
    const msgId = opts.msgId ?? randomUUID();
    const parts = splitEntry(entry, this.maxEntryBytes());
    let last: Appended | null = null;
    let duplicate = true;
    for (let i = 0; i < parts.length; i++) {
      let part = parts[i]!;
      if (hooks.filter && part.op === 'upsert') {
        // Synchronous with the append below: see SourceGuard for why that makes it exact.
        part = { ...part, points: hooks.filter(part.points) };
        if (part.points.length === 0) continue;
      }
      // Each part has its own message id, so a retried request re-sends every part and
      // JetStream stores each once.
      const appended = await this.writer.append(part, parts.length === 1 ? msgId : `${msgId}:${i}`);
      const time = Date.now();
      this.beacon.committed(appended.seq, time, part.collection);
      this.replica.applyOwnWrite({ ...part, seq: appended.seq, time });
      this.sealer.acknowledged(part.collection, part.generation, appended.seq);
      duplicate &&= appended.duplicate;
      last = appended;
    }
    hooks.applied?.();
    if (last === null) {
      // Every point was skipped (a backfill whose sources all changed): nothing to wait for.
      const seq = this.beacon.position.seq;
      const region = [this.o.region];
      return {
        seq,
        mode,
        replicated: true,
        appliedRegions: region,
        pendingRegions: [],
        timedOut: false,
        collection: entry.collection,
        generation: entry.generation,
        duplicate: false,
      };
    }
    const seq = last.seq;
    this.acks.record(this.o.region, seq);
    this.replica.announce();
    const ack = await this.acks.wait(
      seq,
      mode,
      target.settings.placement,
      opts.timeoutMs ?? this.o.ackTimeoutMs ?? 5_000,
    );
    return { ...ack, collection: entry.collection, generation: entry.generation, duplicate };
  }

  /** Largest WAL entry: the server's max_payload less room for headers. */
  private maxEntryBytes(): number {
    const server = this.o.link.nc.info?.max_payload ?? 1024 * 1024;
    return Math.max(64 * 1024, server - 16 * 1024);
  }
}

/**
 * Splits a write into WAL entries that each fit in one NATS message. A batch larger than
 * that becomes several entries with consecutive seqs; each is durable on its own (see
 * docs/decisions/0006-large-writes-split-into-wal-entries.md).
 */
export function splitEntry(entry: WalEntry, maxBytes: number): WalEntry[] {
  if (entry.op === 'activate') return [entry];
  if (entry.op === 'delete') {
    const per = Math.max(1, Math.floor(maxBytes / 300));
    return chunk(entry.ids, per).map((ids) => ({ ...entry, ids }));
  }
  const parts: WalEntry[] = [];
  let cur: typeof entry.points = [];
  let bytes = 256;
  for (const p of entry.points) {
    const size =
      64 +
      p.id.length * 3 +
      p.vector.length * 4 +
      (p.metadata ? JSON.stringify(p.metadata).length * 3 : 4);
    if (cur.length > 0 && bytes + size > maxBytes) {
      parts.push({ ...entry, points: cur });
      cur = [];
      bytes = 256;
    }
    cur.push(p);
    bytes += size;
  }
  parts.push({ ...entry, points: cur });
  return parts;
}

function chunk<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out.length ? out : [[]];
}
