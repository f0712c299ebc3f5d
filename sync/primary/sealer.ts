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

/** When the primary seals a memtable into a segment, and when it compacts. */
export interface SealPolicy {
  /** Seal once the memtable holds this many entries. */
  maxPoints: number;
  /** Seal once the oldest unsealed entry is this old (ms). */
  maxAgeMs: number;
  /** Compact once a manifest lists more than this many segments. */
  compactAbove: number;
}

export const defaultSealPolicy: SealPolicy = {
  maxPoints: 20_000,
  maxAgeMs: 5_000,
  compactAbove: 8,
};

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
  private readonly firstSeen = new Map<string, number>();
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
      applyTimeoutMs?: number;
    },
  ) {}

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

  /** Seals every collection generation whose memtable crossed a threshold. Never throws. */
  async tick(now = Date.now()): Promise<void> {
    if (this.o.writable && !this.o.writable()) return;
    for (const s of this.o.replica.views.all()) {
      const key = keyOf(s);
      const size = await s.view
        .stats()
        .then((x) => x.memtableEntries)
        .catch(() => 0);
      if (size === 0) {
        this.firstSeen.delete(key);
        continue;
      }
      const since = this.firstSeen.get(key) ?? now;
      this.firstSeen.set(key, since);
      if (size >= this.o.policy.maxPoints || now - since >= this.o.policy.maxAgeMs) {
        await this.seal(s.settings.name, s.generation.model).catch(() => undefined);
      }
    }
  }

  /**
   * Seals what the memtable holds up to the replica's contiguous WAL position. Returns
   * the new manifest, or null when there was nothing to seal. Fenced publishes throw.
   */
  seal(collection: string, generation: string): Promise<Manifest | null> {
    return this.exclusive(collection, generation, () => this.sealNow(collection, generation));
  }

  /** Merges every segment and tombstone of the current manifest into one segment. */
  compact(collection: string, generation: string): Promise<Manifest | null> {
    return this.exclusive(collection, generation, () => this.compactNow(collection, generation));
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
    const snap = await s.view.snapshot(upTo);
    if (snap.upserts.length === 0 && snap.deletes.length === 0) return null;
    const prev = await this.prev(collection, generation);
    const key = `${collection}\u0000${generation}`;
    this.checkNoHole(key, collection, generation, prev.manifest?.coversSeq ?? 0, upTo);
    const segments = [...(prev.manifest?.segments ?? [])];
    if (snap.upserts.length > 0) segments.push(await this.buildAndUpload(s, snap.upserts));
    const tombstones = mergeTombstones(prev.manifest?.tombstones ?? [], snap.deletes);
    let next = this.nextManifest(
      s,
      prev,
      segments,
      tombstones,
      Math.max(upTo, prev.manifest?.coversSeq ?? 0),
    );
    next = await this.publishAndApply(next, prev);
    this.acked.set(
      key,
      (this.acked.get(key) ?? []).filter((s) => s > next.coversSeq),
    );
    if (next.segments.length > this.o.policy.compactAbove)
      return this.compactNow(collection, generation);
    return next;
  }

  private async compactNow(collection: string, generation: string): Promise<Manifest | null> {
    const s = this.served(collection, generation);
    const prev = await this.prev(collection, generation);
    const cur = prev.manifest;
    if (!cur || (cur.segments.length <= 1 && cur.tombstones.length === 0)) return null;
    // Newest seq wins per id; a tombstone winner means the id is gone.
    const best = new Map<string, { seq: number; point: SeqPoint | null }>();
    const offer = (id: string, seq: number, point: SeqPoint | null) => {
      const w = best.get(id);
      if (!w || seq > w.seq) best.set(id, { seq, point });
    };
    for (const ref of cur.segments) {
      const path = join(this.o.dataDir, 'segments', ref.digest);
      for (const p of (await readSegmentPoints(path, ref.digest)).points) offer(p.id, p.seq, p);
    }
    for (const t of cur.tombstones) offer(t.id, t.seq, null);
    const live = [...best.values()].flatMap((w) => (w.point ? [w.point] : []));
    const segments = live.length > 0 ? [await this.buildAndUpload(s, live)] : [];
    const next = this.nextManifest(s, prev, segments, [], cur.coversSeq);
    return this.publishAndApply(next, prev);
  }

  private async buildAndUpload(s: ServedGeneration, points: SeqPoint[]): Promise<ManifestSegment> {
    const built = await buildSegment(points, {
      collection: s.settings.name,
      generation: s.generation.model,
      dim: s.generation.dim,
      metric: s.settings.metric,
      hnsw: s.settings.hnsw,
      dir: join(this.o.dataDir, 'segments'),
    });
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

/** Tombstones of both lists, one per id, the newest seq kept. */
function mergeTombstones(a: readonly Tombstone[], b: readonly Tombstone[]): Tombstone[] {
  const m = new Map<string, number>();
  for (const t of [...a, ...b]) m.set(t.id, Math.max(m.get(t.id) ?? -1, t.seq));
  return [...m.entries()].map(([id, seq]) => ({ id, seq })).sort((x, y) => x.seq - y.seq);
}
