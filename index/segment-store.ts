import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IndexError } from './errors.ts';
import { HierarchicalNSW } from './hnsw.ts';
import type { HnswIndex } from './hnsw.ts';
import { trackNative } from './native-calls.ts';
import { Segment } from './segment.ts';
import { WorkerPool, serializeError } from './worker-pool.ts';
import type { MessagePort } from 'node:worker_threads';
import type { BuildRequest, BuildResult, UnpackRequest, UnpackResult } from './segment-jobs.ts';
import type { SegmentHeader, SeqPoint } from './types.ts';

const counters = { builds: 0, loads: 0 };

/**
 * How many segment builds and loads this process has started. A follower must show
 * `builds === 0`: it loads what the primary built (tests and /metrics read this).
 */
export function indexStats(): Readonly<typeof counters> {
  return { ...counters };
}

/**
 * Two workers: one long HNSW build does not hold up verifying a segment that arrived. A
 * worker stays warm 30 s after its last job. It ends 2 s after a job that left more than
 * 64 MB in its isolate (an unpack of a large segment leaves hundreds of MB of garbage that
 * an idle isolate never collects). Ending every worker 2 s after any job cost a cluster
 * that seals every 1.5 s a worker start per apply on every replica: follower lag p99 in
 * the regions bench was 200 / 430 / 374 ms with it and 35 / 165 / 221 ms with 30 s.
 */
let pool: WorkerPool | null = null;
let background: WorkerPool | null = null;
function workers(): WorkerPool {
  pool ??= new WorkerPool('segment-worker', 2, 30_000, 2_000);
  return pool;
}

/**
 * Merges (decision 0015) build on their own worker at the lowest CPU priority (nice 19,
 * that thread only): on a busy node a merge takes what seals, writes and queries leave,
 * as RocksDB's low-priority compaction pool does, and never queues a seal behind it.
 */
function backgroundWorkers(): WorkerPool {
  background ??= new WorkerPool('segment-worker', 1, 30_000, 2_000, { nice: 19 });
  return background;
}

/** How this thread has segment files verified and unpacked (see {@link useUnpacker}). */
type Unpacker = (request: UnpackRequest) => Promise<UnpackResult>;
let unpacker: Unpacker | null = null;

/**
 * Routes this thread's unpacks elsewhere. A view thread asks its process's index workers
 * (see {@link unpackTo}) instead of starting workers of its own: one pool per process.
 */
export function useUnpacker(fn: Unpacker): void {
  unpacker = fn;
}

function unpack(request: UnpackRequest): Promise<UnpackResult> {
  return unpacker ? unpacker(request) : workers().run<UnpackRequest, UnpackResult>(request);
}

/**
 * Verifies and unpacks a segment file on this process's index workers, for another
 * thread: the worker answers on `reply` directly (`{ok, value}` or `{ok: false, error}`),
 * so the result never passes through this thread.
 */
export function unpackTo(request: UnpackRequest, reply: MessagePort): void {
  workers()
    .runTo(request, reply)
    .catch((err: unknown) => {
      try {
        reply.postMessage({ ok: false, error: serializeError(err) });
        reply.close();
      } catch {
        // the asking thread has ended: no one to tell
      }
    });
}

/** Stops the index worker threads (tests and graceful shutdown). Idempotent. */
export async function closeIndexWorkers(): Promise<void> {
  const p = pool;
  const b = background;
  pool = null;
  background = null;
  await Promise.all([p?.close(), b?.close()]);
}

export interface BuildSegmentOptions {
  collection: string;
  generation: string;
  dim: number;
  metric: SegmentHeader['metric'];
  hnsw: SegmentHeader['hnsw'];
  /** Directory for segment files; the new file is `<dir>/<sha256>`. */
  dir: string;
  /** Build on the low-priority background worker (merges), not beside seals. */
  background?: boolean;
}

/**
 * Builds a segment file from validated points in a worker thread and returns its
 * digest and path. The event loop stays free for queries while the graph is built.
 * Idempotent (same points, same bytes, same digest).
 */
export async function buildSegment(
  points: readonly SeqPoint[],
  opts: BuildSegmentOptions,
): Promise<BuildResult> {
  if (points.length === 0) {
    throw new IndexError('build_failed', 'a segment needs at least one point');
  }
  counters.builds++;
  const { dim } = opts;
  const vectors = new Float32Array(points.length * dim);
  const seqs = new Float64Array(points.length);
  let minSeq = Infinity;
  let maxSeq = -Infinity;
  points.forEach((p, i) => {
    vectors.set(p.vector, i * dim);
    seqs[i] = p.seq;
    minSeq = Math.min(minSeq, p.seq);
    maxSeq = Math.max(maxSeq, p.seq);
  });
  await mkdir(opts.dir, { recursive: true });
  const request: BuildRequest = {
    op: 'build',
    header: {
      collection: opts.collection,
      generation: opts.generation,
      dim,
      metric: opts.metric,
      count: points.length,
      minSeq,
      maxSeq,
      hnsw: opts.hnsw,
      createdAt: new Date().toISOString(),
    },
    ids: points.map((p) => p.id),
    seqs,
    vectors,
    metadata: points.map((p) => p.metadata),
    dir: opts.dir,
  };
  const on = opts.background ? backgroundWorkers() : workers();
  return on.run<BuildRequest, BuildResult>(request, [vectors.buffer as ArrayBuffer]);
}

export interface LoadSegmentOptions {
  /** The digest the file must hash to (normally its name); null skips the comparison. */
  expectedDigest: string | null;
  /** What the header must say; any difference is a `segment_mismatch`. */
  expect?: Partial<Pick<SegmentHeader, 'collection' | 'generation' | 'dim' | 'metric'>>;
  /** Scratch directory for the extracted graph (default: the OS temp dir). */
  scratchDir?: string;
  /**
   * The file was verified against `expectedDigest` by this process already: skip the
   * hash (structure and Arrow data are still checked): a segment fetched and hashed a
   * moment ago (see SegmentRef.verified).
   */
  trustDigest?: boolean;
}

export interface LoadTimings {
  /** Hashing and unpacking in the worker. */
  verifyMs: number;
  /** hnswlib readIndex (off the event loop) and building the id map. */
  loadMs: number;
}

/**
 * Verifies a segment file (magic, version, header, lengths, sha256, Arrow data) in a
 * worker thread, then loads its graph with hnswlib's asynchronous `readIndex`.
 * Nothing is loaded unless every check passes; failures are typed `IndexError`s.
 * Read-only on the file; safe to call again.
 */
export async function loadSegment(
  path: string,
  opts: LoadSegmentOptions,
): Promise<{ segment: Segment; timings: LoadTimings }> {
  const graphPath = join(
    opts.scratchDir ?? tmpdir(),
    `meridian-${randomBytes(8).toString('hex')}.hnsw`,
  );
  const t0 = performance.now();
  counters.loads++;
  const base = { op: 'unpack', path, expectedDigest: opts.expectedDigest } as const;
  try {
    if (opts.trustDigest && opts.expectedDigest !== null) {
      // Nothing to hash: one worker writes the graph out while another decodes the data,
      // and hnswlib reads the graph while the data is still decoding.
      const trusted = { ...base, trustDigest: true, withVectors: false } as const;
      const graph = unpack({ ...trusted, graphPath, part: 'graph' });
      const data = unpack({ ...trusted, graphPath: null, part: 'data' });
      data.catch(() => undefined); // awaited below; not unhandled while the graph comes
      let read: Promise<HnswIndex> | null = null;
      try {
        const g = await graph;
        const t1 = performance.now();
        checkExpected(g, opts.expect);
        read = readGraph(graphPath, g.header);
        const [res, index] = await Promise.all([data, read]);
        const segment = new Segment({ ...res, path, index });
        return { segment, timings: { verifyMs: t1 - t0, loadMs: performance.now() - t1 } };
      } finally {
        // Neither job nor the native read may be left running behind an error.
        await Promise.allSettled([graph, data, ...(read ? [read] : [])]);
      }
    }
    const res = await unpack({
      ...base,
      ...(opts.trustDigest ? { trustDigest: true } : {}),
      graphPath,
      withVectors: false,
    });
    const t1 = performance.now();
    checkExpected(res, opts.expect);
    const index = await readGraph(graphPath, res.header);
    const segment = new Segment({ ...res, path, index });
    return { segment, timings: { verifyMs: t1 - t0, loadMs: performance.now() - t1 } };
  } finally {
    await rm(graphPath, { force: true });
  }
}

/** Loads an extracted graph with hnswlib and checks it against the segment's header. */
async function readGraph(graphPath: string, header: UnpackResult['header']): Promise<HnswIndex> {
  const index = new HierarchicalNSW(header.metric, header.dim);
  // Asynchronous (off this thread's loop), and tracked: its thread must not end while it runs.
  await trackNative(() => index.readIndex(graphPath));
  if (index.getCurrentCount() !== header.count || index.getNumDimensions() !== header.dim) {
    throw new IndexError(
      'segment_corrupt',
      `segment graph holds ${index.getCurrentCount()} points of ${index.getNumDimensions()} dims, header says ${header.count} of ${header.dim}`,
    );
  }
  return index;
}

/**
 * Reads every point of a segment file back (verified), for compaction and for tests
 * that compare replicas. Runs in a worker.
 */
export async function readSegmentPoints(
  path: string,
  expectedDigest: string | null,
  opts: { background?: boolean } = {},
): Promise<{ header: UnpackResult['header']; points: SeqPoint[] }> {
  const request: UnpackRequest = {
    op: 'unpack',
    path,
    expectedDigest,
    graphPath: null,
    withVectors: true,
  };
  const res = opts.background
    ? await backgroundWorkers().run<UnpackRequest, UnpackResult>(request)
    : await unpack(request);
  const dim = res.header.dim;
  const points = res.ids.map((id, i) => ({
    id,
    seq: res.seqs[i]!,
    vector: res.vectors!.slice(i * dim, (i + 1) * dim),
    metadata: res.metadata[i] ?? null,
  }));
  return { header: res.header, points };
}

function checkExpected(res: UnpackResult, expect: LoadSegmentOptions['expect']): void {
  if (!expect) return;
  for (const key of ['collection', 'generation', 'dim', 'metric'] as const) {
    const want = expect[key];
    if (want !== undefined && res.header[key] !== want) {
      throw new IndexError(
        'segment_mismatch',
        `segment ${res.digest.slice(0, 12)} is for ${key} ${JSON.stringify(res.header[key])}, expected ${JSON.stringify(want)}`,
      );
    }
  }
}

/**
 * Verifies a segment file and writes its HNSW graph alone to `graphPath`, as hnswlib's
 * own `writeIndex` would have: for tools and benchmarks that load it with raw hnswlib.
 */
export async function extractSegmentGraph(
  path: string,
  expectedDigest: string,
  graphPath: string,
): Promise<void> {
  await unpack({ op: 'unpack', path, expectedDigest, graphPath, withVectors: false });
}
