import { DiscardPolicy, RetentionPolicy, StorageType } from 'nats';
import type { JetStreamManager, StreamConfig } from 'nats';
import { fromNatsError, jsErrorCode } from './errors.ts';
import { Streams } from './subjects.ts';

/**
 * Control plane of a follower region: its own NATS server is a leaf node of the hub in
 * its own JetStream domain, and holds mirrors of the hub's streams. Bytes cross the WAN
 * once per region (however many replicas read them there), a mirror keeps the hub's
 * sequence numbers (so WAL seqs mean the same everywhere), and a region cut off by a
 * partition catches up from where it stopped when the link heals.
 *
 * Idempotent; safe to run from every node of the region at start.
 */
export async function ensureMirrors(jsm: JetStreamManager, hubDomain: string): Promise<void> {
  for (const name of [Streams.wal, Streams.catalog, Streams.segments, Streams.state]) {
    const cfg: Partial<StreamConfig> = {
      name,
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      num_replicas: 1,
      mirror: { name, domain: hubDomain } as StreamConfig['mirror'],
      ...(name === Streams.state ? { max_msgs_per_subject: 1 } : {}),
      ...(name === Streams.catalog ? { max_msgs_per_subject: 64 } : {}),
    };
    try {
      const info = await jsm.streams.info(name).catch((err) => {
        if (jsErrorCode(err) === 10059 || /stream not found/i.test(String(err))) return null;
        throw err;
      });
      if (info) {
        if (!info.config.mirror) {
          throw new Error(
            `stream ${name} in this region is not a mirror of the hub; a leaf region must not hold its own copy`,
          );
        }
        continue;
      }
      await jsm.streams.add(cfg).catch((err) => {
        if (jsErrorCode(err) !== 10058) throw err;
      });
    } catch (err) {
      throw fromNatsError(err, `cannot set up the mirror of ${name} from domain ${hubDomain}`);
    }
  }
}
