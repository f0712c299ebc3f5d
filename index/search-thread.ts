/**
 * A search thread: mirrors every {@link IndexView} of its process and answers searches
 * from the mirrors, so hnswlib's synchronous graph search runs beside the event loop
 * that parses HTTP and routes queries, not on it (decision 0012).
 *
 * Each view's messages — writes, installs, searches — are handled in arrival order, so a
 * search sees every write of its view posted before it. An install whose segments are not
 * in memory yet holds up only its own view's queue while it loads them (the main thread
 * searches that view itself meanwhile); other views go on.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { IndexView } from './index-view.ts';
import { loadSegment } from './segment-store.ts';
import { serializeError } from './worker-pool.ts';
import type { Segment } from './segment.ts';
import type { FromSearchThread, SegmentRef, ToSearchThread } from './search-protocol.ts';

type Install = Extract<ToSearchThread, { op: 'install' }>;

interface Mirror {
  view: IndexView;
  /** An install loading its segments (first), and the messages that came after it. */
  backlog: ToSearchThread[];
}

const port = parentPort!;
const scratchDir = (workerData as { scratchDir?: string }).scratchDir;
const send = (msg: FromSearchThread) => port.postMessage(msg);
const mirrors = new Map<number, Mirror>();
/** Loaded or loading segments by digest; after each install, only what a view serves or awaits stays. */
const segments = new Map<string, Promise<Segment>>();
let broken = false;

function load(ref: SegmentRef): Promise<Segment> {
  let p = segments.get(ref.digest);
  if (!p) {
    // The main thread verified this immutable, content-addressed file before installing
    // it: no second sha256 (about 1 s for a 630 MB segment, bench replication).
    p = loadSegment(ref.path, {
      expectedDigest: ref.digest,
      trustDigest: true,
      // Cleared by the main thread when threads start and close: a graph extracted by a
      // load that a terminate cut short is not left behind.
      ...(scratchDir ? { scratchDir } : {}),
    }).then((r) => r.segment);
    segments.set(ref.digest, p);
  }
  return p;
}

function mirror(id: number): Mirror {
  const m = mirrors.get(id);
  if (!m) throw new Error(`search thread: no view ${id}`);
  return m;
}

function needed(digest: string): boolean {
  for (const m of mirrors.values()) {
    if (m.view.segments.some((s) => s.digest === digest)) return true;
    for (const msg of m.backlog) {
      if (msg.op === 'install' && msg.segments.some((s) => s.digest === digest)) return true;
    }
  }
  return false;
}

function trim(): void {
  for (const digest of [...segments.keys()]) if (!needed(digest)) segments.delete(digest);
}

function apply(m: Mirror, msg: Install, loaded: Segment[]): void {
  m.view.install({ segments: loaded, tombstones: msg.tombstones, coversSeq: msg.coversSeq });
  send({ op: 'installed', view: msg.view, epoch: msg.epoch });
  trim();
}

function handle(m: Mirror, msg: ToSearchThread): void {
  switch (msg.op) {
    case 'upsert':
      m.view.upsert(msg.points, msg.seq);
      return;
    case 'delete':
      m.view.delete(msg.ids, msg.seq);
      return;
    case 'replay':
      for (const e of msg.entries) {
        if (e.point) m.view.upsert([e.point], e.seq);
        else m.view.delete([e.id], e.seq);
      }
      return;
    case 'search':
      try {
        send({ op: 'result', id: msg.id, hits: m.view.search(msg.query, msg.options) });
      } catch (err) {
        send({ op: 'failed', id: msg.id, error: serializeError(err) });
      }
      return;
    default:
      return;
  }
}

/** Loads an install's segments, applies it, then works through what queued behind it. */
async function drain(m: Mirror): Promise<void> {
  while (m.backlog.length > 0 && !broken) {
    const msg = m.backlog[0]!;
    if (msg.op === 'install') {
      try {
        const loaded = await Promise.all(msg.segments.map(load));
        m.backlog.shift();
        apply(m, msg, loaded);
      } catch (err) {
        // The mirror can no longer match its view: the main thread must stop asking it.
        broken = true;
        send({ op: 'broken', error: serializeError(err) });
      }
      continue;
    }
    m.backlog.shift();
    handle(m, msg);
  }
}

port.on('message', (msg: ToSearchThread) => {
  if (broken) return;
  if (msg.op === 'open') {
    const view = new IndexView({ dim: msg.dim, metric: msg.metric });
    mirrors.set(msg.view, { view, backlog: [] });
    return;
  }
  const m = mirror(msg.view);
  if (m.backlog.length > 0) {
    m.backlog.push(msg); // behind an install that is loading
    return;
  }
  if (msg.op !== 'install') {
    handle(m, msg);
    return;
  }
  m.backlog.push(msg);
  void drain(m);
});
