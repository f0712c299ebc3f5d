import { validatePoints } from '../index/index.ts';
import type { Metadata, Point } from '../index/index.ts';
import { SyncError } from './errors.ts';

/** One write as it travels on the WAL. */
export type WalEntry =
  | { op: 'upsert'; collection: string; generation: string; points: Point[] }
  | { op: 'delete'; collection: string; generation: string; ids: string[] }
  /**
   * An activation (issue 14): from this seq on, `generation` is the collection's active
   * generation and the previously active one is retired. A replica switches in the same
   * transaction that stores the entry in its WAL log, so "has applied this seq" is exactly
   * "serves the new generation as active".
   */
  | { op: 'activate'; collection: string; generation: string; group?: CommitGroup };

/**
 * A commit group (issue 14): several collections activated together. The primary appends
 * one activation entry per member, each naming every member; a replica flips the members
 * it holds in the transaction that stores the last of their entries, so it shows all of
 * them flipped or none.
 */
export interface CommitGroup {
  id: string;
  members: Array<{ collection: string; generation: string }>;
}

/** A WAL entry with its position: the JetStream stream sequence and commit time. */
export type SeqWalEntry = WalEntry & { seq: number; time: number };

const MAGIC = 0x4d574c31; // "MWL1"

interface Head {
  op: WalEntry['op'];
  collection: string;
  generation: string;
  dim: number;
  ids: string[];
  metadata?: Array<Metadata | null>;
  group?: CommitGroup;
}

/**
 * Binary WAL entry: u32 magic, u32 JSON length, JSON head (op, collection, generation,
 * dim, ids, metadata), then `ids.length × dim` float32 values (little-endian). Vectors
 * as raw floats keep entries about 4× smaller than JSON numbers and decode without
 * parsing.
 */
export function encodeWalEntry(entry: WalEntry): Uint8Array {
  const ids =
    entry.op === 'upsert' ? entry.points.map((p) => p.id) : entry.op === 'delete' ? entry.ids : [];
  const dim = entry.op === 'upsert' ? (entry.points[0]?.vector.length ?? 0) : 0;
  const head: Head = {
    op: entry.op,
    collection: entry.collection,
    generation: entry.generation,
    dim,
    ids,
  };
  if (entry.op === 'upsert') head.metadata = entry.points.map((p) => p.metadata);
  if (entry.op === 'activate' && entry.group) head.group = entry.group;
  const json = Buffer.from(JSON.stringify(head), 'utf8');
  const vecBytes = entry.op === 'upsert' ? ids.length * dim * 4 : 0;
  const out = Buffer.alloc(8 + json.length + vecBytes);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(json.length, 4);
  json.copy(out, 8);
  if (entry.op === 'upsert') {
    let off = 8 + json.length;
    for (const p of entry.points) {
      Buffer.from(p.vector.buffer, p.vector.byteOffset, p.vector.byteLength).copy(out, off);
      off += dim * 4;
    }
  }
  return out;
}

/**
 * Decodes a WAL entry. Vectors are checked again (a WAL written by an older or buggy
 * primary must not put NaN into a graph). Throws `SyncError('segment_corrupt')`-like
 * typed errors on bad bytes; never returns a partial entry.
 */
export function decodeWalEntry(bytes: Uint8Array): WalEntry {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (why: string): never => {
    throw new SyncError('stream_config', `undecodable WAL entry: ${why}`);
  };
  if (buf.length < 8 || buf.readUInt32LE(0) !== MAGIC) bad('bad magic');
  const len = buf.readUInt32LE(4);
  if (8 + len > buf.length) bad('truncated head');
  let head: Head;
  try {
    head = JSON.parse(buf.subarray(8, 8 + len).toString('utf8')) as Head;
  } catch {
    return bad('head is not JSON');
  }
  if (head.op === 'activate') {
    const group = head.group;
    if (group !== undefined) {
      const ok =
        typeof group.id === 'string' &&
        Array.isArray(group.members) &&
        group.members.every(
          (m) => typeof m?.collection === 'string' && typeof m?.generation === 'string',
        ) &&
        group.members.some(
          (m) => m.collection === head.collection && m.generation === head.generation,
        );
      if (!ok) bad('activation group must have an id and name its own entry among its members');
    }
    return {
      op: 'activate',
      collection: head.collection,
      generation: head.generation,
      ...(group ? { group } : {}),
    };
  }
  if (head.op === 'delete') {
    return {
      op: 'delete',
      collection: head.collection,
      generation: head.generation,
      ids: head.ids,
    };
  }
  const { dim, ids } = head;
  if (buf.length !== 8 + len + ids.length * dim * 4) bad('vector block has the wrong length');
  const floats = new Float32Array(ids.length * dim);
  Buffer.from(floats.buffer).set(buf.subarray(8 + len));
  const points = validatePoints(
    ids.map((id, i) => ({
      id,
      vector: floats.subarray(i * dim, (i + 1) * dim),
      metadata: head.metadata?.[i] ?? null,
    })),
    dim,
  );
  return { op: 'upsert', collection: head.collection, generation: head.generation, points };
}
