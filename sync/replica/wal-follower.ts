import { DeliverPolicy } from 'nats';
import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from 'nats';
import type { Catalog } from '../../catalog/index.ts';
import { Backoff } from '../../lib/wait.ts';
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
  /**
   * True when every seq of the stream is a WAL entry this follower must see (the hub's
   * WAL): a seq that does not follow the last one is a hole, filled by a direct get. A
   * leaf region's per-collection mirror skips other collections' seqs by design.
   */
  contiguous?: boolean;
  /**
   * The consumer name an earlier version of this follower used (a durable consumer): it is
   * deleted at start, so that it stops holding messages on the server. Optional.
   */
  legacyDurable?: string;
  /** The first WAL seq this replica needs: everything below it is applied already. */
  startSeq: number;
  /**
   * Applies a batch of decoded entries (in seq order) to the served views. Called after
   * the batch is stored in the local WAL log.
   */
  apply: (entries: SeqWalEntry[]) => void;
  /** Whether this replica keeps an entry (placement); skipped entries still advance the position. */
  keeps: (collection: string) => boolean;
  /**
   * Resolves when the collection generation's definition is known, so its entries can be
   * applied (or rejects when the follower stops). Entries must never be skipped for want of
   * it: in a leaf region the WAL mirror can run ahead of the CATALOG mirror.
   */
  awaitDefinition: (collection: string, generation: string, seq: number) => Promise<boolean>;
  /** Called after each batch with the new position and the commit time of its entry. */
  onPosition: (seq: number, commitTime: number) => void;
  onError: (err: unknown) => void;
  batchSize?: number;
  /** Test seam: runs before each batch is stored and applied. */
  beforeBatch?: (entries: number) => void | Promise<void>;
}

/** One WAL message as the follower handles it. */
interface Delivered {
  seq: number;
  time: number;
  data: Uint8Array;
}

/**
 * Follows the WAL with an ordered consumer from the first seq this node lacks, so that its
 * position is **contiguous**: it reports seq S only once it holds every entry at or below
 * S (issue 11). Nothing is acknowledged and nothing is redelivered later: the position is
 * this node's own (the local WAL log), and a restarted follower starts again right after
 * it. The ordered consumer re-creates itself from the last delivered seq when the server
 * loses a message or restarts; on the hub's WAL, where every seq is an entry, a seq that
 * skips ahead anyway is a hole, filled with a direct get before anything after it is
 * applied. An entry at or below the position (a consumer reset) changes nothing.
 */
export class WalFollower {
  private readonly o: WalFollowerOptions;
  private messages: ConsumerMessages | null = null;
  private loop: Promise<void> | null = null;
  private stopped = false;
  private readonly stream: string;
  private position: number;

  constructor(opts: WalFollowerOptions) {
    this.o = opts;
    this.stream = opts.stream ?? Streams.wal;
    this.position = opts.startSeq - 1;
  }

  /** The highest seq up to which every entry has been stored and applied. */
  get seq(): number {
    return this.position;
  }

  async start(): Promise<void> {
    const { js, jsm, startSeq, legacyDurable } = this.o;
    try {
      if (legacyDurable) {
        await jsm.consumers.delete(this.stream, legacyDurable).catch((err: unknown) => {
          if (jsErrorCode(err) !== 10014 && !/consumer not found/i.test(String(err))) throw err;
        });
      }
      // From the start by default: nats.js 2.29's ordered consumer never starts consuming
      // when given `deliver_policy: All` explicitly.
      const consumer = await js.consumers.get(this.stream, {
        filterSubjects: Subjects.walAll,
        ...(startSeq > 1
          ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq }
          : {}),
      });
      this.messages = await consumer.consume({ max_messages: this.o.batchSize ?? 256 });
    } catch (err) {
      throw fromNatsError(err, `cannot follow the WAL on ${this.stream}`);
    }
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

  private async run(messages: ConsumerMessages): Promise<void> {
    let batch: Delivered[] = [];
    const max = this.o.batchSize ?? 256;
    try {
      for await (const m of messages) {
        batch.push(delivered(m));
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
  private async flushUntilDone(batch: Delivered[]): Promise<void> {
    const backoff = new Backoff({ firstMs: 100, maxMs: 5_000 });
    while (!this.stopped) {
      try {
        await this.flush(batch);
        return;
      } catch (err) {
        if (this.stopped) return;
        this.o.onError(err);
        await backoff.wait();
      }
    }
  }

  private async flush(delivered: Delivered[]): Promise<void> {
    const batch = await this.inOrder(delivered);
    if (batch.length === 0) return;
    await this.o.beforeBatch?.(batch.length);
    const entries: SeqWalEntry[] = [];
    const stored: Array<{
      seq: number;
      collection: string;
      generation: string;
      payload: Uint8Array;
      activates?: boolean;
      group?: { id: string; held: Array<{ collection: string; generation: string }> };
    }> = [];
    for (const m of batch) {
      let entry: SeqWalEntry;
      try {
        entry = { ...decodeWalEntry(m.data), seq: m.seq, time: m.time };
      } catch (err) {
        // Never skipped: moving the position past an entry this node does not have would
        // make it claim writes it cannot serve (a consistency violation, found by
        // bench/regions when a link garbled bytes). The batch is retried and the error
        // reported until the entry can be read.
        throw new SyncError(
          'stream_config',
          `WAL entry ${m.seq} cannot be decoded: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      // An entry of a generation dropped since is skipped, as one not kept here is.
      if (!(await this.o.awaitDefinition(entry.collection, entry.generation, entry.seq))) continue;
      if (!this.o.keeps(entry.collection)) continue;
      entries.push(entry);
      stored.push({
        seq: entry.seq,
        collection: entry.collection,
        generation: entry.generation,
        payload: m.data,
        ...(entry.op === 'activate' ? { activates: true } : {}),
        // A commit group flips together the members this node holds (the others it never sees).
        ...(entry.op === 'activate' && entry.group
          ? {
              group: {
                id: entry.group.id,
                held: entry.group.members.filter((m) => this.o.keeps(m.collection)),
              },
            }
          : {}),
      });
    }
    if (stored.length > 0) this.o.catalog.appendWal(stored);
    if (entries.length > 0) this.o.apply(entries);
    const last = batch[batch.length - 1]!;
    this.position = last.seq;
    this.o.onPosition(last.seq, last.time);
  }

  /**
   * The batch from the position on, in seq order: entries at or below the position are
   * dropped (a consumer reset delivers them again), and on a contiguous stream each hole
   * before an entry is filled from the stream by sequence. A hole that cannot be filled
   * (the entry is gone from the stream) throws: the batch is retried, the position stays.
   */
  private async inOrder(batch: Delivered[]): Promise<Delivered[]> {
    const out: Delivered[] = [];
    let at = this.position;
    for (const m of batch) {
      if (m.seq <= at) continue;
      if (this.o.contiguous) {
        for (let missing = at + 1; missing < m.seq; missing++) out.push(await this.get(missing));
      }
      out.push(m);
      at = m.seq;
    }
    return out;
  }

  /** One WAL entry by sequence, straight from the stream (a hole in what was delivered). */
  private async get(seq: number): Promise<Delivered> {
    try {
      const sm = await this.o.jsm.streams.getMessage(this.stream, { seq });
      return { seq: sm.seq, time: sm.time.getTime(), data: sm.data };
    } catch (err) {
      throw new SyncError(
        'stream_config',
        `WAL entry ${seq} of ${this.stream} is missing from what was delivered and cannot be read: ${String(err)}`,
        { cause: err, transient: true },
      );
    }
  }
}

function delivered(m: JsMsg): Delivered {
  return { seq: m.info.streamSequence, time: m.info.timestampNanos / 1e6, data: m.data };
}
