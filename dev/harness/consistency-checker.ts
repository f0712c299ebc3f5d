/**
 * Consistency checker for recorded Meridian histories (DESIGN.md, "Reads and consistency").
 * Pure: no I/O, no clocks except in {@link HistoryRecorder}'s default.
 *
 * The workload it judges gives every point id one fixed vector; an upsert of id X writes it
 * with metadata `{tag}` (a tag unique to that write), a delete removes X, and a read is a
 * k=1 exact query for X's vector, so its answer shows X's state on the replica that served
 * it: the tag of the upsert it reflects, or absent (`null`).
 *
 * How an observed state is placed in the WAL. Every write has a *seq range* [lo, hi] of WAL
 * positions it may hold: its `seq` when known; otherwise lo = 1 + the highest known seq of a
 * write of the same id acked before it started (that write was committed first), and hi =
 * the lowest known seq of a same-id write that started after it was acked, minus 1 (only
 * when it was acked; an unacked write may still be committed at any later time, so hi = ∞).
 * An observed state is produced by one of its *candidates*:
 * - a tag: the upserts of that id with that tag that started before the read ended;
 * - absent: the initial state (seq 0) or any delete of that id that started before the read
 *   ended.
 * The state's range is [min lo, max hi] over its candidates, so absent always has lo = 0
 * and hi = the best delete (∞ if any candidate delete has no known seq).
 *
 * Every ordering rule asks "can the observed state be at least as new as write W?", i.e.
 * `state.hi >= W.lo`: exact where seqs are known, lenient where they are not, so a legal
 * history is never flagged. A read whose tag has no candidate is reported once, under
 * no-phantom, and skipped by the ordering rules.
 */

/** The consistency guarantees the checker knows, in report order. */
export const GUARANTEES = [
  'strong',
  'session-ryw',
  'session-monotonic',
  'bounded',
  'no-phantom',
] as const;

/** One guarantee checked by {@link checkHistory}. */
export type Guarantee = (typeof GUARANTEES)[number];

/** An upsert or delete of one id, as the client saw it. Times are ms on one clock. */
export interface WriteRecord {
  type: 'write';
  client: string;
  id: string;
  op: 'upsert' | 'delete';
  /** Unique per write; an upsert stores it as metadata `{tag}`. */
  tag: string;
  start: number;
  end: number;
  /** The primary answered with success. An unacked write may still have been applied. */
  acked: boolean;
  /** WAL seq from the answer, when the write was acked. */
  seq?: number;
}

/** A k=1 exact query for one id's vector, and what its answer showed. */
export interface ReadRecord {
  type: 'read';
  client: string;
  id: string;
  level: 'strong' | 'bounded' | 'session' | 'eventual';
  maxStalenessMs?: number;
  start: number;
  end: number;
  /** false = the read failed (e.g. 503); failed reads are not checked. */
  ok: boolean;
  /** Tag of the upsert the answer reflects; null = the id was absent from the answer. */
  observedTag: string | null;
  region: string;
  appliedSeq: number;
  stalenessMs: number;
  /** Seq inside the session token the client sent. */
  tokenSeq?: number;
}

/** One recorded operation. */
export type HistoryRecord = WriteRecord | ReadRecord;

/** A read that broke a guarantee, and why. */
export interface Violation {
  guarantee: Guarantee;
  read: ReadRecord;
  message: string;
}

/**
 * Result of {@link checkHistory}. `checked` counts the ok reads a guarantee applied to;
 * `violations` counts the reads that broke it (one entry per read and guarantee, its
 * message joining every reason).
 */
export interface CheckReport {
  guarantees: Record<Guarantee, { checked: number; violations: number }>;
  violations: Violation[];
  ok: boolean;
}

/** Inclusive bounds on a WAL seq; `hi` is Infinity when nothing bounds it. */
interface SeqRange {
  lo: number;
  hi: number;
}

interface RangedWrite {
  rec: WriteRecord;
  range: SeqRange;
}

interface ObservedState extends SeqRange {
  label: string;
}

/** The writes of one id, with their seq ranges. */
interface IdWrites {
  writes: RangedWrite[];
  /** Acked writes sorted by end, with the running highest-`lo` write: the floor index. */
  ackedByEnd: MaxBefore<RangedWrite>;
  /** The same per writing client, for read-your-writes. */
  ackedByEndOf: Map<string, MaxBefore<RangedWrite>>;
}

interface WriteIndex {
  byId: Map<string, IdWrites>;
  byTag: Map<string, WriteRecord[]>;
}

/** "The item with the highest value among those whose time is below t", by binary search. */
class MaxBefore<T> {
  private readonly times: number[];
  private readonly best: T[];

  constructor(items: readonly T[], time: (x: T) => number, value: (x: T) => number) {
    const sorted = [...items].sort((a, b) => time(a) - time(b));
    this.times = sorted.map(time);
    this.best = [];
    let top: T | undefined;
    for (const item of sorted) {
      if (top === undefined || value(item) > value(top)) top = item;
      this.best.push(top);
    }
  }

  /** The best item with time strictly below `t`, or null. */
  before(t: number): T | null {
    let lo = 0;
    let hi = this.times.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.times[mid] ?? Infinity) < t) lo = mid + 1;
      else hi = mid;
    }
    return this.best[lo - 1] ?? null;
  }
}

function isWrite(r: HistoryRecord): r is WriteRecord {
  return r.type === 'write';
}

function isRead(r: HistoryRecord): r is ReadRecord {
  return r.type === 'read';
}

function groupBy<T>(items: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const list = out.get(key(item));
    if (list) list.push(item);
    else out.set(key(item), [item]);
  }
  return out;
}

/** The WAL positions `w` may hold, from its own seq or from the same-id writes around it. */
function seqRange(w: WriteRecord, sameId: readonly WriteRecord[]): SeqRange {
  if (w.seq !== undefined) return { lo: w.seq, hi: w.seq };
  let lo = 1;
  let hi = Infinity;
  for (const o of sameId) {
    if (o === w || o.seq === undefined) continue;
    if (o.acked && o.end < w.start) lo = Math.max(lo, o.seq + 1);
    if (w.acked && o.start > w.end) hi = Math.min(hi, o.seq - 1);
  }
  return { lo, hi };
}

function indexId(recs: readonly WriteRecord[]): IdWrites {
  const writes = recs.map((rec) => ({ rec, range: seqRange(rec, recs) }));
  const acked = writes.filter((w) => w.rec.acked);
  const floorIndex = (ws: readonly RangedWrite[]) =>
    new MaxBefore(
      ws,
      (w) => w.rec.end,
      (w) => w.range.lo,
    );
  const ackedByEndOf = new Map<string, MaxBefore<RangedWrite>>();
  for (const [client, ws] of groupBy(acked, (w) => w.rec.client)) {
    ackedByEndOf.set(client, floorIndex(ws));
  }
  return { writes, ackedByEnd: floorIndex(acked), ackedByEndOf };
}

function indexWrites(writes: readonly WriteRecord[]): WriteIndex {
  const byId = new Map<string, IdWrites>();
  for (const [id, recs] of groupBy(writes, (w) => w.id)) byId.set(id, indexId(recs));
  return { byId, byTag: groupBy(writes, (w) => w.tag) };
}

function fmtRange(r: SeqRange): string {
  if (r.lo === r.hi) return `seq ${r.lo}`;
  return r.hi === Infinity ? `seq ≥ ${r.lo}` : `seq ${r.lo}..${r.hi}`;
}

function fmtTime(t: number): string {
  return t.toFixed(1);
}

/** Integers as they are, fractions to one decimal: staleness from a real clock is noisy. */
function fmtMs(ms: number): string {
  return Number.isInteger(ms) ? String(ms) : ms.toFixed(1);
}

function describeWrite(w: RangedWrite): string {
  const what = w.rec.op === 'upsert' ? `upsert "${w.rec.tag}"` : `delete "${w.rec.tag}"`;
  return `${what} by ${w.rec.client} (${fmtRange(w.range)}, acked at ${fmtTime(w.rec.end)})`;
}

/** The state a read observed, placed in the WAL; null when no write can have produced it. */
function observedState(read: ReadRecord, index: WriteIndex): ObservedState | null {
  const writes = index.byId.get(read.id)?.writes ?? [];
  const startedInTime = writes.filter((w) => w.rec.start < read.end);
  if (read.observedTag === null) {
    const deletes = startedInTime.filter((w) => w.rec.op === 'delete');
    const hi = deletes.reduce((m, w) => Math.max(m, w.range.hi), 0);
    return { lo: 0, hi, label: `absent (initial state or a delete, ${fmtRange({ lo: 0, hi })})` };
  }
  const tag = read.observedTag;
  const cands = startedInTime.filter((w) => w.rec.op === 'upsert' && w.rec.tag === tag);
  if (cands.length === 0) return null;
  const lo = cands.reduce((m, w) => Math.min(m, w.range.lo), Infinity);
  const hi = cands.reduce((m, w) => Math.max(m, w.range.hi), -Infinity);
  return { lo, hi, label: `tag "${tag}" (${fmtRange({ lo, hi })})` };
}

/** Why `state` cannot be as new as `floor` (a write that had to be visible), or null. */
function staleReason(
  state: ObservedState | null,
  floor: RangedWrite | null,
  why: string,
): string | null {
  if (state === null || floor === null || state.hi >= floor.range.lo) return null;
  return `observed ${state.label}, older than ${describeWrite(floor)} ${why}`;
}

/** no-phantom: a tag must belong to an upsert of the same id that started before the read ended. */
function phantomReason(read: ReadRecord, index: WriteIndex): string | null {
  const tag = read.observedTag;
  if (tag === null) return null;
  const carriers = index.byTag.get(tag) ?? [];
  const upserts = carriers.filter((w) => w.id === read.id && w.op === 'upsert');
  const other = carriers.find((w) => w.id !== read.id);
  if (upserts.some((w) => w.start < read.end)) return null;
  if (upserts[0]) {
    return `observed tag "${tag}" whose upsert started at ${fmtTime(upserts[0].start)}, after the read ended at ${fmtTime(read.end)}`;
  }
  if (other) return `observed tag "${tag}", which was written for id ${other.id}`;
  if (carriers.length > 0) return `observed tag "${tag}", which belongs to a delete`;
  return `observed tag "${tag}", which no write carries`;
}

function strongReason(read: ReadRecord, state: ObservedState | null, ids: IdWrites | undefined) {
  const floor = ids?.ackedByEnd.before(read.start) ?? null;
  return staleReason(state, floor, 'acked before the read began');
}

function rywReason(read: ReadRecord, state: ObservedState | null, ids: IdWrites | undefined) {
  const floor = ids?.ackedByEndOf.get(read.client)?.before(read.start) ?? null;
  return staleReason(state, floor, "(the client's own write) acked before the read began");
}

function boundedReason(
  read: ReadRecord,
  bound: number,
  state: ObservedState | null,
  ids: IdWrites | undefined,
): string | null {
  const reasons: string[] = [];
  if (read.stalenessMs > bound) {
    reasons.push(`served with stalenessMs ${fmtMs(read.stalenessMs)} over the bound ${bound}`);
  }
  const floor = ids?.ackedByEnd.before(read.start - bound) ?? null;
  const stale = staleReason(state, floor, `acked more than ${bound} ms before the read began`);
  if (stale) reasons.push(stale);
  return reasons.length > 0 ? reasons.join('; ') : null;
}

/** What one client's completed session reads require of its next one. */
interface SessionFloor {
  applied: ReadRecord | null;
  byId: Map<string, { read: ReadRecord; state: ObservedState }>;
}

function absorb(floor: SessionFloor, read: ReadRecord, state: ObservedState | null): void {
  if (floor.applied === null || read.appliedSeq > floor.applied.appliedSeq) floor.applied = read;
  const prev = floor.byId.get(read.id);
  if (state !== null && (prev === undefined || state.lo > prev.state.lo)) {
    floor.byId.set(read.id, { read, state });
  }
}

function monotonicReason(
  read: ReadRecord,
  state: ObservedState | null,
  floor: SessionFloor,
): string | null {
  const reasons: string[] = [];
  if (read.tokenSeq !== undefined && read.appliedSeq < read.tokenSeq) {
    reasons.push(`served at appliedSeq ${read.appliedSeq}, below the token's seq ${read.tokenSeq}`);
  }
  const prev = floor.applied;
  if (prev !== null && read.appliedSeq < prev.appliedSeq) {
    reasons.push(
      `appliedSeq went back from ${prev.appliedSeq} (read at ${fmtTime(prev.start)}) to ${read.appliedSeq}`,
    );
  }
  const seen = floor.byId.get(read.id);
  if (state !== null && seen !== undefined && state.hi < seen.state.lo) {
    reasons.push(
      `observed ${state.label}, older than ${seen.state.label} seen by the read at ${fmtTime(seen.read.start)}`,
    );
  }
  return reasons.length > 0 ? reasons.join('; ') : null;
}

/**
 * session-monotonic for one client: each session read against every session read of the same
 * client that ENDED before it started (for a sequential client, exactly the earlier ones;
 * overlapping reads are not ordered, so they are not compared).
 */
function checkClientSession(
  reads: readonly ReadRecord[],
  states: Map<ReadRecord, ObservedState | null>,
): Array<[ReadRecord, string | null]> {
  const byStart = [...reads].sort((a, b) => a.start - b.start);
  const byEnd = [...reads].sort((a, b) => a.end - b.end);
  const floor: SessionFloor = { applied: null, byId: new Map() };
  const out: Array<[ReadRecord, string | null]> = [];
  let done = 0;
  for (const read of byStart) {
    for (let r = byEnd[done]; r !== undefined && r.end < read.start; r = byEnd[++done]) {
      absorb(floor, r, states.get(r) ?? null);
    }
    out.push([read, monotonicReason(read, states.get(read) ?? null, floor)]);
  }
  return out;
}

/** Accumulates counts and violations in report form. */
class Tally {
  readonly counts = Object.fromEntries(
    GUARANTEES.map((g) => [g, { checked: 0, violations: 0 }]),
  ) as CheckReport['guarantees'];
  readonly violations: Violation[] = [];

  add(guarantee: Guarantee, read: ReadRecord, reason: string | null): void {
    const c = this.counts[guarantee];
    c.checked++;
    if (reason === null) return;
    c.violations++;
    this.violations.push({ guarantee, read, message: reason });
  }
}

function checkRead(
  read: ReadRecord,
  state: ObservedState | null,
  index: WriteIndex,
  tally: Tally,
): void {
  tally.add('no-phantom', read, phantomReason(read, index));
  const ids = index.byId.get(read.id);
  if (read.level === 'strong') tally.add('strong', read, strongReason(read, state, ids));
  if (read.level === 'session') tally.add('session-ryw', read, rywReason(read, state, ids));
  if (read.level === 'bounded' && read.maxStalenessMs !== undefined) {
    tally.add('bounded', read, boundedReason(read, read.maxStalenessMs, state, ids));
  }
}

/**
 * Checks a recorded history against Meridian's read guarantees. Failed reads (`ok: false`)
 * are ignored; record order does not matter (only the times do). Rules, for ok reads of id X
 * ("acked before t" = `acked && end < t`; "as new as W" = the observed state's seq range can
 * reach W's, see the module comment):
 * - no-phantom (every read): a tag must belong to an upsert of X that started before the read
 *   ended.
 * - strong: as new as every write of X acked before the read began.
 * - session-ryw (session reads): as new as every write of X by the same client acked before
 *   the read began.
 * - session-monotonic (session reads): `appliedSeq >= tokenSeq` when a token was sent;
 *   `appliedSeq` and the state of X never older than in a session read of the same client
 *   that ended before this one started.
 * - bounded (bounded reads that carry `maxStalenessMs` B; without it the bound is the
 *   collection's default, unknown here, and the read is not counted): `stalenessMs <= B`
 *   and as new as every write of X acked before `start - B`.
 * - eventual reads: only no-phantom.
 * Never reports a legal history; catches every violation whose writes have known seqs.
 */
export function checkHistory(history: readonly HistoryRecord[]): CheckReport {
  const index = indexWrites(history.filter(isWrite));
  const reads = history.filter(isRead).filter((r) => r.ok);
  const states = new Map(reads.map((r) => [r, observedState(r, index)]));
  const tally = new Tally();
  for (const read of reads) checkRead(read, states.get(read) ?? null, index, tally);
  const sessions = groupBy(
    reads.filter((r) => r.level === 'session'),
    (r) => r.client,
  );
  for (const clientReads of sessions.values()) {
    for (const [read, reason] of checkClientSession(clientReads, states)) {
      tally.add('session-monotonic', read, reason);
    }
  }
  const violations = tally.violations.sort((a, b) => a.read.start - b.read.start);
  return { guarantees: tally.counts, violations, ok: violations.length === 0 };
}

/**
 * A readable multi-line summary: one line per guarantee (checked / violations), then the
 * first `limit` violations with the read that broke each.
 */
export function formatReport(r: CheckReport, limit = 5): string {
  const width = Math.max(...GUARANTEES.map((g) => g.length));
  const lines = [
    `consistency: ${r.ok ? 'OK' : `${r.violations.length} violation(s)`}`,
    ...GUARANTEES.map((g) => {
      const c = r.guarantees[g];
      return `  ${g.padEnd(width)}  checked ${String(c.checked).padStart(6)}  violations ${c.violations}`;
    }),
  ];
  if (r.violations.length > 0) {
    lines.push(`first ${Math.min(limit, r.violations.length)} of ${r.violations.length}:`);
  }
  for (const v of r.violations.slice(0, limit)) {
    const rd = v.read;
    lines.push(
      `  [${v.guarantee}] ${rd.client} ${rd.level} read of ${rd.id} at ${fmtTime(rd.start)}..${fmtTime(rd.end)} ` +
        `(region ${rd.region}, appliedSeq ${rd.appliedSeq}, stalenessMs ${fmtMs(rd.stalenessMs)}): ${v.message}`,
    );
  }
  return lines.join('\n');
}

/** Options for {@link HistoryRecorder}. */
export interface HistoryRecorderOptions {
  /** The one clock every time in the history comes from, in ms. Default `performance.now()`. */
  clock?: () => number;
}

/** A record to add: everything but `type`; `end` defaults to the recorder's clock now. */
export type RecordInput<T extends HistoryRecord> = Omit<T, 'type' | 'end'> & { end?: number };

/**
 * Collects a history in the order operations finish. Times are the caller's, read from
 * {@link HistoryRecorder.now} (the same clock for every client): take `start = rec.now()`
 * before sending a request and call `write`/`read` once the answer (or failure) is in, which
 * stamps `end` unless given. Merge the records of several processes only when their
 * clocks agree (pass the same `clock`, e.g. `Date.now`).
 */
export class HistoryRecorder {
  readonly now: () => number;
  private readonly recs: HistoryRecord[] = [];

  constructor(opts: HistoryRecorderOptions = {}) {
    this.now = opts.clock ?? (() => performance.now());
  }

  /** Records a finished write. Throws RangeError when `end < start`. */
  write(w: RecordInput<WriteRecord>): WriteRecord {
    const rec: WriteRecord = { ...w, type: 'write', end: w.end ?? this.now() };
    return this.push(rec);
  }

  /** Records a finished (or failed) read. Throws RangeError when `end < start`. */
  read(r: RecordInput<ReadRecord>): ReadRecord {
    const rec: ReadRecord = { ...r, type: 'read', end: r.end ?? this.now() };
    return this.push(rec);
  }

  /** A copy of everything recorded so far, in recording order. */
  records(): HistoryRecord[] {
    return [...this.recs];
  }

  private push<T extends HistoryRecord>(rec: T): T {
    if (rec.end < rec.start) {
      throw new RangeError(`${rec.type} of ${rec.id} ends (${rec.end}) before it starts`);
    }
    this.recs.push(rec);
    return rec;
  }
}
