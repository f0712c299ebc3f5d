import type { Catalog } from '../../catalog/index.ts';
import { Backoff } from '../../lib/wait.ts';
import { lastCollectionDef } from '../catalog-stream.ts';
import type { NatsLink } from '../connection.ts';
import type { CollectionDef } from '../types.ts';
import { applyCollectionDef } from './collection-def.ts';
import { stoppedError } from './follow.ts';
import type { ServedViews } from './views.ts';

/**
 * The collection definitions a replica knows: applied to its catalog and views as they
 * arrive on CATALOG, or fetched from it when a manifest or WAL entry names a collection
 * generation not known here yet.
 */
export class Definitions {
  constructor(
    private readonly o: {
      link: NatsLink;
      catalog: Catalog;
      views: ServedViews;
      signal: AbortSignal;
    },
  ) {}

  apply(def: CollectionDef): void {
    applyCollectionDef(this.o.catalog, this.o.views, def);
  }

  /** Fetches and applies a collection's current definition when the generation is unknown here. */
  async ensure(collection: string, generation: string): Promise<boolean> {
    if (this.o.views.get(collection, generation)) return true;
    const def = await lastCollectionDef(this.o.link.jsm, collection);
    if (def) this.apply(def);
    return this.o.views.get(collection, generation) !== null;
  }

  /**
   * Waits until a collection generation is known here, polling CATALOG with backoff;
   * rejects with `stopped` when the replica stops. Regression: it used to return when the
   * definition was not there yet, and the WAL entries of a collection whose definition
   * lagged behind (a leaf region's CATALOG mirror behind its WAL mirror) were skipped
   * while the position moved past them.
   */
  async await(collection: string, generation: string): Promise<void> {
    const backoff = new Backoff({ firstMs: 50, maxMs: 1_000 });
    // A placed-elsewhere collection still gets its definition (and views) here; only a
    // definition that has not arrived yet keeps us waiting.
    while (!(await this.ensure(collection, generation))) {
      if (this.o.signal.aborted) throw stoppedError();
      await backoff.wait(this.o.signal);
    }
  }
}
