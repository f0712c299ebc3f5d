import { isCollectionExists } from '../../catalog/index.ts';
import type { Catalog, Generation } from '../../catalog/index.ts';
import type { CollectionDef } from '../types.ts';
import type { ServedViews } from './views.ts';

const order = { retired: 0, active: 1, staging: 2 } as const;

/**
 * Makes the local catalog and served views agree with a published collection
 * definition: creates the collection and any missing generation, and drops a local
 * generation the definition no longer lists (unless it is active here). It never moves
 * which generation is active: an activation is a WAL entry, applied at its position
 * (issue 14), and a definition may arrive before the replica reaches it. A generation
 * new here takes the definition's state, except that one the definition calls active
 * while another is active here waits as `retired` for its activation entry.
 * Idempotent and safe under redelivery.
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
  const listed = new Set(def.generations.map((g) => g.model));
  for (const g of local.values()) {
    if (!listed.has(g.model) && g.state !== 'active') {
      catalog.dropGeneration(settings.name, g.model);
      views.drop(settings.name, g.model);
      local.delete(g.model);
    }
  }
  const activeHere = [...local.values()].some((g) => g.state === 'active');
  const sorted = [...def.generations].sort((a, b) => order[a.state] - order[b.state]);
  for (const g of sorted) {
    if (local.has(g.model)) continue;
    const state = g.state === 'active' && activeHere ? 'retired' : g.state;
    catalog.addGeneration(settings.name, g.model, g.dim, state);
  }
  const stored = catalog.getCollection(settings.name) ?? settings;
  for (const g of catalog.listGenerations(settings.name)) views.ensure(stored, g as Generation);
}
