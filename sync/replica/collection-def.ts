import { isCollectionExists } from '../../catalog/index.ts';
import type { Catalog, Generation } from '../../catalog/index.ts';
import type { CollectionDef } from '../types.ts';
import type { ServedViews } from './views.ts';

const order = { retired: 0, active: 1, staging: 2 } as const;

/**
 * Makes the local catalog and served views agree with a published collection
 * definition: creates the collection and any missing generation, and moves generation
 * states (retire first, then activate, then stage, so the one-active rule holds at
 * every step). Idempotent and safe under redelivery.
 */
export function applyCollectionDef(catalog: Catalog, views: ServedViews, def: CollectionDef): void {
  const { settings } = def;
  try {
    catalog.createCollection({ ...settings });
  } catch (err) {
    // Settings already recorded (possibly an older version of the def): keep going.
    if (!isCollectionExists(err)) throw err;
  }
  const local = new Map(catalog.listGenerations(settings.name).map((g) => [g.model, g]));
  const sorted = [...def.generations].sort((a, b) => order[a.state] - order[b.state]);
  for (const g of sorted) {
    const cur = local.get(g.model);
    if (!cur) catalog.addGeneration(settings.name, g.model, g.dim, g.state);
    else if (cur.state !== g.state) catalog.setGenerationState(settings.name, g.model, g.state);
  }
  const stored = catalog.getCollection(settings.name) ?? settings;
  for (const g of catalog.listGenerations(settings.name)) views.ensure(stored, g as Generation);
}
