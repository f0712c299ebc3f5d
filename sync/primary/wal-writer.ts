import { randomUUID } from 'node:crypto';
import { headers } from 'nats';
import type { JetStreamClient, JetStreamManager } from 'nats';
import { SyncError, fromNatsError, jsErrorCode } from '../errors.ts';
import { Headers, Streams, Subjects } from '../subjects.ts';
import { encodeWalEntry } from '../wal-codec.ts';
import type { WalEntry } from '../wal-codec.ts';

/** A WAL append JetStream has durably stored. */
export interface Appended {
  seq: number;
  /** True when JetStream recognised the message id: an earlier try was already stored. */
  duplicate: boolean;
  /** The message id used (give the same one to retry the same write). */
  msgId: string;
}

/**
 * Appends writes to the WAL and waits for JetStream's durable ack. Every write carries a
 * message id; a retry with the same id inside the stream's duplicate window is stored
 * once and answers with the original seq. A timeout is reported as transient: the write
 * may or may not be stored, and retrying with the same id is the safe next step.
 */
export class WalWriter {
  constructor(
    private readonly js: JetStreamClient,
    private readonly timeoutMs = 5_000,
  ) {}

  async append(entry: WalEntry, msgId: string = randomUUID()): Promise<Appended> {
    const h = headers();
    h.set(Headers.collection, entry.collection);
    h.set(Headers.generation, entry.generation);
    h.set(Headers.op, entry.op);
    try {
      const ack = await this.js.publish(Subjects.wal(entry.collection), encodeWalEntry(entry), {
        msgID: msgId,
        headers: h,
        timeout: this.timeoutMs,
      });
      return { seq: ack.seq, duplicate: ack.duplicate, msgId };
    } catch (err) {
      const e = fromNatsError(err, `WAL append for ${entry.collection} failed`);
      throw new SyncError(e.code === 'nats_unavailable' ? 'publish_timeout' : e.code, e.message, {
        cause: err,
        transient: e.transient,
        details: { msgId },
      });
    }
  }
}

/** The seq of `collection`'s last WAL entry on the hub's WAL stream (0 when it has none). */
export async function lastWalSeqOf(jsm: JetStreamManager, collection: string): Promise<number> {
  try {
    const m = await jsm.streams.getMessage(Streams.wal, { last_by_subj: Subjects.wal(collection) });
    return m.seq;
  } catch (err) {
    if (jsErrorCode(err) === 10037 || /no message found/i.test(String(err))) return 0;
    throw fromNatsError(err, `cannot read the last WAL entry of ${collection}`);
  }
}
