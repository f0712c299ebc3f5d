import { IndexView } from '../../index/index.ts';
import type { SearchThreads } from '../../index/index.ts';
import type { CollectionSettings, Generation } from '../../catalog/index.ts';
import type { ReplicaCollectionState } from '../types.ts';

/** One collection generation as this replica serves it. */
export interface ServedGeneration {
  settings: CollectionSettings;
  generation: Generation;
  view: IndexView;
  /** Applied manifest version; 0 before the first. */
  version: number;
  /** Digests of the applied manifest's segments, in manifest order. */
  digests: string[];
  error: ReplicaCollectionState['error'];
}

const keyOf = (collection: string, generation: string) => `${collection}\u0000${generation}`;

/** The collection generations a replica serves, by collection and model. */
export class ServedViews {
  private readonly byKey = new Map<string, ServedGeneration>();

  private threads: SearchThreads | null = null;

  /**
   * Mirrors every view, now and to come, in `threads` and searches there (decision 0012);
   * replaces earlier threads (after a failure). Each existing view is sent whole.
   */
  useSearchThreads(threads: SearchThreads): void {
    this.threads = threads;
    for (const s of this.byKey.values()) s.view.attachSearchThreads(threads);
  }

  get(collection: string, generation: string): ServedGeneration | null {
    return this.byKey.get(keyOf(collection, generation)) ?? null;
  }

  /** The generation of a collection that queries use by default (the active one). */
  active(collection: string): ServedGeneration | null {
    for (const s of this.byKey.values()) {
      if (s.settings.name === collection && s.generation.state === 'active') return s;
    }
    return null;
  }

  /** Creates the entry if missing; refreshes settings and generation state if present. Idempotent. */
  ensure(settings: CollectionSettings, generation: Generation): ServedGeneration {
    const key = keyOf(settings.name, generation.model);
    const cur = this.byKey.get(key);
    if (cur) {
      cur.settings = settings;
      cur.generation = generation;
      return cur;
    }
    const view = new IndexView({ dim: generation.dim, metric: settings.metric });
    if (this.threads) view.attachSearchThreads(this.threads);
    const created: ServedGeneration = {
      settings,
      generation,
      view,
      version: 0,
      digests: [],
      error: null,
    };
    this.byKey.set(key, created);
    return created;
  }

  all(): ServedGeneration[] {
    return [...this.byKey.values()];
  }

  states(): ReplicaCollectionState[] {
    return this.all().map((s) => ({
      collection: s.settings.name,
      generation: s.generation.model,
      version: s.version,
      coversSeq: s.view.coversSeq,
      points: s.view.size,
      error: s.error,
    }));
  }
}
