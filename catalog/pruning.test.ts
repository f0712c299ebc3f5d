import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digest, manifest, rowCounts, seedDocs, segment, tempCatalog } from './fixtures.ts';
import type { TempCatalog } from './fixtures.ts';

let t: TempCatalog;
beforeEach(() => {
  t = tempCatalog();
  seedDocs(t.catalog);
});
afterEach(() => t.cleanup());

const G = 'minilm-l6@2';

describe('catalog', () => {
  it('prunes old manifests but never the applied one', () => {
    for (let v = 1; v <= 5; v++) t.catalog.applyManifest(manifest(v));
    expect(t.catalog.pruneManifests('docs', G, 2)).toEqual([1, 2, 3]);
    expect(t.catalog.listManifestVersions('docs', G)).toEqual([4, 5]);
    expect(t.catalog.pruneManifests('docs', G, 0)).toEqual([4]);
    expect(t.catalog.listManifestVersions('docs', G)).toEqual([5]);
    expect(t.catalog.appliedManifest('docs', G)?.version).toBe(5);
    expect(t.catalog.pruneManifests('docs', G, 0)).toEqual([]);
  });

  it('keeps the applied manifest even when it is older than the retention window', () => {
    for (let v = 1; v <= 3; v++) t.catalog.applyManifest(manifest(v));
    // A replica pinned to an older version (as a rollback would leave it).
    const raw = new Database(t.path);
    raw.prepare('update replica_state set applied_version = 1').run();
    raw.close();
    expect(t.catalog.pruneManifests('docs', G, 1)).toEqual([2]);
    expect(t.catalog.listManifestVersions('docs', G)).toEqual([1, 3]);
    expect(t.catalog.appliedManifest('docs', G)?.version).toBe(1);
  });

  it('removes links, tombstones and unreferenced segment rows with the pruned manifests', () => {
    t.catalog.applyManifest(manifest(1, { segments: [segment(1)] }));
    t.catalog.applyManifest(manifest(2, { segments: [segment(1), segment(2)] }));
    t.catalog.applyManifest(manifest(3, { segments: [segment(2), segment(3)] }));
    expect(t.catalog.referencedDigests()).toEqual(new Set([digest(1), digest(2), digest(3)]));

    t.catalog.pruneManifests('docs', G, 1);
    // These counts drop only through ON DELETE CASCADE, i.e. with foreign_keys on.
    expect(rowCounts(t.path)).toMatchObject({
      manifests: 1,
      manifest_segments: 2,
      tombstones: 1,
      segments: 2,
    });
    expect(t.catalog.referencedDigests()).toEqual(new Set([digest(2), digest(3)]));
  });
});
