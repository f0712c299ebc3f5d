import { compileFilter } from './filter.ts';
import { compareHits, exactScore, prepareVector } from './metric.ts';
import { toVector } from './validate.ts';
import type { Metadata, Metric, SearchHit, SearchOptions, SearchableIndex } from './types.ts';
import { assertSearchOptions } from './search-options.ts';

/**
 * The exact index: every query scores every point. It is the oracle the HNSW
 * segments are measured against, and the engine of the memtable (recent points that
 * are not sealed into a segment yet). Upserts replace, removes free the slot.
 */
export class FlatIndex implements SearchableIndex {
  readonly dim: number;
  readonly metric: Metric;
  private data: Float32Array;
  private ids: Array<string | null> = [];
  private metas: Array<Metadata | null> = [];
  private readonly slots = new Map<string, number>();
  private readonly free: number[] = [];

  constructor(dim: number, metric: Metric, initialCapacity = 64) {
    this.dim = dim;
    this.metric = metric;
    this.data = new Float32Array(Math.max(1, initialCapacity) * dim);
  }

  get size(): number {
    return this.slots.size;
  }

  has(id: string): boolean {
    return this.slots.has(id);
  }

  /** Adds or replaces a point. The vector must already be validated (dim, finite). */
  upsert(id: string, vector: Float32Array, metadata: Metadata | null): void {
    let slot = this.slots.get(id);
    if (slot === undefined) {
      slot = this.free.pop() ?? this.ids.length;
      if (slot === this.ids.length) {
        this.ids.push(null);
        this.metas.push(null);
      }
      if ((slot + 1) * this.dim > this.data.length) {
        const grown = new Float32Array(Math.max(this.data.length * 2, (slot + 1) * this.dim));
        grown.set(this.data);
        this.data = grown;
      }
      this.slots.set(id, slot);
    }
    this.data.set(prepareVector(this.metric, vector), slot * this.dim);
    this.ids[slot] = id;
    this.metas[slot] = metadata;
  }

  remove(id: string): boolean {
    const slot = this.slots.get(id);
    if (slot === undefined) return false;
    this.slots.delete(id);
    this.ids[slot] = null;
    this.metas[slot] = null;
    this.free.push(slot);
    return true;
  }

  search(query: ArrayLike<number>, options: SearchOptions): SearchHit[] {
    assertSearchOptions(options);
    const q = prepareVector(this.metric, toVector(query, this.dim, 'query'));
    const predicate = compileFilter(options.filter);
    const top: SearchHit[] = [];
    for (let slot = 0; slot < this.ids.length; slot++) {
      const id = this.ids[slot];
      if (id === null || id === undefined) continue;
      const metadata = this.metas[slot] ?? null;
      if (predicate && !predicate(metadata)) continue;
      const score = exactScore(this.metric, q, this.data, slot * this.dim);
      insertBounded(top, { id, score, metadata }, options.k);
    }
    return top;
  }
}

/** Keeps `top` sorted best first and at most `k` long. */
export function insertBounded(top: SearchHit[], hit: SearchHit, k: number): void {
  if (top.length === k && compareHits(hit, top[k - 1]!) >= 0) return;
  let i = top.length;
  while (i > 0 && compareHits(hit, top[i - 1]!) < 0) i--;
  top.splice(i, 0, hit);
  if (top.length > k) top.pop();
}
