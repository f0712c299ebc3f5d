import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openCatalog } from './catalog.ts';
import { isCatalogError } from './errors.ts';
import { manifest, seedDocs, segment, tempCatalog } from './fixtures.ts';
import type { TempCatalog } from './fixtures.ts';
import type { WalLogEntry } from './types.ts';

let t: TempCatalog;
beforeEach(() => {
  t = tempCatalog();
  seedDocs(t.catalog);
});
afterEach(() => t.cleanup());

const G = 'minilm-l6@2';
const G2 = 'e5-large@1';

function entry(seq: number, collection = 'docs', generation = G): WalLogEntry {
  return { seq, collection, generation, payload: new TextEncoder().encode(`w${seq}`) };
}

/** `[seq, collection, generation]` of every stored entry, by seq. */
const stored = () => t.catalog.walEntriesAll().map((e) => [e.seq, e.collection, e.generation]);

describe('catalog wal log', () => {
  it('stores entries and reads them back in seq order with their bytes', () => {
    const bytes = new Uint8Array([0, 1, 2, 255]);
    const sub = new Uint8Array([9, 9, 7, 8, 9]).subarray(2, 4); // a view with an offset
    expect(
      t.catalog.appendWal([
        entry(12),
        { seq: 3, collection: 'faq', generation: G, payload: bytes },
        { seq: 7, collection: 'docs', generation: G, payload: sub },
      ]),
    ).toBe(3);
    expect(stored()).toEqual([
      [3, 'faq', G],
      [7, 'docs', G],
      [12, 'docs', G],
    ]);
    const docs = t.catalog.walEntriesAfter('docs', G, 0);
    expect(docs.map((e) => e.seq)).toEqual([7, 12]);
    expect(Buffer.isBuffer(docs[0]?.payload)).toBe(true);
    expect([...(docs[0]?.payload ?? [])]).toEqual([7, 8]);
    expect(docs[1]?.payload.toString()).toBe('w12');
    expect([...(t.catalog.walEntriesAfter('faq', G, 0)[0]?.payload ?? [])]).toEqual([0, 1, 2, 255]);
    expect(t.catalog.walEntriesAfter('docs', G, 7).map((e) => e.seq)).toEqual([12]);
    expect(t.catalog.walEntriesAfter('docs', G2, 0)).toEqual([]);
  });

  it('stores a redelivered entry once: the second append of the same batch returns 0', () => {
    const batch = [entry(1), entry(2), entry(3, 'faq')];
    expect(t.catalog.appendWal(batch)).toBe(3);
    expect(t.catalog.appendWal(batch)).toBe(0);
    expect(t.catalog.appendWal([entry(3, 'faq'), entry(4)])).toBe(1);
    expect(t.catalog.appendWal([entry(5), entry(5)])).toBe(1);
    expect(stored().map(([seq]) => seq)).toEqual([1, 2, 3, 4, 5]);
    expect(t.catalog.appendWal([])).toBe(0);
  });

  it('keeps storedWalSeq monotonic whatever order batches arrive in', () => {
    expect(t.catalog.storedWalSeq()).toBe(0);
    t.catalog.appendWal([entry(8), entry(10), entry(9)]);
    expect(t.catalog.storedWalSeq()).toBe(10);
    t.catalog.appendWal([entry(4)]);
    expect(t.catalog.storedWalSeq()).toBe(10);
    t.catalog.appendWal([entry(10)]);
    expect(t.catalog.storedWalSeq()).toBe(10);
    // Compared as integers, not as the strings node_state holds ('9' > '10').
    t.catalog.appendWal([entry(100)]);
    expect(t.catalog.storedWalSeq()).toBe(100);
  });

  it('refuses invalid entries before writing anything', () => {
    const bad: unknown[] = [
      { ...entry(1), seq: 0 },
      { ...entry(1), seq: 1.5 },
      { ...entry(1), collection: 'has space' },
      { ...entry(1), generation: '' },
      { ...entry(1), payload: 'text' },
    ];
    for (const b of bad) {
      let err: unknown;
      try {
        t.catalog.appendWal([entry(2), b as WalLogEntry]);
      } catch (e) {
        err = e;
      }
      expect(isCatalogError(err, 'invalid_argument')).toBe(true);
    }
    expect(stored()).toEqual([]);
    expect(t.catalog.storedWalSeq()).toBe(0);
  });

  it('applyManifest trims only entries at or below coversSeq of that collection and generation', () => {
    seedDocs(t.catalog, 'faq');
    t.catalog.addGeneration('docs', G2, 1024, 'staging');
    t.catalog.appendWal([
      entry(150),
      entry(199),
      entry(200),
      entry(260),
      entry(120, 'faq'),
      entry(130, 'docs', G2),
    ]);
    // coversSeq 199
    expect(t.catalog.applyManifest(manifest(1)).applied).toBe(true);
    expect(stored()).toEqual([
      [120, 'faq', G],
      [130, 'docs', G2],
      [200, 'docs', G],
      [260, 'docs', G],
    ]);
    expect(t.catalog.storedWalSeq()).toBe(260);
  });

  it('trims for every manifest of a commit group', () => {
    seedDocs(t.catalog, 'faq');
    t.catalog.appendWal([entry(150), entry(250), entry(160, 'faq'), entry(260, 'faq')]);
    t.catalog.applyManifest([
      manifest(1, { group: 'g1' }),
      manifest(1, { collection: 'faq', group: 'g1', coversSeq: 160, segments: [segment(9)] }),
    ]);
    expect(stored()).toEqual([
      [250, 'docs', G],
      [260, 'faq', G],
    ]);
  });

  it('skips entries redelivered after the manifest that seals them was applied', () => {
    t.catalog.applyManifest(manifest(1)); // coversSeq 199
    expect(t.catalog.appendWal([entry(150), entry(199), entry(200)])).toBe(1);
    expect(stored()).toEqual([[200, 'docs', G]]);
    expect(t.catalog.storedWalSeq()).toBe(200);
  });

  it('leaves the entries in place when applyManifest fails midway', () => {
    t.catalog.appendWal([entry(150), entry(199), entry(200)]);
    const before = stored();
    let trimmedInside: number | null = null;
    expect(() =>
      t.catalog.applyManifest(manifest(1), {
        beforeCommit: () => {
          // Through a second connection: the trim is not committed yet, so the rows are
          // all still visible there; the rollback, not the hook order, keeps them.
          trimmedInside = walRowsSeenByOtherConnection();
          throw new Error('injected crash');
        },
      }),
    ).toThrow('injected crash');
    expect(trimmedInside).toBe(3);
    expect(stored()).toEqual(before);
    expect(t.catalog.getReplicaState('docs', G)).toBeNull();
    // The retry applies and trims.
    t.catalog.applyManifest(manifest(1));
    expect(stored()).toEqual([[200, 'docs', G]]);
  });

  it('keeps entries and storedWalSeq across a reopen of the file', () => {
    t.catalog.appendWal([entry(5), entry(6, 'faq')]);
    t.catalog.close();
    const reopened = openCatalog(t.path);
    try {
      expect(reopened.walEntriesAll().map((e) => [e.seq, e.payload.toString()])).toEqual([
        [5, 'w5'],
        [6, 'w6'],
      ]);
      expect(reopened.storedWalSeq()).toBe(6);
    } finally {
      reopened.close();
    }
  });
});

function walRowsSeenByOtherConnection(): number {
  const db = new Database(t.path, { readonly: true });
  try {
    return (db.prepare('select count(*) as n from wal_log').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('catalog wal log: activation entries (issue 14)', () => {
  const models = () =>
    Object.fromEntries(t.catalog.listGenerations('docs').map((g) => [g.model, g.state]));
  /** The active generation of docs and of images. */
  const actives = () =>
    ['docs', 'images'].map(
      (c) => t.catalog.listGenerations(c).find((g) => g.state === 'active')?.model,
    );
  /**
   * Stages G2 in docs and a new collection images; returns the entry of a member of
   * commit group `id` activating G2 in both.
   */
  const stageGroup = (id: string) => {
    seedDocs(t.catalog, 'images');
    t.catalog.addGeneration('docs', G2, 768, 'staging');
    t.catalog.addGeneration('images', G2, 768, 'staging');
    const held = ['docs', 'images'].map((collection) => ({ collection, generation: G2 }));
    return (seq: number, collection: string): WalLogEntry => ({
      ...entry(seq, collection, G2),
      activates: true,
      group: { id, held },
    });
  };

  it('switches the active generation in the transaction that stores the entry', () => {
    t.catalog.addGeneration('docs', G2, 768, 'staging');
    t.catalog.appendWal([entry(5), entry(6, 'docs', G2)]);
    expect(models()).toEqual({ [G]: 'active', [G2]: 'staging' });
    t.catalog.appendWal([{ ...entry(7, 'docs', G2), activates: true }, entry(8, 'docs', G2)]);
    expect(models()).toEqual({ [G]: 'retired', [G2]: 'active' });
    // A rollback is an activation of the retired generation; a repeat changes nothing.
    t.catalog.appendWal([{ ...entry(9), activates: true }]);
    t.catalog.appendWal([{ ...entry(9), activates: true }]);
    expect(models()).toEqual({ [G]: 'active', [G2]: 'retired' });
  });

  it('an append refused for a bad entry switches nothing', () => {
    t.catalog.addGeneration('docs', G2, 768, 'staging');
    const bad = {
      ...entry(10, 'docs', G2),
      activates: true,
      payload: 'not bytes' as unknown as Uint8Array,
    };
    expect(() =>
      t.catalog.appendWal([{ ...entry(11, 'docs', G2), activates: true }, bad]),
    ).toThrow();
    expect(models()).toEqual({ [G]: 'active', [G2]: 'staging' });
    expect(stored()).toEqual([]);
  });

  it('drops a generation that is not active with its WAL log rows; the active one is refused', () => {
    t.catalog.addGeneration('docs', G2, 768, 'staging');
    t.catalog.appendWal([entry(5), entry(6, 'docs', G2)]);
    expect(() => t.catalog.dropGeneration('docs', G)).toThrow(/active/);
    t.catalog.dropGeneration('docs', G2);
    t.catalog.dropGeneration('docs', G2);
    expect(models()).toEqual({ [G]: 'active' });
    expect(stored()).toEqual([[5, 'docs', G]]);
  });

  it('a commit group flips its held members with the last of their entries, durably, and once', () => {
    const member = stageGroup('g1');
    t.catalog.appendWal([member(20, 'docs')]);
    expect(actives()).toEqual([G, G]);
    // The partial group survives a restart (a crash between the two entries).
    t.catalog.close();
    t.catalog = openCatalog(t.path);
    expect(actives()).toEqual([G, G]);
    t.catalog.appendWal([member(21, 'images')]);
    expect(actives()).toEqual([G2, G2]);
    // A rollback of one collection, then a member delivered again: nothing flips back.
    t.catalog.appendWal([{ ...entry(22, 'docs'), activates: true }]);
    t.catalog.appendWal([member(20, 'docs'), member(21, 'images')]);
    expect(actives()).toEqual([G, G2]);
    t.catalog.close(); // the reopened one; cleanup closes the first (idempotent)
  });

  it('a group completed after a later activation of one member leaves that member alone', () => {
    const member = stageGroup('g3');
    // A leaf region's docs mirror brings the group's docs entry (40) and a later rollback
    // of docs (42) before its images mirror brings the group's images entry (41).
    t.catalog.appendWal([member(40, 'docs')]);
    t.catalog.appendWal([{ ...entry(42, 'docs'), activates: true }]);
    t.catalog.appendWal([member(41, 'images')]);
    expect(actives()).toEqual([G, G2]);
  });

  it('a node that holds one member of a group flips it with that member alone', () => {
    seedDocs(t.catalog, 'images');
    t.catalog.addGeneration('docs', G2, 768, 'staging');
    t.catalog.appendWal([
      {
        ...entry(30, 'docs', G2),
        activates: true,
        group: { id: 'g2', held: [{ collection: 'docs', generation: G2 }] },
      },
    ]);
    expect(models()).toEqual({ [G]: 'retired', [G2]: 'active' });
  });
});
