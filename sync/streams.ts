import { DiscardPolicy, RetentionPolicy, StorageType } from 'nats';
import type { JetStreamManager, StreamConfig } from 'nats';
import { fromNatsError, jsErrorCode } from './errors.ts';
import { Streams, Subjects } from './subjects.ts';

/** Stream settings an operator may tune. */
export interface StreamOptions {
  /** How many manifests (and definitions) per collection the CATALOG stream keeps. */
  manifestsKept: number;
  /** Window in which a retried publish with the same message id is stored once. */
  duplicateWindowMs: number;
}

export const defaultStreamOptions: StreamOptions = {
  manifestsKept: 64,
  duplicateWindowMs: 2 * 60_000,
};

const ns = (ms: number) => ms * 1_000_000;

/** The configuration of each Meridian stream on the hub. */
export function streamConfigs(opts: StreamOptions = defaultStreamOptions): Partial<StreamConfig>[] {
  const common = {
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    num_replicas: 1,
  };
  return [
    {
      ...common,
      name: Streams.wal,
      subjects: [Subjects.walAll],
      duplicate_window: ns(opts.duplicateWindowMs),
    },
    {
      ...common,
      name: Streams.catalog,
      subjects: [Subjects.catalogAll],
      max_msgs_per_subject: opts.manifestsKept,
      duplicate_window: ns(opts.duplicateWindowMs),
    },
    {
      ...common,
      name: Streams.segments,
      subjects: [Subjects.segmentsAll],
      duplicate_window: ns(opts.duplicateWindowMs),
    },
    {
      ...common,
      name: Streams.state,
      subjects: [Subjects.stateAll],
      max_msgs_per_subject: 1,
      max_age: ns(60 * 60_000),
    },
  ];
}

/**
 * Creates the Meridian streams if they are missing and brings their subjects and limits
 * up to date if they differ. Control plane only; data-plane code assumes they exist.
 * Idempotent and safe to run from several processes at once.
 */
export async function ensureStreams(
  jsm: JetStreamManager,
  opts: StreamOptions = defaultStreamOptions,
): Promise<void> {
  for (const cfg of streamConfigs(opts)) {
    const name = cfg.name!;
    try {
      const info = await jsm.streams.info(name).catch((err) => {
        if (jsErrorCode(err) === 10059 || /stream not found/i.test(String(err))) return null;
        throw err;
      });
      if (!info) {
        try {
          await jsm.streams.add(cfg);
        } catch (err) {
          // Another process created it between our info and add: fine if it matches.
          if (jsErrorCode(err) !== 10058) throw err;
        }
        continue;
      }
      const cur = info.config;
      const differs =
        JSON.stringify(cur.subjects) !== JSON.stringify(cfg.subjects) ||
        (cfg.max_msgs_per_subject ?? 0) !== (cur.max_msgs_per_subject ?? 0) ||
        (cfg.duplicate_window !== undefined && cfg.duplicate_window !== cur.duplicate_window);
      if (differs) await jsm.streams.update(name, { ...cur, ...cfg });
    } catch (err) {
      throw fromNatsError(err, `cannot set up stream ${name}`);
    }
  }
}
