import type { Catalog } from '../../catalog/index.ts';
import { decodeWalEntry } from '../wal-codec.ts';
import type { ManifestApplier } from './manifest-applier.ts';
import type { ServedGeneration } from './views.ts';

/**
 * Loads what the data directory says this node applied into one served view: the applied
 * manifest (its segments verified, refetched when missing or bad, installed by the
 * applier), then the local WAL log's entries after it into the memtable. The one install
 * path of a start (every view) and of a view whose thread was lost. Touches no stream but
 * SEGMENTS. Returns the highest WAL seq it replayed (0 when none). Idempotent.
 */
export async function restoreView(
  catalog: Catalog,
  applier: ManifestApplier,
  served: ServedGeneration,
): Promise<number> {
  const { name } = served.settings;
  const { model } = served.generation;
  const m = catalog.appliedManifest(name, model);
  if (m) await applier.reinstall(served, m);
  let last = 0;
  for (const row of catalog.walEntriesAfter(name, model, m?.coversSeq ?? 0)) {
    const e = decodeWalEntry(row.payload);
    last = row.seq;
    if (e.op === 'activate') continue; // the catalog recorded it when it was stored
    if (e.op === 'upsert') served.view.upsert(e.points, row.seq);
    else served.view.delete(e.ids, row.seq);
  }
  return last;
}
