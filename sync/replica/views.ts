import type { ViewHandle, ViewHost } from '../../index/index.ts';
import type { CollectionSettings, Generation } from '../../catalog/index.ts';
import type { ReplicaCollectionState } from '../types.ts';

/** One collection generation as this replica serves it. */
export interface ServedGeneration {
  settings: CollectionSettings;
  generation: Generation;
  /** The view, held once by the node's view host (decision 0013). */
  view: ViewHandle;
  /** Applied manifest version; 0 before the first. */
  version: number;
  /** Digests of the applied manifest's segments, in manifest order. */
  digests: string[];
  error: ReplicaCollectionState['error'];
  /** Installs and rebuilds of this view run one at a time (see {@link ServedViews.exclusive}). */
  lock: Promise<unknown>;
}

const keyOf = (collection: string, generation: string) => `${collection}\u0000${generation}`;

/** The collection generations a replica serves, by collection and model. */
export class ServedViews {
  private readonly byKey = new Map<string, ServedGeneration>();
  private host: ViewHost | null = null;
  private refresh: NodeJS.Timeout | null = null;

  /**
   * Where views live from now on (a replica sets it once, when it starts); views are
   * opened there. `statsEveryMs` refreshes each changed view's counts for heartbeats.
   */
  useHost(host: ViewHost, statsEveryMs = 1_000): void {
    this.host = host;
    this.refresh = setInterval(() => {
      for (const s of this.byKey.values()) {
        if (s.view.changedSinceStats) s.view.stats().catch(() => undefined);
      }
    }, statsEveryMs);
    this.refresh.unref();
  }

  /** Stops refreshing counts (the host is closed by its owner). */
  stop(): void {
    if (this.refresh) clearInterval(this.refresh);
    this.refresh = null;
  }

  get(collection: string, generation: string): ServedGeneration | null {
    return this.byKey.get(keyOf(collection, generation)) ?? null;
  }

  /** The served generation whose view is `view`. */
  byView(view: ViewHandle): ServedGeneration | null {
    for (const s of this.byKey.values()) if (s.view === view) return s;
    return null;
  }

  /** The generation of a collection that queries use by default (the active one). */
  active(collection: string): ServedGeneration | null {
    for (const s of this.byKey.values()) {
      if (s.settings.name === collection && s.generation.state === 'active') return s;
    }
    return null;
  }

  /**
   * Makes `model` the collection's active generation and retires the one that was (an
   * activation entry of the WAL): queries without a model use it from now on. Idempotent.
   */
  activate(collection: string, model: string): void {
    const target = this.get(collection, model);
    if (!target) return;
    for (const s of this.byKey.values()) {
      if (s.settings.name !== collection || s === target) continue;
      if (s.generation.state === 'active') s.generation = { ...s.generation, state: 'retired' };
    }
    target.generation = { ...target.generation, state: 'active' };
  }

  /** Forgets a dropped generation; its view is closed. */
  drop(collection: string, model: string): void {
    const s = this.get(collection, model);
    if (!s) return;
    this.byKey.delete(keyOf(collection, model));
    this.host?.drop(s.view);
  }

  /** Creates the entry if missing; refreshes settings and generation state if present. Idempotent. */
  ensure(settings: CollectionSettings, generation: Generation): ServedGeneration {
    const key = keyOf(settings.name, generation.model);
    const cur = this.byKey.get(key);
    if (cur) {
      cur.settings = settings;
      // Which generation is active changes only by an activation entry of the WAL
      // (`activate`), never by a definition that may arrive before it.
      cur.generation = { ...generation, state: cur.generation.state };
      return cur;
    }
    if (!this.host) throw new Error('served views: no view host yet (the replica has not started)');
    const created: ServedGeneration = {
      settings,
      generation,
      view: this.host.open(generation.dim, settings.metric),
      version: 0,
      digests: [],
      error: null,
      lock: Promise.resolve(),
    };
    this.byKey.set(key, created);
    return created;
  }

  /**
   * Runs `fn` once every install or rebuild of `served` started before it has finished:
   * an install prepared on a view thread is never committed into a store rebuilt beside it.
   */
  exclusive<T>(served: ServedGeneration, fn: () => Promise<T>): Promise<T> {
    const run = served.lock.then(fn, fn);
    served.lock = run.catch(() => undefined);
    return run;
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
      points: s.view.lastStats.points,
      state: s.generation.state,
      error: s.error,
    }));
  }
}
