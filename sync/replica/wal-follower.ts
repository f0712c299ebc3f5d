import { AckPolicy, DeliverPolicy } from 'nats';
import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from 'nats';
import type { Catalog } from '../../catalog/index.ts';
import { SyncError, fromNatsError, jsErrorCode } from '../errors.ts';
import { Streams, Subjects } from '../subjects.ts';
import { decodeWalEntry } from '../wal-codec.ts';
import type { SeqWalEntry } from '../wal-codec.ts';

export interface WalFollowerOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  catalog: Catalog;
  /** The local stream to follow. Default the hub's WAL (a leaf region has one per collection). */
  stream?: string;
  /** Durable consumer name: one per replica node (and stream). */
  durable: string;
  /** The first WAL seq this replica needs (used when the consumer is created or recreated). */
  startSeq: number;
  /**
   * Applies a batch of decoded entries (in seq order) to the served views. Called after
   * the batch is stored in the local WAL log and before it is acked.
   */
  apply: (entries: SeqWalEntry[]) => void;
  /** Whether this replica keeps an entry (placement); skipped entries still advance the position. */
  keeps: (entry: SeqWalEntry) => boolean;
  /**
   * Resolves when the collection generation's definition is known, so its entries can be
   * applied (or rejects when the follower stops). Entries must never be skipped for want of
   * it: in a leaf region the WAL mirror can run ahead of the CATALOG mirror.
   */
  awaitDefinition: (collection: string, generation: string) => Promise<void>;
  /** Called after each batch with the new contiguous position and its commit time. */
  onPosition: (seq: number, commitTime: number) => void;
  onError: (err: unknown) => void;
  batchSize?: number;
  /** Test seam: runs before each batch is stored and applied. */
  beforeBatch?: (entries: number) => void | Promise<void>;
}

/**
 * Consumes the WAL with a durable JetStream consumer and acks each entry only after it
 * is stored in the local WAL log (SQLite) and applied to the memtable, so an acked write
 * survives a crash of this node. Entries arrive in stream order, so the position it
 * reports is contiguous. A redelivered entry is stored once (INSERT OR IGNORE) and
 * changes no view (older seqs never replace newer ones).
 */
export class WalFollower {
  private readonly o: WalFollowerOptions;
  private messages: ConsumerMessages | null = null;
  private loop: Promise<void> | null = null;
  private stopped = false;

  private readonly stream: string;

  constructor(opts: WalFollowerOptions) {
    this.o = opts;
    this.stream = opts.stream ?? Streams.wal;
  }

  async start(): Promise<void> {
    await this.ensureConsumer();
    const consumer = await this.o.js.consumers.get(this.stream, this.o.durable);
    this.messages = await consumer.consume({ max_messages: this.o.batchSize ?? 256 });
    if (this.stopped) {
      await this.messages.close().catch(() => undefined);
      return;
    }
    this.loop = this.run(this.messages);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // close() resolves only once the loop has read the iterator to its end, so the loop
    // must keep iterating (no early break) while close() is pending.
    await this.messages?.close().catch(() => undefined);
    await this.loop?.catch(() => undefined);
  }

  /**
   * Creates the durable consumer at `startSeq`, or recreates it when the server's
   * position is past what this node has stored (a wiped data directory): the server
   * must never skip entries this node does not have.
   */
  private async ensureConsumer(): Promise<void> {
    const { jsm, durable, startSeq } = this.o;
    try {
      const info = await jsm.consumers.info(this.stream, durable).catch((err) => {
        if (jsErrorCode(err) === 10014 || /consumer not found/i.test(String(err))) return null;
        throw err;
      });
      if (info && info.ack_floor.stream_seq >= startSeq) {
        await jsm.consumers.delete(this.stream, durable);
      } else if (info) {
        return;
      }
      await jsm.consumers.add(this.stream, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: startSeq <= 1 ? DeliverPolicy.All : DeliverPolicy.StartSequence,
        ...(startSeq > 1 ? { opt_start_seq: startSeq } : {}),
        filter_subject: Subjects.walAll,
        max_ack_pending: 4096,
        ack_wait: 30_000_000_000,
      });
    } catch (err) {
      throw fromNatsError(err, `cannot set up WAL consumer ${durable}`);
    }
  }

  private async run(messages: ConsumerMessages): Promise<void> {
    let batch: JsMsg[] = [];
    const max = this.o.batchSize ?? 256;
    try {
      for await (const m of messages) {
        batch.push(m);
        if (m.info.pending === 0 || batch.length >= max) {
          await this.flushUntilDone(batch);
          batch = [];
        }
      }
    } catch (err) {
      if (!this.stopped) this.o.onError(err);
    }
  }

  /**
   * Applies a batch, retrying it in place until it succeeds (or the follower stops): the
   * position must stay contiguous, so a batch is never skipped or reordered. Safe because
   * storing and applying are idempotent by seq.
   */
  private async flushUntilDone(batch: JsMsg[]): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.flush(batch);
        return;
      } catch (err) {
        if (this.stopped) return;
        this.o.onError(err);
        await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** attempt)));
      }
    }
  }

  private async flush(batch: JsMsg[]): Promise<void> {
    await this.o.beforeBatch?.(batch.length);
    const entries: SeqWalEntry[] = [];
    const stored: Array<{
      seq: number;
      collection: string;
      generation: string;
      payload: Uint8Array;
    }> = [];
    for (const m of batch) {
      let entry: SeqWalEntry;
      try {
        entry = {
          ...decodeWalEntry(m.data),
          seq: m.info.streamSequence,
          time: m.info.timestampNanos / 1e6,
        };
      } catch (err) {
        // Never skipped: moving the position past an entry this node does not have would
        // make it claim writes it cannot serve (a consistency violation, found by
        // bench/regions when a link garbled bytes). The batch is retried and the error
        // reported until the entry can be read.
        throw new SyncError(
          'stream_config',
          `WAL entry ${m.info.streamSequence} cannot be decoded: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      await this.o.awaitDefinition(entry.collection, entry.generation);
      if (!this.o.keeps(entry)) continue;
      entries.push(entry);
      stored.push({
        seq: entry.seq,
        collection: entry.collection,
        generation: entry.generation,
        payload: m.data,
      });
    }
    if (stored.length > 0) this.o.catalog.appendWal(stored);
    if (entries.length > 0) this.o.apply(entries);
    for (const m of batch) m.ack();
    const last = batch[batch.length - 1]!;
    this.o.onPosition(last.info.streamSequence, last.info.timestampNanos / 1e6);
  }
}
