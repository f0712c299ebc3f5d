import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openCatalog } from './catalog.ts';
import { isCatalogError, ManifestConflict } from './errors.ts';
import { digest, manifest, rowCounts, seedDocs, segment, tempCatalog } from './fixtures.ts';
import type { TempCatalog } from './fixtures.ts';
import type { Manifest } from './types.ts';

let t: TempCatalog;
beforeEach(() => {
  t = tempCatalog();
  seedDocs(t.catalog);
});
afterEach(() => t.cleanup());

const G = 'minilm-l6@2';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

/** Everything observable about the catalog's manifests, for before/after comparisons. */
function snapshot() {
  return {
    rows: rowCounts(t.path),
    state: t.catalog.getReplicaState('docs', G),
    applied: t.catalog.appliedManifest('docs', G),
    versions: t.catalog.listManifestVersions('docs', G),
  };
}

describe('catalog', () => {
  it('stores a manifest with its segments, links and tombstones and moves replica_state', () => {
    const m = manifest(1, {
      segments: [segment(1), segment(2)],
      tombstones: [
        { id: 'b', seq: 150 },
        { id: 'a', seq: 160 },
      ],
      coversSeq: 299,
    });
    const result = t.catalog.applyManifest(m);
    expect(result).toEqual({
      applied: true,
      manifests: [{ collection: 'docs', generation: G, version: 1, outcome: 'applied' }],
    });
    expect(rowCounts(t.path)).toMatchObject({
      manifests: 1,
      segments: 2,
      manifest_segments: 2,
      tombstones: 2,
      replica_state: 1,
    });
    const stored = t.catalog.getManifest('docs', G, 1);
    expect(stored).toEqual({
      ...m,
      tombstones: [...m.tombstones].sort((x, y) => (x.id < y.id ? -1 : 1)),
    });
    expect(t.catalog.appliedManifest('docs', G)).toEqual(stored);
    expect(t.catalog.getReplicaState('docs', G)).toMatchObject({
      appliedVersion: 1,
      appliedSeq: 299,
    });
  });

  it('rolls back an apply that fails midway, leaving the previous version and replica_state intact', () => {
    t.catalog.applyManifest(manifest(1));
    const before = snapshot();
    let hookRan = false;
    const err = thrown(() =>
      t.catalog.applyManifest(manifest(2, { segments: [segment(1), segment(2)] }), {
        beforeCommit: () => {
          hookRan = true;
          // The manifest rows must be visible inside the transaction at this point.
          throw new Error('injected crash');
        },
      }),
    );
    expect(hookRan).toBe(true);
    expect(String(err)).toContain('injected crash');
    expect(snapshot()).toEqual(before);
    expect(t.catalog.getManifest('docs', G, 2)).toBeNull();
    // And the same manifest applies cleanly afterwards.
    expect(t.catalog.applyManifest(manifest(2)).applied).toBe(true);
    expect(t.catalog.getReplicaState('docs', G)?.appliedVersion).toBe(2);
  });

  it('writes the manifest rows before the beforeCommit hook runs', () => {
    let countsInHook: ReturnType<typeof rowCounts> | undefined;
    t.catalog.applyManifest(manifest(1), {
      beforeCommit: () => {
        // A separate connection cannot see uncommitted rows; the catalog's own can.
        countsInHook = rowCounts(t.path);
        expect(t.catalog.getManifest('docs', G, 1)).not.toBeNull();
        expect(t.catalog.getReplicaState('docs', G)).toBeNull();
      },
    });
    expect(countsInHook?.manifests).toBe(0);
    expect(rowCounts(t.path).manifests).toBe(1);
  });

  it('stores a redelivered manifest once and reports applied: false the second time', () => {
    expect(t.catalog.applyManifest(manifest(1)).applied).toBe(true);
    const after = rowCounts(t.path);
    const stateAfter = t.catalog.getReplicaState('docs', G);
    const republished = { ...manifest(1), createdAt: '2030-01-01T00:00:00.000Z' };
    const again = t.catalog.applyManifest(republished);
    expect(again).toEqual({
      applied: false,
      manifests: [{ collection: 'docs', generation: G, version: 1, outcome: 'duplicate' }],
    });
    expect(rowCounts(t.path)).toEqual(after);
    expect(after).toMatchObject({ manifests: 1, segments: 1, manifest_segments: 1, tombstones: 1 });
    expect(t.catalog.getReplicaState('docs', G)).toEqual(stateAfter);
  });

  it('refuses a different manifest under an already stored version with ManifestConflict', () => {
    t.catalog.applyManifest(manifest(1));
    const before = snapshot();
    const variants: Manifest[] = [
      manifest(1, { coversSeq: 12345 }),
      manifest(1, { segments: [segment(7)] }),
      manifest(1, { tombstones: [] }),
      manifest(1, { group: 'g-1' }),
    ];
    for (const m of variants) {
      const err = thrown(() => t.catalog.applyManifest(m));
      expect(err).toBeInstanceOf(ManifestConflict);
      expect(isCatalogError(err, 'manifest_conflict')).toBe(true);
    }
    expect(snapshot()).toEqual(before);
  });

  it('refuses a segment digest that reappears with other attributes', () => {
    t.catalog.applyManifest(manifest(1));
    const before = snapshot();
    const lying = manifest(2, { segments: [{ ...segment(1), bytes: 1 }] });
    expect(
      isCatalogError(
        thrown(() => t.catalog.applyManifest(lying)),
        'manifest_conflict',
      ),
    ).toBe(true);
    expect(snapshot()).toEqual(before);
  });

  it('treats a version older than the applied one as a no-op, not an error', () => {
    t.catalog.applyManifest(manifest(3));
    const before = snapshot();
    expect(t.catalog.applyManifest(manifest(2))).toEqual({
      applied: false,
      manifests: [{ collection: 'docs', generation: G, version: 2, outcome: 'stale' }],
    });
    expect(snapshot()).toEqual(before);
  });

  it('stores a segment shared by consecutive versions once', () => {
    t.catalog.applyManifest(manifest(1, { segments: [segment(1)] }));
    t.catalog.applyManifest(manifest(2, { segments: [segment(1), segment(2)] }));
    expect(rowCounts(t.path)).toMatchObject({ segments: 2, manifest_segments: 3, manifests: 2 });
    expect(t.catalog.getManifest('docs', G, 1)?.segments.map((s) => s.digest)).toEqual([digest(1)]);
  });

  it('applies a commit group across collections together', () => {
    seedDocs(t.catalog, 'images');
    const group = [
      manifest(1, { group: 'assets-1' }),
      manifest(1, { collection: 'images', group: 'assets-1', segments: [segment(9)] }),
    ];
    const result = t.catalog.applyManifest(group);
    expect(result.applied).toBe(true);
    expect(result.manifests.map((r) => r.outcome)).toEqual(['applied', 'applied']);
    expect(t.catalog.getReplicaState('docs', G)?.appliedVersion).toBe(1);
    expect(t.catalog.getReplicaState('images', G)?.appliedVersion).toBe(1);
    expect(t.catalog.applyManifest(group).applied).toBe(false);
  });

  it('applies nothing of a commit group when one of its manifests conflicts', () => {
    seedDocs(t.catalog, 'images');
    t.catalog.applyManifest(manifest(1, { collection: 'images' }));
    const before = rowCounts(t.path);
    const imagesState = t.catalog.getReplicaState('images', G);
    const group = [
      manifest(1, { group: 'assets-1' }),
      // Version 1 of images is already stored with other content: the whole group fails.
      manifest(1, { collection: 'images', group: 'assets-1', segments: [segment(9)] }),
    ];
    expect(
      isCatalogError(
        thrown(() => t.catalog.applyManifest(group)),
        'manifest_conflict',
      ),
    ).toBe(true);
    expect(rowCounts(t.path)).toEqual(before);
    expect(t.catalog.getManifest('docs', G, 1)).toBeNull();
    expect(t.catalog.getReplicaState('docs', G)).toBeNull();
    expect(t.catalog.getReplicaState('images', G)).toEqual(imagesState);
  });

  it('applies nothing of a commit group when the transaction fails before commit', () => {
    seedDocs(t.catalog, 'images');
    const before = rowCounts(t.path);
    const group = [
      manifest(1, { group: 'g' }),
      manifest(1, { collection: 'images', group: 'g', segments: [segment(9)] }),
    ];
    const err = thrown(() =>
      t.catalog.applyManifest(group, {
        beforeCommit: () => {
          throw new Error('injected');
        },
      }),
    );
    expect(String(err)).toContain('injected');
    expect(rowCounts(t.path)).toEqual(before);
  });

  it('rejects a malformed manifest or group before touching the database', () => {
    const before = rowCounts(t.path);
    const bad: Array<Manifest | Manifest[]> = [
      manifest(0),
      manifest(1, { segments: [{ ...segment(1), digest: 'abc' }] }),
      manifest(1, {
        tombstones: [
          { id: 'x', seq: 1 },
          { id: 'x', seq: 2 },
        ],
      }),
      manifest(1, { coversSeq: -1 }),
      [manifest(1, { group: 'a' }), manifest(1, { collection: 'images', group: 'b' })],
      [manifest(1), manifest(2)],
    ];
    for (const m of bad) {
      expect(
        isCatalogError(
          thrown(() => t.catalog.applyManifest(m)),
          'invalid_argument',
        ),
      ).toBe(true);
    }
    expect(rowCounts(t.path)).toEqual(before);
  });

  it('refuses a manifest for an unknown generation as not_found', () => {
    const err = thrown(() => t.catalog.applyManifest(manifest(1, { generation: 'other@1' })));
    expect(isCatalogError(err, 'not_found')).toBe(true);
    expect(rowCounts(t.path).manifests).toBe(0);
  });

  it('keeps appliedSeq monotonic across WAL progress and manifests', () => {
    expect(t.catalog.setAppliedSeq('docs', G, 500)).toMatchObject({
      appliedVersion: 0,
      appliedSeq: 500,
    });
    expect(t.catalog.setAppliedSeq('docs', G, 400).appliedSeq).toBe(500);
    t.catalog.applyManifest(manifest(1, { coversSeq: 199 }));
    expect(t.catalog.getReplicaState('docs', G)).toMatchObject({
      appliedVersion: 1,
      appliedSeq: 500,
    });
    t.catalog.applyManifest(manifest(2, { coversSeq: 650 }));
    expect(t.catalog.getReplicaState('docs', G)).toMatchObject({
      appliedVersion: 2,
      appliedSeq: 650,
    });
    expect(t.catalog.setAppliedSeq('docs', G, 700).appliedSeq).toBe(700);
  });

  it('finds the applied state again after the file is closed and reopened', () => {
    t.catalog.applyManifest(manifest(1));
    t.catalog.applyManifest(manifest(2, { segments: [segment(1), segment(2)] }));
    t.catalog.setAppliedSeq('docs', G, 321);
    const applied = t.catalog.appliedManifest('docs', G);
    const state = t.catalog.getReplicaState('docs', G);
    t.catalog.close();

    const reopened = openCatalog(t.path);
    try {
      expect(reopened.getCollection('docs')?.dim).toBe(384);
      expect(reopened.appliedManifest('docs', G)).toEqual(applied);
      expect(reopened.getReplicaState('docs', G)).toEqual(state);
      expect(reopened.listManifestVersions('docs', G)).toEqual([1, 2]);
    } finally {
      reopened.close();
    }
  });
});
