/**
 * The local WAL log: raw WAL entries this node has consumed but not yet seen sealed into
 * its applied manifest. A replica acks a WAL message only after `appendWal` returns, so
 * the in-memory memtable can always be rebuilt from here after a restart; applying a
 * manifest trims what its `coversSeq` seals (`trimWal`, inside the apply transaction).
 */
import { and, asc, eq, gt, lte, sql } from 'drizzle-orm';
import { InvalidArgument } from './errors.ts';
import { activateInTx, dropGenerationInTx } from './generations.ts';
import { readNodeState, WAL_STORED_SEQ_KEY, walStoredSeqKey } from './node-state.ts';
import type { CatalogDb, OpenedDb } from './open.ts';
import { manifests, nodeState, replicaState, walLog } from './schema.ts';
import { readTx, writeTx } from './transactions.ts';
import type { StoredWalEntry, WalLogEntry } from './types.ts';
import { checkCollectionName, checkInt, checkModel } from './validation.ts';

/**
 * The insert, prepared once per connection: this is the hot path (every WAL message on
 * every replica), and a prepared statement run per row is about 2x faster than building
 * a multi-row insert per batch. ON CONFLICT DO NOTHING stores a redelivered seq once;
 * unlike INSERT OR IGNORE it only skips key conflicts, never a NOT NULL or CHECK failure.
 */
function prepareInsert(db: CatalogDb) {
  return db
    .insert(walLog)
    .values({
      seq: sql.placeholder('seq'),
      collection: sql.placeholder('collection'),
      generation: sql.placeholder('generation'),
      payload: sql.placeholder('payload'),
    })
    .onConflictDoNothing()
    .prepare();
}

/**
 * The other two statements of every append, prepared once per connection too: building
 * them with drizzle's query builder on each call cost about 0.4 ms a WAL entry (CPU
 * profile at 500 single-point writes/s, issue 12), more than the commit itself.
 */
function prepareAppend(db: CatalogDb) {
  return {
    insert: prepareInsert(db),
    coversSeq: db
      .select({ coversSeq: manifests.coversSeq })
      .from(replicaState)
      .innerJoin(
        manifests,
        and(
          eq(manifests.collection, replicaState.collection),
          eq(manifests.generation, replicaState.generation),
          eq(manifests.version, replicaState.appliedVersion),
        ),
      )
      .where(
        and(
          eq(replicaState.collection, sql.placeholder('collection')),
          eq(replicaState.generation, sql.placeholder('generation')),
        ),
      )
      .prepare(),
    advance: db
      .insert(nodeState)
      .values({ key: sql.placeholder('key'), value: sql.placeholder('value') })
      .onConflictDoUpdate({
        target: nodeState.key,
        set: { value: sql`excluded.value` },
        setWhere: sql`cast(excluded.value as integer) > cast(${nodeState.value} as integer)`,
      })
      .prepare(),
  };
}

const appendStatements = new WeakMap<OpenedDb, ReturnType<typeof prepareAppend>>();

function appendStatement(conn: OpenedDb): ReturnType<typeof prepareAppend> {
  let stmts = appendStatements.get(conn);
  if (stmts === undefined) {
    stmts = prepareAppend(conn.db);
    appendStatements.set(conn, stmts);
  }
  return stmts;
}

function toRow(e: WalLogEntry, i: number): StoredWalEntry {
  if (typeof e !== 'object' || e === null)
    throw new InvalidArgument(`wal entry [${i}] is not an object`);
  checkInt(e.seq, `wal entry [${i}].seq`, 1);
  checkCollectionName(e.collection);
  checkModel(e.generation);
  const p = e.payload;
  if (!(p instanceof Uint8Array))
    throw new InvalidArgument(`wal entry [${i}].payload must be bytes`);
  const payload = Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength);
  return { seq: e.seq, collection: e.collection, generation: e.generation, payload };
}

/**
 * The activations among `entries`, in seq order as given. Each collection remembers the
 * seq of the activation it last applied (node state `activated:<collection>`), and an
 * older one changes nothing: a leaf region's mirrors may deliver a commit group's member
 * after a later activation of the same collection.
 *
 * A single activation flips at once. A commit group's member records which held members'
 * entries are stored (node state `group:<id>`, each with its seq); with the last of them,
 * every held member flips, unless a later activation of it is applied already. A group
 * that completed is kept as done, so a member entry delivered again flips nothing
 * (caller holds the write lock).
 */
function activate(db: CatalogDb, entries: ReadonlyArray<WalLogEntry>): void {
  const flip = (collection: string, model: string, seq: number) => {
    const key = `activated:${collection}`;
    if (Number(readNodeState(db, key) ?? 0) >= seq) return;
    activateInTx(db, collection, model);
    writeNodeState(db, key, String(seq));
  };
  for (const e of entries) {
    if (!e.activates) continue;
    if (!e.group) {
      flip(e.collection, e.generation, e.seq);
      continue;
    }
    const key = `group:${e.group.id}`;
    const raw = readNodeState(db, key);
    const state = raw === null ? { done: false, seen: {} } : parseGroupState(raw);
    if (state.done) continue;
    state.seen[e.collection] = e.seq;
    const complete = e.group.held.every((m) => state.seen[m.collection] !== undefined);
    if (complete) {
      for (const m of e.group.held) flip(m.collection, m.generation, state.seen[m.collection]!);
    }
    writeNodeState(db, key, JSON.stringify({ done: complete, seen: state.seen }));
  }
}

function writeNodeState(db: CatalogDb, key: string, value: string): void {
  db.insert(nodeState)
    .values({ key, value })
    .onConflictDoUpdate({ target: nodeState.key, set: { value } })
    .run();
}

function parseGroupState(raw: string): { done: boolean; seen: Record<string, number> } {
  const v = JSON.parse(raw) as { done?: unknown; seen?: unknown };
  const seen: Record<string, number> = {};
  if (v.seen && typeof v.seen === 'object' && !Array.isArray(v.seen)) {
    for (const [c, seq] of Object.entries(v.seen)) if (typeof seq === 'number') seen[c] = seq;
  }
  return { done: v.done === true, seen };
}

export function appendWal(conn: OpenedDb, entries: ReadonlyArray<WalLogEntry>): number {
  if (!Array.isArray(entries)) throw new InvalidArgument('appendWal takes an array of entries');
  const rows = entries.map(toRow);
  if (rows.length === 0) return 0;
  const maxSeq = rows.reduce((max, r) => (r.seq > max ? r.seq : max), 0);
  // Committed with the connection's synchronous=NORMAL: durable across a process crash.
  // Durability across an OS crash comes from Catalog.syncWalLog, off the event loop; a
  // follower announces a position only once it is synced (decision 0016).
  return writeTx(conn, 'appending to the wal log', () => {
    const stmts = appendStatement(conn);
    const covered = new Map<string, number>();
    const fresh = rows.filter((r) => {
      const key = `${r.collection}\u0000${r.generation}`;
      let bound = covered.get(key);
      if (bound === undefined) {
        const row = stmts.coversSeq.get({ collection: r.collection, generation: r.generation });
        bound = row?.coversSeq ?? 0;
        covered.set(key, bound);
      }
      return r.seq > bound;
    });
    const insert = stmts.insert;
    let added = 0;
    for (const row of fresh) added += insert.run({ ...row }).changes;
    // Even when the row itself is already sealed by an applied manifest of the generation
    // (applied from CATALOG before the WAL reached it): the switch is still this entry's.
    activate(conn.db, entries);
    stmts.advance.run({ key: WAL_STORED_SEQ_KEY, value: String(maxSeq) });
    const perCollection = new Map<string, number>();
    for (const r of rows) {
      perCollection.set(r.collection, Math.max(perCollection.get(r.collection) ?? 0, r.seq));
    }
    for (const [c, seq] of perCollection) {
      stmts.advance.run({ key: walStoredSeqKey(c), value: String(seq) });
    }
    return added;
  });
}

/** Deletes the entries a manifest seals (caller holds the apply transaction). */
export function trimWal(
  db: CatalogDb,
  collection: string,
  generation: string,
  coversSeq: number,
): void {
  db.delete(walLog)
    .where(
      and(
        eq(walLog.collection, collection),
        eq(walLog.generation, generation),
        lte(walLog.seq, coversSeq),
      ),
    )
    .run();
}

export function walEntriesAfter(
  conn: OpenedDb,
  collection: string,
  generation: string,
  afterSeq: number,
  range: { upTo?: number; limit?: number } = {},
): StoredWalEntry[] {
  checkInt(afterSeq, 'afterSeq');
  const { upTo, limit } = range;
  if (upTo !== undefined) checkInt(upTo, 'upTo');
  if (limit !== undefined) checkInt(limit, 'limit', 1);
  return readTx(conn, 'reading the wal log', () => {
    const q = conn.db
      .select()
      .from(walLog)
      .where(
        and(
          eq(walLog.collection, collection),
          eq(walLog.generation, generation),
          gt(walLog.seq, afterSeq),
          upTo === undefined ? undefined : lte(walLog.seq, upTo),
        ),
      )
      .orderBy(asc(walLog.seq));
    return limit === undefined ? q.all() : q.limit(limit).all();
  });
}

export function walHolds(
  conn: OpenedDb,
  collection: string,
  generation: string,
  seqs: readonly number[],
): Set<number> {
  const held = new Set<number>();
  if (seqs.length === 0) return held;
  const lo = Math.min(...seqs);
  const hi = Math.max(...seqs);
  const rows = readTx(conn, 'reading the wal log', () =>
    conn.db
      .select({ seq: walLog.seq })
      .from(walLog)
      .where(
        and(
          eq(walLog.collection, collection),
          eq(walLog.generation, generation),
          gt(walLog.seq, lo - 1),
          lte(walLog.seq, hi),
        ),
      )
      .all(),
  );
  const wanted = new Set(seqs);
  for (const r of rows) if (wanted.has(r.seq)) held.add(r.seq);
  return held;
}

export function walEntriesAll(conn: OpenedDb): StoredWalEntry[] {
  return readTx(conn, 'reading the wal log', () =>
    conn.db.select().from(walLog).orderBy(asc(walLog.seq)).all(),
  );
}

export function storedWalSeq(conn: OpenedDb, collection?: string): number {
  const key = collection === undefined ? WAL_STORED_SEQ_KEY : walStoredSeqKey(collection);
  const value = readTx(conn, 'reading the stored wal seq', () => readNodeState(conn.db, key));
  return value === null ? 0 : Number(value);
}

/** Drops a generation and its WAL log rows in one transaction (see Catalog.dropGeneration). */
export function dropGeneration(conn: OpenedDb, collection: string, model: string): void {
  writeTx(conn, 'dropping a generation', () => {
    dropGenerationInTx(conn.db, collection, model);
    conn.db
      .delete(walLog)
      .where(and(eq(walLog.collection, collection), eq(walLog.generation, model)))
      .run();
  });
}
