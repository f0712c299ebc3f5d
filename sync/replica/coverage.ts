import type { IdCoverage } from '../../index/index.ts';
import type { ServedGeneration } from './views.ts';

/** A generation's coverage of the active one (issue 14), as one replica holds both. */
export interface Coverage extends IdCoverage {
  /** The active generation it is measured against. */
  of: string;
  /** `covered / reference` (1 when the active generation is empty). */
  ratio: number;
}

/**
 * How `generation` covers the active generation on this replica: the active ids it
 * lacks and the ids only it has. Null for the active generation itself, or when either
 * view is missing here. The sets are built on the view thread, not the event loop.
 */
export async function coverageOf(
  served: (model?: string) => ServedGeneration | null,
  model: string,
): Promise<Coverage | null> {
  const active = served();
  const g = served(model);
  if (!active || !g || g.generation.model === active.generation.model) return null;
  const c = await g.view.coverage(active.view);
  return {
    ...c,
    of: active.generation.model,
    ratio: c.reference === 0 ? 1 : c.covered / c.reference,
  };
}
