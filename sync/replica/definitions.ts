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
    return (await this.lookup(collection, generation)) === 'known';
  }

  /**
   * Whether the generation is known here (fetching the current definition if not), or was
   * dropped before `seq` (the definition, published at or after `seq`, no longer lists it),
   * or is not known yet.
   */
  async lookup(
    collection: string,
    generation: string,
    seq?: number,
  ): Promise<'known' | 'dropped' | 'unknown'> {
    if (this.o.views.get(collection, generation)) return 'known';
    const def = await lastCollectionDef(this.o.link.jsm, collection);
    if (def) this.apply(def);
    if (this.o.views.get(collection, generation)) return 'known';
    const dropped =
      def !== null &&
      seq !== undefined &&
      def.walSeq !== undefined &&
      def.walSeq >= seq &&
      !def.generations.some((g) => g.model === generation);
    return dropped ? 'dropped' : 'unknown';
  }

  /**
   * Waits until a collection generation is known here (true), or is known to have been
   * dropped before the entry at `seq` (false), polling CATALOG with backoff; rejects with
   * `stopped` when the replica stops. Regression: it used to return when the
   * definition was not there yet, and the WAL entries of a collection whose definition
   * lagged behind (a leaf region's CATALOG mirror behind its WAL mirror) were skipped
   * while the position moved past them.
   */
  async await(collection: string, generation: string, seq: number): Promise<boolean> {
    const backoff = new Backoff({ firstMs: 50, maxMs: 1_000 });
    // A placed-elsewhere collection still gets its definition (and views) here; only a
    // definition that has not arrived yet keeps us waiting. An entry of a dropped
    // generation is skipped (false).
    for (;;) {
      const found = await this.lookup(collection, generation, seq);
      if (found !== 'unknown') return found === 'known';
      if (this.o.signal.aborted) throw stoppedError();
      await backoff.wait(this.o.signal);
    }
  }
}
