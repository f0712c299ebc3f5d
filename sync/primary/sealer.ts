import { buildSegment, readSegmentPoints } from '../../index/index.ts';
import type { SeqPoint } from '../../index/index.ts';
import type { Manifest, ManifestSegment, Tombstone } from '../../catalog/index.ts';
import type { NatsLink } from '../connection.ts';
import { lastManifest, publishManifest } from '../catalog-stream.ts';
import { uploadSegment } from '../segment-upload.ts';
import type { Replica } from '../replica/replica.ts';
import type { ServedGeneration } from '../replica/views.ts';
import { join } from 'node:path';
import { SyncError } from '../errors.ts';
import { decodeWalEntry } from '../wal-codec.ts';
import { planAll, planMerge } from './merge-policy.ts';
import type { MergePlan } from './merge-policy.ts';

/** When the primary seals a memtable into a segment, and when it merges segments. */
export interface SealPolicy {
  /** Seal once the memtable holds this many entries. */
  maxPoints: number;
  /** Seal once the oldest unsealed entry is this old (ms). */
  maxAgeMs: number;
  /**
   * Merge the smallest segments once a manifest lists more than this many (tiered merges
   * usually keep it far below: about mergeFactor − 1 segments per size tier).
   */
  compactAbove: number;
  /** Segments of one size tier (⌊log_F points⌋) merged together once there are F of them. */
  mergeFactor: number;
  /** Merge everything and purge tombstones once they reach this share of sealed points. */
  tombstoneRatio: number;
  /**
   * Refuse writes (503 `write_stalled`, retry later) while a memtable holds this many
   * entries: seals cannot keep up (HNSW builds slower than the writes arrive), and the
   * memtable every query searches exactly must stay bounded. Default 10 × `maxPoints`:
   * a safety valve against running out of memory and time, not a throttle on bulk loads.
   */
  stallAt?: number;
}

export const defaultSealPolicy: SealPolicy = {
  maxPoints: 20_000,
  maxAgeMs: 5_000,
  compactAbove: 16,
  mergeFactor: 4,
  tombstoneRatio: 0.2,
};

/** What one seal or merge did, for metrics and the stream bench. */
export interface SealerStats {
  seals: number;
  merges: number;
  /** Points written into segments by seals. */
  sealedPoints: number;
  /** Points rewritten into segments by merges. */
  mergedPoints: number;
  /** Bytes of the segments built (seals and merges): what every replica fetches. */
  segmentBytes: number;
  /**
   * The last seal, in ms from its start to its install on the primary: the writes that
   * arrive meanwhile stay in the memtable (its bound is about maxAgeMs of writes plus this).
   */
  lastSealMs: number;
}

interface Published {
  manifest: Manifest | null;
  /** Stream seq of the last manifest message on the subject (0 = none): the fencing token. */
  seq: number;
}

/**
 * Seals memtables into segments and compacts segments, publishing each result as
 * manifest `version + 1`. One operation at a time per collection generation. The
 * primary applies its own manifests through its replica like any follower, and waits
 * for that before the next seal, so a memtable entry is never sealed twice.
 */
export class Sealer {
  private readonly published = new Map<string, Published>();
  private readonly busy = new Map<string, Promise<Manifest | null>>();
  /** Per collection generation: when its oldest unsealed write arrived (at most). */
  private readonly oldestUnsealed = new Map<string, number>();
  /** Per collection generation: the merge under way (one at a time). */
  private readonly merging = new Map<string, Promise<Manifest | null>>();
  private stopped = false;
  /** Test seam: awaited after a merge is built and uploaded, before it takes the seal lock. */
  onMergeBuilt: (() => Promise<void>) | null = null;
  readonly stats: SealerStats = {
    seals: 0,
    merges: 0,
    sealedPoints: 0,
    mergedPoints: 0,
    segmentBytes: 0,
    lastSealMs: 0,
  };
  /** Per collection generation: seqs of the writes this process acknowledged, not yet sealed. */
  private readonly acked = new Map<string, number[]>();

  constructor(
    private readonly o: {
      link: NatsLink;
      replica: Replica;
      dataDir: string;
      policy: SealPolicy;
      /** The primary's last committed WAL seq: a seal first lets its replica reach it. */
      committedSeq: () => number;
      /** False while this primary may not take writes (it lost its lease): no seal then. */
      writable?: () => boolean;
      log?: (msg: string, fields?: Record<string, unknown>) => void;
      /** Routine lines (each seal and merge); `log` when not given. */
      info?: (msg: string, fields?: Record<string, unknown>) => void;
      applyTimeoutMs?: number;
    },
  ) {}

  /**
   * Refuses a write to a generation whose memtable reached `stallAt` entries (counted at
   * the last seal check, every 250 ms): 503 `write_stalled` until seals catch up.
   */
  assertWritable(s: ServedGeneration): void {
    const entries = s.view.lastStats.memtableEntries;
    const stallAt = this.o.policy.stallAt ?? 10 * this.o.policy.maxPoints;
    if (entries < stallAt) return;
    throw new SyncError(
      'write_stalled',
      `writes to ${s.settings.name} are paused: ${entries} unsealed entries (seal.stallAt ${stallAt}); seals are behind the writes, retry shortly`,
      { transient: true, details: { memtableEntries: entries, stallAt } },
    );
  }

  /** Records a write this primary acknowledged (the seal check below needs it). */
  acknowledged(collection: string, generation: string, seq: number): void {
    const key = `${collection}\u0000${generation}`;
    let seqs = this.acked.get(key);
    if (!seqs) this.acked.set(key, (seqs = []));
    seqs.push(seq);
  }

  /**
   * Nothing is sealed over a hole (issue 11): every write this process acknowledged with a
   * seq in (previous coversSeq, upTo] must be in its local WAL log — the replica stores
   * each entry there before its position passes it. A write that is not would be covered
   * by the manifest and trimmed from every memtable: lost. Refuses (and logs) instead.
   */
  private checkNoHole(
    key: string,
    collection: string,
    generation: string,
    from: number,
    upTo: number,
  ): void {
    const seqs = (this.acked.get(key) ?? []).filter((s) => s > from && s <= upTo);
    if (seqs.length === 0) return;
    const held = this.o.replica.catalog.walHolds(collection, generation, seqs);
    const missing = seqs.filter((s) => !held.has(s));
    if (missing.length === 0) return;
    const message = `refusing to seal ${collection}/${generation} up to seq ${upTo}: ${missing.length} acknowledged writes (seq ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}) are not in this primary's WAL log`;
    this.o.log?.('seal refused', { collection, generation, upTo, missing: missing.slice(0, 20) });
    throw new SyncError('seal_refused', message, { details: { missing: missing.slice(0, 100) } });
  }

  /**
   * Seals every collection generation whose memtable crossed a threshold (size, or the age
   * of its oldest unsealed write), and starts any merge a manifest needs. Never throws.
   */
  async tick(now = Date.now()): Promise<void> {
    if (this.stopped || (this.o.writable && !this.o.writable())) return;
    for (const s of this.o.replica.views.all()) {
      const key = keyOf(s);
      const size = await s.view
        .stats()
        .then((x) => x.memtableEntries)
        .catch(() => 0);
      if (size === 0) {
        this.oldestUnsealed.delete(key);
      } else {
        const since = this.oldestUnsealed.get(key) ?? now;
        this.oldestUnsealed.set(key, since);
        if (size >= this.o.policy.maxPoints || now - since >= this.o.policy.maxAgeMs) {
          await this.seal(s.settings.name, s.generation.model).catch((err: unknown) =>
            this.o.log?.('seal failed', { collection: s.settings.name, err: String(err) }),
          );
        }
      }
      this.mergeInBackground(s.settings.name, s.generation.model);
    }
  }

  /**
   * Stops starting seals and merges. A merge whose build is under way is not waited for
   * past `graceMs`: it publishes nothing once stopped.
   */
  async stop(graceMs = 1_000): Promise<void> {
    this.stopped = true;
    const running = [...this.merging.values()].map((m) => m.catch(() => null));
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((r) => (timer = setTimeout(r, graceMs)));
    await Promise.race([Promise.all(running), grace]);
    clearTimeout(timer);
  }

  /**
   * Seals what the memtable holds up to the replica's contiguous WAL position. Returns
   * the new manifest, or null when there was nothing to seal. Fenced publishes throw.
   */
  seal(collection: string, generation: string): Promise<Manifest | null> {
    return this.exclusive(collection, generation, () => this.sealNow(collection, generation));
  }

  /**
   * Merges every segment of the current manifest into one and purges its tombstones (the
   * admin's full compaction). Runs after any merge under way; seals go on meanwhile.
   */
  compact(collection: string, generation: string): Promise<Manifest | null> {
    // Once: seals that land while it runs are kept beside the merged segment, and a plan
    // made again would rebuild the whole collection after every one of them.
    return this.merge(collection, generation, (m) => planAll(m), true);
  }

  private async exclusive(
    collection: string,
    generation: string,
    op: () => Promise<Manifest | null>,
  ): Promise<Manifest | null> {
    const key = `${collection}\u0000${generation}`;
    while (this.busy.has(key)) await this.busy.get(key)!.catch(() => undefined);
    const run = op().finally(() => this.busy.delete(key));
    this.busy.set(key, run);
    return run;
  }

  private served(collection: string, generation: string): ServedGeneration {
    const s = this.o.replica.views.get(collection, generation);
    if (!s) throw new Error(`no collection ${collection}/${generation} on the primary`);
    return s;
  }

  private async prev(collection: string, generation: string): Promise<Published> {
    const key = `${collection}\u0000${generation}`;
    let p = this.published.get(key);
    if (!p) {
      const last = await lastManifest(this.o.link.jsm, collection, generation);
      p = last ? { manifest: last.manifest, seq: last.seq } : { manifest: null, seq: 0 };
      this.published.set(key, p);
    }
    return p;
  }

  private async sealNow(collection: string, generation: string): Promise<Manifest | null> {
    const began = Date.now();
    const s = this.served(collection, generation);
    // Seal everything committed so far: the replica's contiguous WAL position must reach
    // it first (its memtable already has the writes, but only that position proves no
    // earlier entry is missing). If it cannot within the timeout, seal what it has.
    const committed = this.o.committedSeq();
    await this.o.replica
      .waitUntil(
        () => this.o.replica.appliedSeq >= committed,
        this.o.applyTimeoutMs ?? 60_000,
        'the WAL position',
      )
      .catch(() => undefined);
    const upTo = this.o.replica.appliedSeq;
    // Every write a seal leaves unsealed arrived after this moment.
    const snapshotAt = Date.now();
    const prev = await this.prev(collection, generation);
    const from = prev.manifest?.coversSeq ?? 0;
    // A seal takes at most maxPoints points (the oldest entries): each build stays bounded,
    // and a memtable that grew while seals were behind drains one bounded seal after another.
    // It reads at most maxPoints entries (a backlog is not read whole by every seal that
    // drains it); when it read that many, it covers no further than the last one it read.
    const limit = Math.max(1, this.o.policy.maxPoints);
    const rows = this.o.replica.catalog.walEntriesAfter(collection, generation, from, {
      upTo,
      limit,
    });
    const readTo = rows.length === limit ? rows[rows.length - 1]!.seq : upTo;
    const snap = sealContent(rows, from, readTo, this.o.policy.maxPoints);
    if (snap.entries === 0) return null;
    const key = `${collection}\u0000${generation}`;
    const covers = snap.upTo;
    this.checkNoHole(key, collection, generation, prev.manifest?.coversSeq ?? 0, covers);
    const segments = [...(prev.manifest?.segments ?? [])];
    // A staging generation (a backfill), or a retired one, serves no query by default: its seals
    // build at low priority, as merges do, and leave the CPU to the queries of the active one.
    const background = s.generation.state !== 'active';
    if (snap.upserts.length > 0) {
      segments.push(await this.buildAndUpload(s, snap.upserts, background));
    }
    const tombstones = mergeTombstones(prev.manifest?.tombstones ?? [], snap.deletes);
    let next = this.nextManifest(
      s,
      prev,
      segments,
      tombstones,
      Math.max(covers, prev.manifest?.coversSeq ?? 0),
    );
    next = await this.publishAndApply(next, prev);
    this.acked.set(
      key,
      (this.acked.get(key) ?? []).filter((s) => s > next.coversSeq),
    );
    // After a cut seal the oldest unsealed write is older still: the clock keeps running.
    if (covers === upTo) this.oldestUnsealed.set(key, snapshotAt);
    (this.o.info ?? this.o.log)?.('sealed', {
      collection,
      generation,
      version: next.version,
      points: snap.upserts.length,
      deletes: snap.deletes.length,
      coversSeq: next.coversSeq,
      ms: Date.now() - snapshotAt,
    });
    this.stats.seals++;
    this.stats.sealedPoints += snap.upserts.length;
    this.stats.lastSealMs = Date.now() - began;
    this.mergeInBackground(collection, generation);
    return next;
  }

  /** Starts the merge the manifest needs, if one is due and none is under way. */
  private mergeInBackground(collection: string, generation: string): void {
    const key = `${collection}\u0000${generation}`;
    if (this.stopped || this.merging.has(key)) return;
    this.merge(collection, generation, (m) => planMerge(m, this.policyForMerge())).catch(
      (err: unknown) => this.o.log?.('merge failed', { collection, generation, err: String(err) }),
    );
  }

  private policyForMerge(): { mergeFactor: number; maxSegments: number; tombstoneRatio: number } {
    const p = this.o.policy;
    return {
      mergeFactor: Math.max(2, p.mergeFactor),
      maxSegments: p.compactAbove,
      tombstoneRatio: p.tombstoneRatio,
    };
  }

  /**
   * One merge at a time per collection generation; it builds and uploads outside the seal
   * lock, so seals go on while it runs, and takes the lock only to publish: the manifest
   * then current with the merged segments replaced by the new one. Merges repeat while the
   * plan finds more to do (a merge can fill the next tier).
   */
  private merge(
    collection: string,
    generation: string,
    plan: (m: Manifest) => MergePlan | null,
    once = false,
  ): Promise<Manifest | null> {
    const key = `${collection}\u0000${generation}`;
    const before = this.merging.get(key)?.catch(() => null) ?? Promise.resolve(null);
    const run: Promise<Manifest | null> = before
      .then(() => this.mergeNow(collection, generation, plan, once))
      .finally(() => {
        if (this.merging.get(key) === run) this.merging.delete(key);
      });
    this.merging.set(key, run);
    return run;
  }

  private async mergeNow(
    collection: string,
    generation: string,
    planOf: (m: Manifest) => MergePlan | null,
    once: boolean,
  ): Promise<Manifest | null> {
    let last: Manifest | null = null;
    for (;;) {
      if (this.stopped || (this.o.writable && !this.o.writable())) return last;
      const s = this.served(collection, generation);
      const cur = (await this.prev(collection, generation)).manifest;
      const plan = cur ? planOf(cur) : null;
      if (!cur || !plan) return last;
      const dropped = new Map(cur.tombstones.map((t) => [t.id, t.seq]));
      // Newest seq wins per id; a copy older than its id's tombstone is gone.
      const best = new Map<string, SeqPoint>();
      for (const ref of plan.segments) {
        const path = join(this.o.dataDir, 'segments', ref.digest);
        const read = await readSegmentPoints(path, ref.digest, { background: true });
        for (const p of read.points) {
          const w = best.get(p.id);
          if ((w && w.seq >= p.seq) || (dropped.get(p.id) ?? -1) > p.seq) continue;
          best.set(p.id, p);
        }
      }
      const live = [...best.values()];
      const merged = live.length > 0 ? await this.buildAndUpload(s, live, true) : null;
      await this.onMergeBuilt?.();
      if (this.stopped) return last;
      const next = await this.exclusive(collection, generation, () =>
        this.publishMerge(collection, generation, plan, merged),
      );
      if (!next) return last;
      last = next;
      this.stats.merges++;
      this.stats.mergedPoints += live.length;
      (this.o.info ?? this.o.log)?.('segments merged', {
        collection,
        generation,
        reason: plan.reason,
        segments: plan.segments.length,
        points: live.length,
        purged: plan.purge.length,
        version: next.version,
      });
      if (once) return last;
    }
  }

  /** Under the seal lock: the current manifest with the plan's segments replaced. */
  private async publishMerge(
    collection: string,
    generation: string,
    plan: MergePlan,
    merged: ManifestSegment | null,
  ): Promise<Manifest | null> {
    if (this.stopped) return null;
    const s = this.served(collection, generation);
    const prev = await this.prev(collection, generation);
    const cur = prev.manifest;
    const gone = new Set(plan.segments.map((x) => x.digest));
    const present = new Set(cur?.segments.map((x) => x.digest) ?? []);
    if (!cur || [...gone].some((d) => !present.has(d))) return null; // merged by someone else
    const segments: ManifestSegment[] = [];
    for (const seg of cur.segments) {
      if (!gone.has(seg.digest)) segments.push(seg);
      else if (merged && !segments.includes(merged)) segments.push(merged);
    }
    const purged = new Set(plan.purge.map((t) => `${t.id}\u0000${t.seq}`));
    const tombstones = cur.tombstones.filter((t) => !purged.has(`${t.id}\u0000${t.seq}`));
    return this.publishAndApply(
      this.nextManifest(s, prev, segments, tombstones, cur.coversSeq),
      prev,
    );
  }

  private async buildAndUpload(
    s: ServedGeneration,
    points: SeqPoint[],
    background = false,
  ): Promise<ManifestSegment> {
    const built = await buildSegment(points, {
      background,
      collection: s.settings.name,
      generation: s.generation.model,
      dim: s.generation.dim,
      metric: s.settings.metric,
      hnsw: s.settings.hnsw,
      dir: join(this.o.dataDir, 'segments'),
    });
    this.stats.segmentBytes += built.bytes;
    await uploadSegment(this.o.link.js, this.o.link.jsm, {
      collection: s.settings.name,
      digest: built.digest,
      path: built.path,
    });
    return {
      digest: built.digest,
      count: built.header.count,
      minSeq: built.header.minSeq,
      maxSeq: built.header.maxSeq,
      bytes: built.bytes,
    };
  }

  private nextManifest(
    s: ServedGeneration,
    prev: Published,
    segments: ManifestSegment[],
    tombstones: Tombstone[],
    coversSeq: number,
  ): Manifest {
    return {
      collection: s.settings.name,
      generation: s.generation.model,
      version: (prev.manifest?.version ?? 0) + 1,
      segments,
      tombstones,
      coversSeq,
      createdAt: new Date().toISOString(),
      group: null,
    };
  }

  private async publishAndApply(next: Manifest, prev: Published): Promise<Manifest> {
    const key = `${next.collection}\u0000${next.generation}`;
    let seq: number;
    try {
      seq = await publishManifest(this.o.link.js, next, prev.seq);
    } catch (err) {
      // Our idea of the subject is stale (or we are fenced): re-read it next time.
      this.published.delete(key);
      throw err;
    }
    this.published.set(key, { manifest: next, seq });
    const s = this.served(next.collection, next.generation);
    await this.o.replica.waitUntil(
      () => s.version >= next.version,
      this.o.applyTimeoutMs ?? 60_000,
      `the primary to apply its own manifest ${next.collection} v${next.version}`,
    );
    return next;
  }
}

function keyOf(s: ServedGeneration): string {
  return `${s.settings.name}\u0000${s.generation.model}`;
}

/**
 * What a seal covers, read from the WAL log (every entry above the last manifest's
 * `coversSeq` is there, in seq order, once the replica's position passed it): the entries
 * in (from, upTo], cut after the entry that brings the count to `max` points (one entry is
 * never split), and of those the newest write of each id — an upsert becomes a segment
 * point, a delete a tombstone. Built from the log, not from the memtable: the memtable
 * keeps only each id's newest write, and that may lie past the cut while an older one
 * below it (a delete) must still be sealed, or the manifest would claim to cover it and
 * every replica would trim it (issue 12 review).
 */
export function sealContent(
  rows: ReadonlyArray<{ seq: number; payload: Uint8Array }>,
  from: number,
  upTo: number,
  max: number,
): { upserts: SeqPoint[]; deletes: Tombstone[]; upTo: number; entries: number } {
  const newest = new Map<string, SeqPoint | Tombstone>();
  let count = 0;
  let covers = upTo;
  let entries = 0;
  for (const row of rows) {
    if (row.seq <= from || row.seq > upTo) continue;
    const e = decodeWalEntry(row.payload);
    entries++;
    if (e.op === 'activate') continue; // a state change, applied by the catalog: no data
    if (e.op === 'upsert') {
      for (const p of e.points) newest.set(p.id, { ...p, seq: row.seq });
      count += e.points.length;
    } else {
      for (const id of e.ids) newest.set(id, { id, seq: row.seq });
      count += e.ids.length;
    }
    if (count >= max) {
      covers = row.seq;
      break;
    }
  }
  const upserts: SeqPoint[] = [];
  const deletes: Tombstone[] = [];
  for (const w of newest.values()) {
    if ('vector' in w) upserts.push(w);
    else deletes.push(w);
  }
  return { upserts, deletes, upTo: covers, entries };
}

/** Tombstones of both lists, one per id, the newest seq kept. */
function mergeTombstones(a: readonly Tombstone[], b: readonly Tombstone[]): Tombstone[] {
  const m = new Map<string, number>();
  for (const t of [...a, ...b]) m.set(t.id, Math.max(m.get(t.id) ?? -1, t.seq));
  return [...m.entries()].map(([id, seq]) => ({ id, seq })).sort((x, y) => x.seq - y.seq);
}
