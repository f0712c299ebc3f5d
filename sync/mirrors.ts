import { DiscardPolicy, RetentionPolicy, StorageType } from 'nats';
import type { JetStreamManager, StreamConfig } from 'nats';
import { SyncError, fromNatsError, jsErrorCode } from './errors.ts';
import { placedStreamName } from './layout.ts';
import { Streams, Subjects } from './subjects.ts';

/**
 * Control plane of a follower region (ADR 0007, ADR 0011): its own NATS server is a leaf
 * node of the hub in its own JetStream domain. It holds
 * - a mirror of STATE (beacons and heartbeats: positions, no collection data), and
 * - a mirror of CATALOG filtered to collection definitions (names, settings, placement),
 *   so every region can tell where a collection lives;
 * and, per collection placed in the region ({@link ensureCollectionMirrors}), filtered
 * mirrors of that collection's WAL entries, manifests and segment chunks. A collection
 * placed elsewhere never reaches the region's NATS store, nor crosses its WAN link.
 *
 * A mirror keeps the hub's sequence numbers (a filtered one too: the seqs of other
 * subjects are gaps), so WAL seqs mean the same in every region, and a region cut off by
 * a partition catches up from where it stopped when the link heals.
 *
 * Idempotent; safe to run from every node of the region at start.
 */
export async function ensureMirrors(jsm: JetStreamManager, hubDomain: string): Promise<void> {
  await ensureMirror(jsm, hubDomain, {
    name: Streams.state,
    source: Streams.state,
    max_msgs_per_subject: 1,
  });
  await ensureMirror(jsm, hubDomain, {
    name: Streams.catalog,
    source: Streams.catalog,
    filter: Subjects.collectionDefAll,
    max_msgs_per_subject: 64,
  });
}

/** The region's mirrors of one placed collection: WAL, manifests, segments. Idempotent. */
export async function ensureCollectionMirrors(
  jsm: JetStreamManager,
  hubDomain: string,
  collection: string,
): Promise<void> {
  await ensureMirror(jsm, hubDomain, {
    name: placedStreamName(Streams.wal, collection),
    source: Streams.wal,
    filter: Subjects.wal(collection),
  });
  await ensureMirror(jsm, hubDomain, {
    name: placedStreamName(Streams.catalog, collection),
    source: Streams.catalog,
    filter: Subjects.catalogOf(collection),
    max_msgs_per_subject: 64,
  });
  await ensureMirror(jsm, hubDomain, {
    name: placedStreamName(Streams.segments, collection),
    source: Streams.segments,
    filter: Subjects.segmentsOf(collection),
  });
}

async function ensureMirror(
  jsm: JetStreamManager,
  hubDomain: string,
  m: { name: string; source: string; filter?: string; max_msgs_per_subject?: number },
): Promise<void> {
  const cfg: Partial<StreamConfig> = {
    name: m.name,
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    num_replicas: 1,
    mirror: {
      name: m.source,
      domain: hubDomain,
      ...(m.filter ? { filter_subject: m.filter } : {}),
    } as StreamConfig['mirror'],
    ...(m.max_msgs_per_subject ? { max_msgs_per_subject: m.max_msgs_per_subject } : {}),
  };
  try {
    const info = await jsm.streams.info(m.name).catch((err) => {
      if (jsErrorCode(err) === 10059 || /stream not found/i.test(String(err))) return null;
      throw err;
    });
    if (info) {
      const mirror = info.config.mirror;
      if (!mirror) {
        throw new SyncError(
          'stream_config',
          `stream ${m.name} in this region is not a mirror of the hub; a leaf region must not hold its own copy`,
        );
      }
      if (mirror.name !== m.source || (mirror.filter_subject ?? '') !== (m.filter ?? '')) {
        // A mirror's source cannot be changed in place; an operator must delete it.
        throw new SyncError(
          'stream_config',
          `stream ${m.name} in this region mirrors ${mirror.name} filtered to ` +
            `${JSON.stringify(mirror.filter_subject ?? '')}, expected ${m.source} filtered to ` +
            `${JSON.stringify(m.filter ?? '')}; delete it (nats stream rm ${m.name}) and restart`,
        );
      }
      return;
    }
    await jsm.streams.add(cfg).catch((err) => {
      if (jsErrorCode(err) !== 10058) throw err;
    });
  } catch (err) {
    if (err instanceof SyncError) throw err;
    throw fromNatsError(
      err,
      `cannot set up the mirror ${m.name} of ${m.source} from domain ${hubDomain}`,
    );
  }
}
