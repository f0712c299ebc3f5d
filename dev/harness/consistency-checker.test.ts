import { describe, expect, it } from 'vitest';
import { checkHistory, formatReport, HistoryRecorder } from './consistency-checker.ts';
import type {
  CheckReport,
  Guarantee,
  HistoryRecord,
  ReadRecord,
  WriteRecord,
} from './consistency-checker.ts';

type WriteInput = Pick<WriteRecord, 'client' | 'id' | 'tag' | 'start' | 'end'> &
  Partial<WriteRecord>;
type ReadInput = Pick<ReadRecord, 'client' | 'id' | 'level' | 'start' | 'end' | 'observedTag'> &
  Partial<ReadRecord>;

function w(p: WriteInput): WriteRecord {
  return { type: 'write', op: 'upsert', acked: true, ...p };
}

function r(p: ReadInput): ReadRecord {
  return { type: 'read', ok: true, region: 'eu', appliedSeq: 0, stalenessMs: 0, ...p };
}

/** Several clients on ids x, y, z: overlapping writes, deletes, re-upserts, lagging reads. */
const legal: HistoryRecord[] = [
  w({ client: 'c1', id: 'x', tag: 'x1', start: 0, end: 10, seq: 1 }),
  w({ client: 'c2', id: 'y', tag: 'y1', start: 2, end: 9, seq: 2 }),
  w({ client: 'c2', id: 'x', tag: 'x2', start: 12, end: 20, seq: 4 }),
  w({ client: 'c3', id: 'x', tag: 'x3', start: 14, end: 22, seq: 5 }),
  w({ client: 'c1', id: 'x', op: 'delete', tag: 'x-del', start: 30, end: 35, seq: 6 }),
  w({ client: 'c3', id: 'x', tag: 'x4', start: 40, end: 46, seq: 8 }),
  w({ client: 'c2', id: 'z', tag: 'z1', start: 41, end: 60, acked: false }),
  w({ client: 'c1', id: 'y', tag: 'y2', start: 50, end: 55, seq: 9 }),
  w({ client: 'c3', id: 'y', op: 'delete', tag: 'y-del', start: 56, end: 80, seq: 12 }),
  w({ client: 'c1', id: 'z', tag: 'z2', start: 70, end: 75, seq: 13 }),
  // x1 seen while its upsert is still in flight; x absent on a replica that has nothing yet.
  r({ client: 'c3', id: 'x', level: 'eventual', start: 5, end: 8, observedTag: 'x1' }),
  r({ client: 'c2', id: 'x', level: 'eventual', start: 11, end: 14, observedTag: null }),
  r({ client: 'c1', id: 'x', level: 'strong', start: 11, end: 13, observedTag: 'x1' }),
  r({ client: 'c3', id: 'x', level: 'strong', start: 23, end: 25, observedTag: 'x3' }),
  r({
    ...{ client: 'c1', id: 'x', level: 'session', start: 24, end: 26, observedTag: 'x2' },
    ...{ appliedSeq: 4, tokenSeq: 1 },
  }),
  r({
    ...{ client: 'c1', id: 'x', level: 'session', start: 27, end: 29, observedTag: 'x3' },
    ...{ appliedSeq: 5, tokenSeq: 4 },
  }),
  // The delete of x runs 30..35: a strong read inside it may see either side.
  r({ client: 'c2', id: 'x', level: 'strong', start: 33, end: 37, observedTag: null }),
  r({ client: 'c3', id: 'x', level: 'strong', start: 33, end: 38, observedTag: 'x3' }),
  r({
    ...{ client: 'c1', id: 'x', level: 'session', start: 36, end: 39, observedTag: null },
    ...{ appliedSeq: 6, tokenSeq: 6 },
  }),
  r({
    ...{ client: 'c2', id: 'x', level: 'bounded', start: 42, end: 44, observedTag: null },
    ...{ maxStalenessMs: 10, stalenessMs: 8 },
  }),
  r({ client: 'c3', id: 'z', level: 'eventual', start: 45, end: 47, observedTag: 'z1' }),
  r({
    ...{ client: 'c3', id: 'x', level: 'session', start: 47, end: 49, observedTag: 'x4' },
    ...{ appliedSeq: 8, tokenSeq: 8 },
  }),
  r({
    ...{ client: 'c2', id: 'x', level: 'bounded', start: 50, end: 52, observedTag: null },
    ...{ maxStalenessMs: 20, stalenessMs: 15 },
  }),
  r({
    ...{ client: 'c1', id: 'y', level: 'session', start: 57, end: 59, observedTag: 'y2' },
    ...{ appliedSeq: 10, tokenSeq: 9 },
  }),
  r({
    ...{ client: 'c1', id: 'y', level: 'session', start: 60, end: 62, observedTag: null },
    ...{ appliedSeq: 12, tokenSeq: 10 },
  }),
  r({ client: 'c1', id: 'z', level: 'strong', start: 61, end: 63, observedTag: null }),
  r({
    ...{ client: 'c2', id: 'z', level: 'session', start: 62, end: 64, observedTag: 'z1' },
    ...{ appliedSeq: 9 },
  }),
  r({ client: 'c2', id: 'z', level: 'strong', start: 76, end: 78, observedTag: 'z2' }),
  r({ client: 'c2', id: 'y', level: 'strong', start: 81, end: 83, observedTag: null }),
  // A failed read is never judged, whatever it carries.
  r({
    client: 'c1',
    id: 'x',
    level: 'strong',
    start: 84,
    end: 85,
    observedTag: 'bogus',
    ok: false,
  }),
];

function check(...extra: HistoryRecord[]): CheckReport {
  return checkHistory([...legal, ...extra]);
}

/** The guarantees `read` was reported under (and nothing else was reported). */
function flagged(report: CheckReport, read: ReadRecord): Guarantee[] {
  expect(report.violations.filter((v) => v.read !== read)).toEqual([]);
  return report.violations.map((v) => v.guarantee);
}

function expectClean(...extra: HistoryRecord[]): void {
  const report = check(...extra);
  expect(report.violations, formatReport(report)).toEqual([]);
  expect(report.ok).toBe(true);
}

// ---------------------------------------------------------------------------------------------
// A seeded simulation of a legal cluster: one WAL (a linearizable register per id) committed in
// time order, replicas applying it in order with their own lag, and a router that serves each
// level as DESIGN.md says (falling back to the primary when a replica does not qualify).

/** mulberry32: small and seeded, so a failing seed replays exactly. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function pick<T>(rand: () => number, items: readonly T[]): T {
  const item = items[Math.floor(rand() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

interface WalEntry {
  seq: number;
  id: string;
  tag: string | null;
  commitAt: number;
}

interface Replica {
  name: string;
  lag: number;
  applyAt: number[];
}

class SimCluster {
  readonly wal: WalEntry[] = [];
  readonly replicas: Replica[] = [
    { name: 'near', lag: 2, applyAt: [] },
    { name: 'mid', lag: 12, applyAt: [] },
    { name: 'far', lag: 45, applyAt: [] },
  ];

  constructor(private readonly rand: () => number) {}

  commit(w: WriteRecord, at: number): number {
    const seq = this.wal.length + 1;
    this.wal.push({ seq, id: w.id, tag: w.op === 'upsert' ? w.tag : null, commitAt: at });
    for (const rep of this.replicas) {
      const last = rep.applyAt[rep.applyAt.length - 1] ?? 0;
      rep.applyAt.push(Math.max(last, at + rep.lag * (0.5 + this.rand())));
    }
    return seq;
  }

  applied(rep: Replica, at: number): number {
    let n = 0;
    while (n < this.wal.length && (rep.applyAt[n] ?? Infinity) <= at) n++;
    return n;
  }

  staleness(applied: number, at: number): number {
    const oldest = this.wal[applied];
    return oldest === undefined ? 0 : at - oldest.commitAt;
  }

  stateAt(id: string, applied: number): string | null {
    for (let i = applied - 1; i >= 0; i--) {
      const e = this.wal[i];
      if (e?.id === id) return e.tag;
    }
    return null;
  }
}

interface SimStats {
  staleAnswers: number;
  primaryFallbacks: number;
}

interface Planned {
  writes: Array<{ rec: WriteRecord; commitAt: number | null }>;
  reads: Array<{ rec: ReadRecord; serveAt: number }>;
}

const LEVELS = ['strong', 'bounded', 'session', 'eventual'] as const;

function planWrite(rand: () => number, base: WriteInput): Planned['writes'][number] {
  const fate = rand();
  const { start, end } = base;
  const rec = w({ ...base, op: rand() < 0.2 ? 'delete' : 'upsert', acked: fate < 0.85 });
  // 7% lose their ack after committing, 4% commit after the client gave up, 4% never commit.
  if (fate >= 0.96) return { rec, commitAt: null };
  if (fate >= 0.92) return { rec, commitAt: end + rand() * 30 };
  return { rec, commitAt: start + rand() * (end - start) * 0.95 };
}

function planRead(rand: () => number, base: ReadInput): Planned['reads'][number] {
  const rec = r({ ...base, ok: rand() > 0.03 });
  if (rec.level === 'bounded') rec.maxStalenessMs = pick(rand, [5, 15, 60]);
  return { rec, serveAt: base.start + rand() * (base.end - base.start) };
}

/** Sequential clients issuing overlapping operations on a few ids. */
function plan(rand: () => number, ops: number, clients: number, ids: number): Planned {
  const free = new Array<number>(clients).fill(0);
  const out: Planned = { writes: [], reads: [] };
  for (let n = 0; n < ops; n++) {
    const c = Math.floor(rand() * clients);
    const start = (free[c] ?? 0) + rand() * 4;
    const end = start + 0.5 + rand() * 15;
    free[c] = end;
    const base = { client: `c${c}`, id: `p${Math.floor(rand() * ids)}`, start, end };
    if (rand() < 0.4) out.writes.push(planWrite(rand, { ...base, tag: `${base.id}#${n}` }));
    else out.reads.push(planRead(rand, { ...base, level: pick(rand, LEVELS), observedTag: null }));
  }
  return out;
}

/** Answers one read as the router would, at time `at`, for a client holding `token`. */
function serve(
  cluster: SimCluster,
  rand: () => number,
  read: ReadRecord,
  at: number,
  token: number,
) {
  const committed = cluster.wal.length;
  const rep = pick(rand, cluster.replicas);
  const applied = cluster.applied(rep, at);
  // The router's estimate: never fresher than the truth.
  const staleness = cluster.staleness(applied, at) + rand() * 2;
  const qualifies =
    (read.level === 'strong' && applied >= committed) ||
    (read.level === 'bounded' && staleness <= (read.maxStalenessMs ?? 0)) ||
    (read.level === 'session' && applied >= token) ||
    read.level === 'eventual';
  const answer = qualifies
    ? { region: rep.name, appliedSeq: applied, stalenessMs: staleness }
    : { region: 'primary', appliedSeq: committed, stalenessMs: 0 };
  const observedTag = cluster.stateAt(read.id, answer.appliedSeq);
  Object.assign(read, answer, { observedTag });
  if (read.level === 'session') read.tokenSeq = token;
  if (!read.ok) read.observedTag = 'garbage from a failed read';
  return { fallback: !qualifies, stale: observedTag !== cluster.stateAt(read.id, committed) };
}

/** Runs a seeded legal history of `ops` operations through the simulated cluster. */
function simulate(seed: number, ops: number): { history: HistoryRecord[]; stats: SimStats } {
  const rand = seeded(seed);
  const planned = plan(rand, ops, 6, 12);
  const cluster = new SimCluster(rand);
  const tokens = new Map<string, number>();
  const stats: SimStats = { staleAnswers: 0, primaryFallbacks: 0 };
  const bump = (client: string, seq: number) =>
    tokens.set(client, Math.max(tokens.get(client) ?? 0, seq));
  // Ties: commit, then serve, then end, so an ack never precedes its commit.
  const events: Array<{ at: number; order: number; run: () => void }> = [];
  for (const { rec, commitAt } of planned.writes) {
    if (commitAt !== null) {
      const run = () => {
        const seq = cluster.commit(rec, commitAt);
        if (rec.acked) rec.seq = seq;
      };
      events.push({ at: commitAt, order: 0, run });
    }
    events.push({ at: rec.end, order: 2, run: () => rec.seq && bump(rec.client, rec.seq) });
  }
  for (const { rec, serveAt } of planned.reads) {
    const run = () => {
      const out = serve(cluster, rand, rec, serveAt, tokens.get(rec.client) ?? 0);
      if (rec.ok && out.stale) stats.staleAnswers++;
      if (out.fallback) stats.primaryFallbacks++;
    };
    events.push({ at: serveAt, order: 1, run });
    events.push({ at: rec.end, order: 2, run: () => rec.ok && bump(rec.client, rec.appliedSeq) });
  }
  events.sort((a, b) => a.at - b.at || a.order - b.order);
  for (const e of events) e.run();
  const history = [...planned.writes.map((p) => p.rec), ...planned.reads.map((p) => p.rec)];
  return { history, stats };
}

/** Pairs of writes of the same id whose intervals overlap. */
function overlappingWrites(history: readonly HistoryRecord[]): number {
  const writes = history.filter((x): x is WriteRecord => x.type === 'write');
  let n = 0;
  for (const a of writes) {
    for (const b of writes) {
      if (a !== b && a.id === b.id && a.start < b.start && b.start < a.end) n++;
    }
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Injecting stale reads into a legal history, each one detectable from known seqs.

type Injection = { read: ReadRecord; guarantee: Guarantee };

/** An acked upsert of the read's id older than the newest write acked before `before`. */
function olderTag(
  read: ReadRecord,
  writes: readonly WriteRecord[],
  before: number,
  rand: () => number,
  client?: string,
) {
  const same = writes.filter((x) => x.id === read.id && x.seq !== undefined);
  const floor = same
    .filter((x) => x.acked && x.end < before && (client === undefined || x.client === client))
    .reduce<number>((m, x) => Math.max(m, x.seq ?? 0), 0);
  const older = same.filter(
    (x) =>
      x.op === 'upsert' && (x.seq ?? 0) < floor && x.start < read.end && x.tag !== read.observedTag,
  );
  return older.length > 0 ? pick(rand, older).tag : null;
}

/**
 * An illegal variant of `read` for its level (a stale tag, a staleness over the bound, an
 * appliedSeq below an earlier one, a tag of another id), or null when none is provable.
 */
function injectOne(
  read: ReadRecord,
  history: readonly HistoryRecord[],
  rand: () => number,
): Injection | null {
  const writes = history.filter((x): x is WriteRecord => x.type === 'write');
  const B = read.maxStalenessMs ?? 0;
  const withTag = (tag: string | null, guarantee: Guarantee) =>
    tag === null ? null : { read: { ...read, observedTag: tag }, guarantee };
  if (read.level === 'strong') return withTag(olderTag(read, writes, read.start, rand), 'strong');
  if (read.level === 'bounded') {
    const stale = rand() < 0.5 ? olderTag(read, writes, read.start - B, rand) : null;
    return (
      withTag(stale, 'bounded') ?? { read: { ...read, stalenessMs: B + 1 }, guarantee: 'bounded' }
    );
  }
  if (read.level === 'session') {
    const before = history.filter(
      (x): x is ReadRecord =>
        x.type === 'read' &&
        x.ok &&
        x.level === 'session' &&
        x.client === read.client &&
        x.end < read.start,
    );
    const prev = Math.max(0, ...before.map((x) => x.appliedSeq));
    if (rand() < 0.5 && prev > 0) {
      return { read: { ...read, appliedSeq: prev - 1 }, guarantee: 'session-monotonic' };
    }
    return withTag(olderTag(read, writes, read.start, rand, read.client), 'session-ryw');
  }
  const foreign = writes.find((x) => x.id !== read.id && x.op === 'upsert');
  return withTag(foreign?.tag ?? null, 'no-phantom');
}

/** Replaces about `rate` of the ok reads by an illegal variant; returns what was injected. */
function injectStale(history: readonly HistoryRecord[], seed: number, rate: number) {
  const rand = seeded(seed);
  const injected: Injection[] = [];
  const out = history.map((rec) => {
    if (rec.type !== 'read' || !rec.ok || rand() >= rate) return rec;
    const inj = injectOne(rec, history, rand);
    if (inj) injected.push(inj);
    return inj?.read ?? rec;
  });
  return { history: out, injected };
}

describe('consistency checker', () => {
  it('accepts a legal history of several clients with overlapping writes, deletes and re-upserts', () => {
    const report = checkHistory(legal);
    expect(report.violations, formatReport(report)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.guarantees).toEqual({
      strong: { checked: 7, violations: 0 },
      'session-ryw': { checked: 7, violations: 0 },
      'session-monotonic': { checked: 7, violations: 0 },
      bounded: { checked: 2, violations: 0 },
      'no-phantom': { checked: 19, violations: 0 },
    });
  });

  it('catches a strong read that misses the newest acked write', () => {
    const stale = r({
      client: 'c2',
      id: 'x',
      level: 'strong',
      start: 23,
      end: 25,
      observedTag: 'x2',
    });
    const report = check(stale);
    expect(flagged(report, stale)).toEqual(['strong']);
    expect(report.violations[0]?.message).toMatch(/"x2" \(seq 4\).*upsert "x3".*seq 5/);
  });

  it('catches a strong read that sees absent when only an older delete exists', () => {
    const stale = r({
      client: 'c2',
      id: 'x',
      level: 'strong',
      start: 47,
      end: 49,
      observedTag: null,
    });
    expect(flagged(check(stale), stale)).toEqual(['strong']);
    // A newer delete that started only after the read ended cannot explain the absence.
    const laterDelete = w({
      ...{ client: 'c1', id: 'x', op: 'delete', tag: 'x-del2', start: 100, end: 101 },
      ...{ seq: 20 },
    });
    expect(flagged(check(laterDelete, stale), stale)).toEqual(['strong']);
  });

  it("catches a session read that misses the client's own write", () => {
    const stale = r({
      client: 'c3',
      id: 'x',
      level: 'session',
      start: 47,
      end: 49,
      observedTag: 'x3',
    });
    expect(flagged(check(stale), stale)).toEqual(['session-ryw']);
  });

  it('catches a session read whose appliedSeq goes back, or is below its token', () => {
    const back = r({
      ...{ client: 'c1', id: 'x', level: 'session', start: 40, end: 41, observedTag: null },
      ...{ appliedSeq: 5 },
    });
    const report = check(back);
    expect(flagged(report, back)).toEqual(['session-monotonic']);
    expect(report.violations[0]?.message).toMatch(/appliedSeq went back from 6/);
    const belowToken = { ...back, appliedSeq: 6, tokenSeq: 7 };
    expect(flagged(check(belowToken), belowToken)).toEqual(['session-monotonic']);
  });

  it('catches a session read whose state of an id goes back', () => {
    const back = r({
      ...{ client: 'c1', id: 'x', level: 'session', start: 29.5, end: 29.8, observedTag: 'x2' },
      ...{ appliedSeq: 5 },
    });
    expect(flagged(check(back), back)).toEqual(['session-monotonic']);
  });

  it('catches a session read going back from an unacked write to the initial state', () => {
    // z1 has no seq, but it came after the initial state, so seeing absent later goes back.
    const back = r({
      ...{ client: 'c2', id: 'z', level: 'session', start: 65, end: 66, observedTag: null },
      ...{ appliedSeq: 10 },
    });
    expect(flagged(check(back), back)).toEqual(['session-monotonic']);
  });

  it('catches a session read going back from an unacked write to one acked before it began', () => {
    // y-lost has no seq, but it started after y2 (seq 9) and the delete (seq 12) were acked.
    const lost = w({ client: 'c1', id: 'y', tag: 'y-lost', start: 90, end: 95, acked: false });
    const seen = r({
      ...{ client: 'c1', id: 'y', level: 'session', start: 96, end: 97, observedTag: 'y-lost' },
      ...{ appliedSeq: 14 },
    });
    const back = r({
      ...{ client: 'c1', id: 'y', level: 'session', start: 98, end: 99, observedTag: null },
      ...{ appliedSeq: 14 },
    });
    expect(flagged(check(lost, seen, back), back)).toEqual(['session-monotonic']);
    expect(check(lost, seen).ok).toBe(true);
  });

  it('catches a bounded read served with stalenessMs over its bound', () => {
    const late = r({
      ...{ client: 'c2', id: 'x', level: 'bounded', start: 42, end: 44, observedTag: null },
      ...{ maxStalenessMs: 10, stalenessMs: 12 },
    });
    const report = check(late);
    expect(flagged(report, late)).toEqual(['bounded']);
    expect(report.violations[0]?.message).toMatch(/stalenessMs 12 over the bound 10/);
  });

  it('catches a bounded read that misses a write acked more than the bound before it', () => {
    const stale = r({
      ...{ client: 'c2', id: 'x', level: 'bounded', start: 60, end: 62, observedTag: null },
      ...{ maxStalenessMs: 5, stalenessMs: 3 },
    });
    expect(flagged(check(stale), stale)).toEqual(['bounded']);
  });

  it('catches phantom tags: never written, of another id, of a delete, or written after the read', () => {
    const phantoms = [
      r({ client: 'c3', id: 'x', level: 'eventual', start: 50, end: 51, observedTag: 'nope' }),
      r({ client: 'c3', id: 'x', level: 'eventual', start: 50, end: 51, observedTag: 'y1' }),
      r({ client: 'c3', id: 'x', level: 'eventual', start: 50, end: 51, observedTag: 'x-del' }),
      r({ client: 'c3', id: 'z', level: 'eventual', start: 64, end: 66, observedTag: 'z2' }),
      // Reported once, under no-phantom, even at a level that also orders states.
      r({ client: 'c1', id: 'x', level: 'strong', start: 90, end: 91, observedTag: 'nope' }),
    ];
    const messages = [
      /no write carries/,
      /written for id y/,
      /belongs to a delete/,
      /after the read/,
    ];
    phantoms.forEach((phantom, i) => {
      const report = check(phantom);
      expect(flagged(report, phantom)).toEqual(['no-phantom']);
      expect(report.violations[0]?.message).toMatch(messages[i] ?? /no write carries/);
    });
  });

  it('accepts a write acked after the read began whether or not the read sees it', () => {
    expectClean(
      r({ client: 'c2', id: 'x', level: 'strong', start: 44, end: 47, observedTag: 'x4' }),
      r({ client: 'c2', id: 'x', level: 'strong', start: 44, end: 47, observedTag: null }),
      r({ client: 'c1', id: 'x', level: 'strong', start: 46, end: 47, observedTag: null }),
    );
  });

  it('accepts either side of a concurrent delete, and absent when an unacked delete may land', () => {
    expectClean(
      r({ client: 'c2', id: 'x', level: 'strong', start: 31, end: 34, observedTag: null }),
      r({ client: 'c2', id: 'x', level: 'strong', start: 31, end: 34, observedTag: 'x3' }),
    );
    const lostAck = w({
      ...{ client: 'c3', id: 'z', op: 'delete', tag: 'z-del', start: 76, end: 90 },
      ...{ acked: false },
    });
    const absent = r({
      client: 'c2',
      id: 'z',
      level: 'strong',
      start: 80,
      end: 82,
      observedTag: null,
    });
    expect(flagged(check(absent), absent)).toEqual(['strong']);
    expectClean(lostAck, absent);
  });

  it("accepts a session read that misses another client's write", () => {
    expectClean(
      r({
        ...{ client: 'c2', id: 'x', level: 'session', start: 47, end: 49, observedTag: null },
        ...{ appliedSeq: 6 },
      }),
    );
  });

  it('accepts overlapping session reads of one client in either order of appliedSeq', () => {
    // Pipelined reads: the second was sent before the first answered, so it carries no floor.
    const first = r({
      ...{ client: 'c1', id: 'y', level: 'session', start: 90, end: 95, observedTag: null },
      ...{ appliedSeq: 15 },
    });
    const second = r({
      ...{ client: 'c1', id: 'y', level: 'session', start: 91, end: 93, observedTag: null },
      ...{ appliedSeq: 13 },
    });
    expectClean(first, second);
  });

  it('accepts a bounded read exactly at its bound that misses a write acked within it', () => {
    expectClean(
      r({
        ...{ client: 'c2', id: 'x', level: 'bounded', start: 50, end: 52, observedTag: null },
        ...{ maxStalenessMs: 10, stalenessMs: 10 },
      }),
    );
  });

  it('summarises a report per guarantee, then the first violations', () => {
    const stale = r({
      client: 'c2',
      id: 'x',
      level: 'strong',
      start: 23,
      end: 25,
      observedTag: 'x2',
    });
    const text = formatReport(check(stale, stale, stale), 2);
    expect(text).toMatch(/^consistency: 3 violation\(s\)/);
    expect(text).toMatch(/strong\s+checked\s+10\s+violations 3/);
    expect(text).toMatch(/no-phantom\s+checked\s+22\s+violations 0/);
    expect(text).toMatch(/first 2 of 3:/);
    expect(text.match(/\[strong\] c2 strong read of x at 23\.0\.\.25\.0/g)).toHaveLength(2);
    expect(formatReport(checkHistory(legal))).toMatch(/^consistency: OK/);
  });

  it('records writes and reads on its clock, stamping end when not given', () => {
    let now = 100;
    const rec = new HistoryRecorder({ clock: () => now });
    const start = rec.now();
    now = 105;
    const write = rec.write({
      ...{ client: 'c1', id: 'x', op: 'upsert', tag: 't1', start },
      ...{ acked: true, seq: 1 },
    });
    expect(write).toMatchObject({ type: 'write', start: 100, end: 105 });
    rec.read({
      ...{ client: 'c1', id: 'x', level: 'strong', start: 106, end: 107, ok: true },
      ...{ observedTag: 't1', region: 'eu', appliedSeq: 1, stalenessMs: 0 },
    });
    const records = rec.records();
    expect(records.map((x) => x.type)).toEqual(['write', 'read']);
    records.pop();
    expect(rec.records()).toHaveLength(2);
    expect(checkHistory(rec.records()).ok).toBe(true);
    expect(() =>
      rec.write({ client: 'c1', id: 'x', op: 'delete', tag: 't2', start: 200, acked: false }),
    ).toThrow(RangeError);
  });

  const SEEDS = [1, 7, 2024];

  it.each(SEEDS)(
    'finds no violation in a simulated legal history of 2,400 ops (seed %i)',
    (seed) => {
      const { history, stats } = simulate(seed, 2400);
      const report = checkHistory(history);
      expect(report.violations, formatReport(report)).toEqual([]);
      // The history must exercise what the checker has to tolerate, or this test proves little.
      expect(history.length).toBeGreaterThanOrEqual(2000);
      expect(stats.staleAnswers).toBeGreaterThan(50);
      expect(stats.primaryFallbacks).toBeGreaterThan(10);
      expect(overlappingWrites(history)).toBeGreaterThan(50);
      const reads = history.filter((x): x is ReadRecord => x.type === 'read' && x.ok);
      const unacked = new Set(
        history.flatMap((x) => (x.type === 'write' && !x.acked ? [x.tag] : [])),
      );
      expect(
        reads.filter((x) => x.observedTag !== null && unacked.has(x.observedTag)).length,
      ).toBeGreaterThan(5);
      for (const g of ['strong', 'session-ryw', 'session-monotonic', 'bounded'] as const) {
        expect(report.guarantees[g].checked).toBeGreaterThan(200);
      }
    },
  );

  it.each(SEEDS)('catches every stale read injected into a simulated history (seed %i)', (seed) => {
    const legalSim = simulate(seed, 2400).history;
    const { history, injected } = injectStale(legalSim, seed + 1, 0.05);
    const report = checkHistory(history);
    const kinds = new Set(injected.map((i) => i.guarantee));
    expect([...kinds].sort()).toEqual(
      ['bounded', 'no-phantom', 'session-monotonic', 'session-ryw', 'strong'].sort(),
    );
    const injectedReads = new Set<ReadRecord>(injected.map((i) => i.read));
    expect(report.violations.filter((v) => !injectedReads.has(v.read))).toEqual([]);
    const missed = injected.filter(
      (i) => !report.violations.some((v) => v.read === i.read && v.guarantee === i.guarantee),
    );
    expect(missed).toEqual([]);
  });
});
