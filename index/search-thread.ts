/**
 * A search thread: mirrors every {@link IndexView} of its process and answers searches
 * from the mirrors, so hnswlib's synchronous graph search runs beside the event loop
 * that parses HTTP and routes queries, not on it (ADR 0012).
 *
 * Messages are handled strictly in arrival order — writes, installs and searches share
 * one queue — so a search sees every write the main thread posted before it. Only an
 * install whose segments are not in memory yet holds the queue up; `prepare` loads them
 * ahead (outside the queue) so that normally nothing waits.
 */
import { parentPort } from 'node:worker_threads';
import { IndexView } from './index-view.ts';
import { loadSegment } from './segment-store.ts';
import { serializeError } from './worker-pool.ts';
import type { Segment } from './segment.ts';
import type { FromSearchThread, SegmentRef, ToSearchThread } from './search-protocol.ts';

const port = parentPort!;
const send = (msg: FromSearchThread) => port.postMessage(msg);
const views = new Map<number, IndexView>();
/** Loaded or loading segments by digest; trimmed to what some view serves after each install. */
const segments = new Map<string, Promise<Segment>>();
/** Prepared ahead of an install (digest → when): kept through trims for a while. */
const pinned = new Map<string, number>();
const PIN_MS = 5 * 60_000;
const backlog: ToSearchThread[] = [];
let waiting = false;
let broken = false;

function load(ref: SegmentRef): Promise<Segment> {
  let p = segments.get(ref.digest);
  if (!p) {
    // The main thread verified this immutable, content-addressed file before it asked:
    // no second sha256 (about 1 s for a 630 MB segment, bench replication).
    p = loadSegment(ref.path, { expectedDigest: ref.digest, trustDigest: true }).then(
      (r) => r.segment,
    );
    segments.set(ref.digest, p);
    p.catch(() => segments.delete(ref.digest));
  }
  return p;
}

function view(id: number): IndexView {
  const v = views.get(id);
  if (!v) throw new Error(`search thread: no view ${id}`);
  return v;
}

function trim(): void {
  for (const [digest, p] of segments) {
    // Only settled segments go, and only if nothing serves, awaits or was just given them.
    const drop = () => {
      const pin = pinned.get(digest);
      if (pin !== undefined && Date.now() - pin < PIN_MS) return;
      pinned.delete(digest);
      if (!served(digest) && !backlogNeeds(digest)) segments.delete(digest);
    };
    p.then(drop, drop);
  }
}

function served(digest: string): boolean {
  for (const v of views.values()) if (v.segments.some((s) => s.digest === digest)) return true;
  return false;
}

function backlogNeeds(digest: string): boolean {
  return backlog.some((m) => m.op === 'install' && m.segments.some((s) => s.digest === digest));
}

async function install(msg: Extract<ToSearchThread, { op: 'install' }>): Promise<void> {
  const loaded = await Promise.all(msg.segments.map(load));
  for (const s of msg.segments) pinned.delete(s.digest);
  view(msg.view).install({
    segments: loaded,
    tombstones: msg.tombstones,
    coversSeq: msg.coversSeq,
  });
}

function handle(msg: ToSearchThread): void {
  switch (msg.op) {
    case 'open':
      views.set(msg.view, new IndexView({ dim: msg.dim, metric: msg.metric }));
      return;
    case 'upsert':
      view(msg.view).upsert(msg.points, msg.seq);
      return;
    case 'delete':
      view(msg.view).delete(msg.ids, msg.seq);
      return;
    case 'search':
      try {
        send({ op: 'result', id: msg.id, hits: view(msg.view).search(msg.query, msg.options) });
      } catch (err) {
        send({ op: 'failed', id: msg.id, error: serializeError(err) });
      }
      return;
    default:
      return;
  }
}

/** Works through the queue; an install waits for its segments, and everything behind it too. */
async function drain(): Promise<void> {
  while (backlog.length > 0 && !broken) {
    const msg = backlog[0]!;
    if (msg.op === 'install') {
      waiting = true;
      try {
        await install(msg);
      } catch (err) {
        // The mirror no longer matches its view: the main thread must stop asking it.
        broken = true;
        send({ op: 'broken', error: serializeError(err) });
      }
      waiting = false;
      backlog.shift();
      trim();
      continue;
    }
    backlog.shift();
    handle(msg);
  }
}

port.on('message', (msg: ToSearchThread) => {
  if (msg.op === 'prepare') {
    for (const s of msg.segments) pinned.set(s.digest, Date.now());
    Promise.all(msg.segments.map(load)).then(
      () => send({ op: 'prepared', id: msg.id }),
      (err: unknown) => send({ op: 'prepared', id: msg.id, error: serializeError(err) }),
    );
    return;
  }
  if (broken) return;
  if (msg.op === 'search' && !waiting && backlog.length === 0) {
    handle(msg); // the common case: nothing queued, answer at once
    return;
  }
  backlog.push(msg);
  if (!waiting && backlog.length === 1) void drain();
});
