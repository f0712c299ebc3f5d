/**
 * Fetch of a segment from the SEGMENTS stream into a local file: chunks are read in stream
 * order by an ordered pull consumer with a bounded window, appended to `<dest>.partial` and
 * hashed as they arrive; the first complete copy whose sha256 matches is fsynced and renamed
 * into place. A sidecar `<dest>.partial.json` records how far the partial got, so a fetch
 * cut short by a crash or a lost connection continues from there.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AckPolicy, DeliverPolicy, nanos, nuid } from 'nats';
import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from 'nats';
import { sleep } from '../lib/wait.ts';
import { SyncError, fromNatsError } from './errors.ts';
import {
  DEFAULT_WINDOW,
  assertDigest,
  hashFileInto,
  parseChunkHeaders,
  positiveInt,
} from './segment-chunks.ts';
import type { ChunkMeta } from './segment-chunks.ts';
import { Streams, Subjects } from './subjects.ts';

/** Inputs of {@link fetchSegment}. */
export interface FetchSegmentOptions {
  /** The collection the segment belongs to (part of its chunk subject). */
  collection: string;
  /** sha256 of the segment, lowercase hex. */
  digest: string;
  /** The local stream holding the collection's chunks. Default the hub's SEGMENTS (see StreamLayout). */
  stream?: string;
  /** Where the verified file ends up. Its directory is created if missing. */
  destPath: string;
  /** Chunks pulled ahead of the writer at most. Default 32, capped at {@link MAX_FETCH_WINDOW}. */
  window?: number;
  /** Give up when no chunk arrives for this long while waiting for one. Default 5 000 ms. */
  timeoutMs?: number;
  /** Stops the fetch between chunks (rejects with `stopped`); the partial is kept for resuming. */
  signal?: AbortSignal;
  /** Called after each chunk is written and recorded; a test seam for crashes and faults. */
  onChunk?: (index: number, count: number) => void | Promise<void>;
}

/** What {@link fetchSegment} produced. */
export interface FetchSegmentResult {
  path: string;
  bytes: number;
  /** Chunks in the copy that was kept (0 when `destPath` already existed). */
  chunks: number;
  ms: number;
  /** The chunk index this call continued at: 0 for a fresh fetch. */
  resumedFrom: number;
}

/** Progress of a partial copy, as the sidecar records it. */
interface Progress {
  digest: string;
  uploadId: string;
  count: number;
  totalBytes: number;
  /** Next chunk index expected; chunks below it are in the partial file. */
  nextIndex: number;
  /** Bytes of the partial that belong to the copy. */
  bytes: number;
  /** Stream sequence of the last chunk written. */
  streamSeq: number;
}

/**
 * Fetches segment `digest` into `destPath`, verifying its sha256.
 *
 * - Returns at once when `destPath` exists (segments are content-addressed; callers verify
 *   the header and digest again when they load it).
 * - Tries every complete copy on the subject in stream order; if none matches the digest,
 *   rejects with `segment_corrupt` (transient: a good upload may follow) and removes the
 *   partial. With no chunk at all within `timeoutMs`, rejects with `segment_missing`
 *   (transient).
 * - Idempotent and safe to retry; safe to abort and to crash at any point: the partial and
 *   its sidecar let the next call resume (`resumedFrom`) instead of starting over, and
 *   `destPath` only ever appears complete and verified (fsync, then rename).
 * - Survives a server restart or reconnect while it runs (the ordered consumer is recreated
 *   after the last chunk delivered); if the connection is lost for good it rejects with a
 *   transient error and a retry resumes.
 * - Not for concurrent calls with the same `destPath`: callers fetch each digest once.
 */
export async function fetchSegment(
  js: JetStreamClient,
  opts: FetchSegmentOptions,
): Promise<FetchSegmentResult> {
  const started = performance.now();
  assertDigest(opts.digest);
  const window = positiveInt('window', opts.window ?? DEFAULT_WINDOW);
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const ms = (): number => performance.now() - started;
  const existing = await stat(opts.destPath).catch(() => null);
  if (existing !== null) {
    return { path: opts.destPath, bytes: existing.size, chunks: 0, ms: ms(), resumedFrom: 0 };
  }

  await mkdir(dirname(opts.destPath), { recursive: true });
  const partial = await PartialCopy.open(opts.destPath, opts.digest);
  const resumedFrom = partial.progress.nextIndex;
  let badCopies = 0;
  try {
    // A crash right after the last chunk leaves a complete partial: judge it first.
    if (partial.isComplete()) {
      if (await partial.finishIfValid()) return done(partial, resumedFrom, ms());
      badCopies++;
      await partial.reset();
    }
    const outcome = await readChunks(js, partial, opts, window, timeoutMs, () => badCopies++);
    if (outcome === 'done') return done(partial, resumedFrom, ms());
    if (outcome === 'stopped') {
      throw new SyncError('stopped', `fetch of segment ${opts.digest} aborted`, {
        cause: opts.signal?.reason,
        transient: true,
      });
    }
    if (badCopies > 0 && partial.progress.nextIndex === 0) {
      await partial.discard();
      throw new SyncError(
        'segment_corrupt',
        `segment ${opts.digest}: no copy on the stream matches its digest (${badCopies} bad)`,
        { transient: true, details: { digest: opts.digest, badCopies } },
      );
    }
    // Nothing worth resuming: leave no empty partial behind.
    if (partial.progress.nextIndex === 0) await partial.discard();
    throw new SyncError(
      'segment_missing',
      `segment ${opts.digest}: no complete copy, and no chunk for ${timeoutMs} ms`,
      { transient: true, details: { digest: opts.digest, nextIndex: partial.progress.nextIndex } },
    );
  } finally {
    await partial.close();
  }
}

function done(partial: PartialCopy, resumedFrom: number, ms: number): FetchSegmentResult {
  const { totalBytes, count } = partial.progress;
  return { path: partial.destPath, bytes: totalBytes, chunks: count, ms, resumedFrom };
}

/**
 * An ephemeral pull consumer (in memory, no acks) on the segment's subject from `startSeq`.
 * Not nats.js's ordered consumer: its `fetch()` drops the messages that arrived behind the
 * batch's end, and its `consume()` has no backpressure (see {@link readChunks}).
 */
async function openChunkConsumer(
  js: JetStreamClient,
  { collection, digest, stream = Streams.segments }: FetchSegmentOptions,
  startSeq: number,
): Promise<{ consumer: Consumer; remove: () => void }> {
  try {
    const jsm = await js.jetstreamManager(false);
    const info = await jsm.consumers.add(stream, {
      name: `meridian-fetch-${nuid.next()}`,
      filter_subject: Subjects.segment(collection, digest),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: startSeq,
      ack_policy: AckPolicy.None,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(CONSUMER_INACTIVE_MS),
    });
    const consumer = await js.consumers.get(stream, info.name);
    const remove = (): void => {
      jsm.consumers.delete(stream, info.name).catch(() => undefined);
    };
    return { consumer, remove };
  } catch (err) {
    throw fromNatsError(err, `cannot read segment ${digest}`);
  }
}

type ReadOutcome = 'done' | 'idle' | 'stopped' | 'exhausted';

/**
 * Feeds chunk messages to the partial copy until a copy verifies ('done'), nothing arrives
 * for `timeoutMs` ('idle'), the stream is drained after a bad copy with nothing in progress
 * ('exhausted') or the signal fires ('stopped').
 *
 * Chunks are pulled `window` at a time and the next pull waits until the batch is
 * written: at most `window` chunks are ever in this process. (nats.js's `consume()` pulls
 * again as messages arrive, not as they are processed, so a writer slower than the network
 * held nearly the whole segment in memory — 730 MB of buffers for a 600 MB fetch — and
 * glibc kept it after they were freed.) A failed pull (server restart, consumer lost)
 * recreates the consumer after the last chunk seen, until `timeoutMs` passes without one.
 */
async function readChunks(
  js: JetStreamClient,
  partial: PartialCopy,
  opts: FetchSegmentOptions,
  window: number,
  timeoutMs: number,
  onBadCopy: () => void,
): Promise<ReadOutcome> {
  // Two pulls of half the window each are out at once: the server fills the second while
  // the first is written, and at most `window` chunks are ever held here.
  const batchSize = Math.max(1, Math.floor(Math.min(window, MAX_FETCH_WINDOW) / 2));
  const pulls: ConsumerMessages[] = [];
  let nextSeq = partial.progress.streamSeq + 1;
  let consumer: { consumer: Consumer; remove: () => void } | null = null;
  // Delivery sequences of one consumer count up by one: a jump means a lost delivery.
  let lastDelivery = 0;
  let current: ConsumerMessages | null = null;
  const stopAll = (): void => {
    current?.stop();
    for (const p of pulls.splice(0)) p.stop();
  };
  const drop = (): void => {
    stopAll();
    consumer?.remove();
    consumer = null;
  };
  let idle = false;
  let timer: NodeJS.Timeout | undefined;
  // The clock runs only while waiting for the server, not while we write or run onChunk.
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      idle = true;
      stopAll();
    }, timeoutMs);
  };
  const stop = (): void => stopAll();
  opts.signal?.addEventListener('abort', stop, { once: true });
  let badSeen = false;
  let lastError: unknown = null;
  try {
    arm();
    for (;;) {
      if (opts.signal?.aborted) return 'stopped';
      if (idle) {
        if (lastError !== null) throw fromNatsError(lastError, 'reading segment chunks');
        return 'idle';
      }
      // Our own errors (disk, onChunk) pass through as they are; the consumer's are retried.
      let ours = false;
      try {
        if (consumer === null) {
          consumer = await openChunkConsumer(js, opts, nextSeq);
          lastDelivery = 0;
        }
        while (pulls.length < 2) {
          pulls.push(
            await consumer.consumer.fetch({
              max_messages: batchSize,
              expires: Math.max(MIN_PULL_EXPIRES_MS, Math.min(timeoutMs, MAX_PULL_EXPIRES_MS)),
            }),
          );
        }
        current = pulls.shift()!;
        if (idle || opts.signal?.aborted) stopAll();
        for await (const m of current) {
          clearTimeout(timer);
          if (m.info.deliverySequence !== lastDelivery + 1) {
            drop(); // start again after the last chunk taken
            break;
          }
          lastDelivery = m.info.deliverySequence;
          ours = true;
          nextSeq = m.info.streamSequence + 1;
          const step = await partial.offer(m);
          if (step === 'verified') return 'done';
          if (step === 'bad') {
            onBadCopy();
            badSeen = true;
          }
          if (step === 'appended' && opts.onChunk) {
            await partial.settle(); // the seam's promise: the chunk is written and recorded
            const { nextIndex, count } = partial.progress;
            await opts.onChunk(nextIndex - 1, count);
          }
          if (opts.signal?.aborted) return 'stopped';
          // Caught up with the subject, a bad copy behind us and no copy under way: nothing
          // better is coming unless someone uploads again, and that is the caller's retry.
          if (m.info.pending === 0 && badSeen && partial.progress.nextIndex === 0) {
            return 'exhausted';
          }
          ours = false;
          arm();
        }
        lastError = null;
      } catch (err) {
        if (ours) throw err;
        if (opts.signal?.aborted) return 'stopped';
        if ((err as { code?: unknown }).code === 'CONNECTION_CLOSED') {
          throw fromNatsError(err, 'reading segment chunks');
        }
        // A restarted server lost the (in-memory) consumer, or the connection is down: pull
        // again from a new consumer after a pause, until the idle clock runs out.
        lastError = err;
        drop();
        await sleep(RETRY_PAUSE_MS);
      } finally {
        current?.stop();
        current = null;
      }
    }
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', stop);
    drop();
  }
}

/** nats.js refuses pulls that expire sooner than 1 s. */
const MIN_PULL_EXPIRES_MS = 1_000;
/** A pull that waits longer than this is renewed (and the idle clock decides when to stop). */
const MAX_PULL_EXPIRES_MS = 5_000;
const RETRY_PAUSE_MS = 100;
/** The server removes a fetch consumer a crashed process left behind after this long. */
const CONSUMER_INACTIVE_MS = 60_000;

type OfferStep = 'appended' | 'skipped' | 'verified' | 'bad';

/** The partial file of one fetch, its running hash and its sidecar. */
class PartialCopy {
  private constructor(
    readonly destPath: string,
    private readonly digest: string,
    private fh: FileHandle | null,
    private sidecar: FileHandle | null,
    private hash: Hash,
    public progress: Progress,
  ) {}

  /** Chunk writes (and their sidecar records) not known to be complete yet. */
  private inFlight: Array<Promise<void>> = [];
  /** The last of them: each record waits for the one before. */
  private tail: Promise<void> = Promise.resolve();

  private get partialPath(): string {
    return `${this.destPath}.partial`;
  }

  private get sidecarPath(): string {
    return `${this.destPath}.partial.json`;
  }

  /** Opens the partial, resuming from its sidecar when both agree, else starting empty. */
  static async open(destPath: string, digest: string): Promise<PartialCopy> {
    const partialPath = `${destPath}.partial`;
    const sidecarPath = `${partialPath}.json`;
    const saved = await readSidecar(sidecarPath, digest);
    if (saved !== null) {
      const fh = await open(partialPath, 'r+').catch(() => null);
      const size = fh === null ? -1 : (await fh.stat()).size;
      if (fh !== null && size >= saved.bytes) {
        // Bytes past the sidecar's count were written after its last update: drop them.
        await fh.truncate(saved.bytes);
        const hash = createHash('sha256');
        if ((await hashFileInto(hash, partialPath, saved.bytes)) === saved.bytes) {
          const sidecar = await open(sidecarPath, 'r+');
          return new PartialCopy(destPath, digest, fh, sidecar, hash, saved);
        }
      }
      await fh?.close();
    }
    const fh = await open(partialPath, 'w+');
    const sidecar = await open(sidecarPath, 'w+');
    const copy = new PartialCopy(destPath, digest, fh, sidecar, createHash('sha256'), {
      ...emptyProgress(digest),
    });
    await copy.saveProgress();
    return copy;
  }

  isComplete(): boolean {
    return this.progress.count > 0 && this.progress.nextIndex === this.progress.count;
  }

  /** Takes one message from the stream: appends it, skips it, or restarts the copy. */
  async offer(m: JsMsg): Promise<OfferStep> {
    const meta = parseChunkHeaders(m.headers);
    const p = this.progress;
    if (meta === null) return 'skipped';
    if (meta.index === 0) {
      // A new copy (another upload) starts: whatever was under way cannot complete.
      if (p.nextIndex > 0) await this.reset();
    } else if (p.nextIndex === 0 || !sameCopy(meta, p)) {
      return 'skipped';
    } else if (meta.index < p.nextIndex) {
      return 'skipped'; // a duplicate of a chunk already written
    } else if (meta.index > p.nextIndex) {
      await this.reset(); // a gap: this copy lost a chunk
      return 'skipped';
    }
    await this.append(meta, m.data, m.info.streamSequence);
    if (!this.isComplete()) return 'appended';
    if (await this.finishIfValid()) return 'verified';
    await this.reset();
    return 'bad';
  }

  /**
   * Writes a chunk at its place without waiting for the disk: up to
   * {@link WRITES_IN_FLIGHT} chunk writes run on the thread pool while the next chunks are
   * hashed. The sidecar record of chunk i is written only after chunk i's write and every
   * earlier record completed, so the sidecar never claims bytes that are not on disk.
   */
  private async append(meta: ChunkMeta, data: Uint8Array, seq: number): Promise<void> {
    const at = this.progress.bytes;
    const progress: Progress = {
      digest: this.digest,
      uploadId: meta.uploadId,
      count: meta.count,
      totalBytes: meta.totalBytes,
      nextIndex: meta.index + 1,
      bytes: at + data.length,
      streamSeq: seq,
    };
    this.progress = progress;
    const written = this.handle().write(data, 0, data.length, at);
    const before = this.tail;
    const step = Promise.all([written, before]).then(() => this.saveProgress(progress));
    step.catch(() => undefined); // awaited by settle(); not unhandled meanwhile
    this.tail = step;
    this.inFlight.push(step);
    this.hash.update(data);
    if (this.inFlight.length >= WRITES_IN_FLIGHT) await this.inFlight.shift();
  }

  /** Waits until every chunk appended so far is written and recorded; throws a write's error. */
  async settle(): Promise<void> {
    const steps = this.inFlight.splice(0);
    await Promise.all(steps);
  }

  /**
   * Records `progress` (default: the current one) in the sidecar: one positional write into
   * a fixed-size, space-padded record, so the file never reads as half old, half new to the
   * JSON parser. Not fsynced: after a machine crash the resume re-hashes and the final
   * digest check catches anything the sidecar overstated.
   */
  private async saveProgress(progress: Progress = this.progress): Promise<void> {
    const text = JSON.stringify(progress);
    const record = Buffer.from(text.padEnd(SIDECAR_BYTES));
    if (this.sidecar === null) throw new Error('partial segment sidecar is closed');
    await this.sidecar.write(record, 0, record.length, 0);
  }

  /** On a matching digest: fsync, rename into place, true. Otherwise false. */
  async finishIfValid(): Promise<boolean> {
    await this.settle();
    const p = this.progress;
    if (p.bytes !== p.totalBytes || this.hash.digest('hex') !== this.digest) return false;
    const fh = this.handle();
    await fh.sync();
    await this.close();
    // Sidecar first: a crash before the rename then leaves a partial without one (fresh start).
    await rm(this.sidecarPath, { force: true });
    await rename(this.partialPath, this.destPath);
    await syncDir(dirname(this.destPath));
    return true;
  }

  /** Empties the partial and forgets the copy; the stream position is kept. */
  async reset(): Promise<void> {
    await this.settle();
    await this.handle().truncate(0);
    this.hash = createHash('sha256');
    this.progress = { ...emptyProgress(this.digest), streamSeq: this.progress.streamSeq };
    await this.saveProgress();
  }

  /** Removes the partial and its sidecar (nothing on the stream is worth resuming). */
  async discard(): Promise<void> {
    await this.close();
    await rm(this.partialPath, { force: true });
    await rm(this.sidecarPath, { force: true });
  }

  /** Closes the files, keeping the partial and sidecar for a later resume. Idempotent. */
  async close(): Promise<void> {
    // Never close under a write in flight; its error, if any, was thrown by settle() or
    // is moot (the partial is resumed from the sidecar, which only counts what completed).
    await Promise.allSettled(this.inFlight.splice(0));
    const { fh, sidecar } = this;
    this.fh = null;
    this.sidecar = null;
    await fh?.close();
    await sidecar?.close();
  }

  private handle(): FileHandle {
    if (this.fh === null) throw new Error('partial segment file is closed');
    return this.fh;
  }
}

/** Size of the sidecar record: fits any progress (upload ids are at most 128 characters). */
const SIDECAR_BYTES = 512;
/** Chunk writes a fetch leaves running while it hashes the next chunks. */
const WRITES_IN_FLIGHT = 4;

/**
 * Largest pull window: 64 chunks of ~1 MiB would exceed the server's default per-client
 * `max_pending` (64 MiB), and the server would cut the connection as a slow consumer.
 */
export const MAX_FETCH_WINDOW = 48;

function sameCopy(meta: ChunkMeta, p: Progress): boolean {
  // Upload ids may differ: a retried upload within the duplicate window stores only the
  // chunks the first one never got to, so one complete copy can carry two ids.
  return meta.count === p.count && meta.totalBytes === p.totalBytes;
}

function emptyProgress(digest: string): Progress {
  return { digest, uploadId: '', count: 0, totalBytes: 0, nextIndex: 0, bytes: 0, streamSeq: 0 };
}

async function readSidecar(path: string, digest: string): Promise<Progress | null> {
  try {
    const p = JSON.parse(await readFile(path, 'utf8')) as Partial<Progress>;
    const ints = [p.count, p.totalBytes, p.nextIndex, p.bytes, p.streamSeq];
    if (p.digest !== digest || typeof p.uploadId !== 'string') return null;
    if (!ints.every((n) => Number.isSafeInteger(n) && (n as number) >= 0)) return null;
    return p as Progress;
  } catch {
    return null; // missing or torn: start over
  }
}

/** Makes a rename durable: fsync of the directory that holds it. */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
