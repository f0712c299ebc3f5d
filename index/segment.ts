import { compileFilter } from './filter.ts';
import { scoreFromDistance } from './metric.ts';
import { assertSearchOptions } from './search-options.ts';
import { toVector } from './validate.ts';
import type { HnswIndex } from './hnsw.ts';
import type { SegmentFileHeader } from './segment-format.ts';
import type { Metadata, Metric, SearchHit, SearchOptions, SearchableIndex } from './types.ts';

/**
 * A loaded, immutable segment: an HNSW graph in memory plus, for each label, its
 * string id, WAL seq and metadata. Label i is the i-th point of the segment file.
 *
 * A point copy that a newer write has replaced or deleted is marked dead with
 * hnswlib's `markDelete`, which the graph search skips natively (no JS callback per
 * candidate); `setDead` is how the view ({@link IndexView}) keeps those marks right.
 */
export class Segment implements SearchableIndex {
  readonly digest: string;
  /** The segment file it was loaded from (null when built in memory, e.g. by a test). */
  readonly path: string | null;
  readonly header: SegmentFileHeader;
  readonly bytes: number;
  readonly ids: readonly string[];
  readonly seqs: Float64Array;
  readonly metadata: ReadonlyArray<Metadata | null>;
  private readonly index: HnswIndex;
  private readonly labels = new Map<string, number>();
  private readonly dead: Uint8Array;
  private deadCount = 0;
  private ef: number;
  private released = false;

  constructor(init: {
    digest: string;
    path?: string | null;
    header: SegmentFileHeader;
    bytes: number;
    ids: string[];
    seqs: Float64Array;
    metadata: Array<Metadata | null>;
    index: HnswIndex;
  }) {
    this.digest = init.digest;
    this.path = init.path ?? null;
    this.header = init.header;
    this.bytes = init.bytes;
    this.ids = init.ids;
    this.seqs = init.seqs;
    this.metadata = init.metadata;
    this.index = init.index;
    init.ids.forEach((id, label) => this.labels.set(id, label));
    this.dead = new Uint8Array(init.ids.length);
    this.ef = init.header.hnsw.efSearch;
    this.index.setEf(this.ef);
  }

  get dim(): number {
    return this.header.dim;
  }
  get metric(): Metric {
    return this.header.metric;
  }
  get count(): number {
    return this.ids.length;
  }
  /** Live points: those no newer write has replaced or deleted. */
  get size(): number {
    return this.ids.length - this.deadCount;
  }

  /** The stored vector of a label (the graph keeps every vector). */
  vectorOf(label: number): Float32Array {
    return Float32Array.from(this.index.getPoint(label));
  }

  labelOf(id: string): number | null {
    return this.labels.get(id) ?? null;
  }

  isDead(label: number): boolean {
    return this.dead[label] === 1;
  }

  /** Marks or unmarks one copy as shadowed. Idempotent. */
  setDead(label: number, dead: boolean): void {
    if ((this.dead[label] === 1) === dead) return;
    this.dead[label] = dead ? 1 : 0;
    this.deadCount += dead ? 1 : -1;
    if (dead) this.index.markDelete(label);
    else this.index.unmarkDelete(label);
  }

  /**
   * Frees the graph's native memory now instead of whenever the garbage collector finds
   * the wrapper (it does not see native memory, so a replaced 300 MB graph could stay
   * resident for minutes). The segment answers nothing afterwards. Idempotent; only the
   * owner of the last reference calls it (a view store, once no view serves it).
   */
  release(): void {
    if (this.released) return;
    this.released = true;
    // initIndex frees the old graph before it allocates the new, one-point one.
    this.index.initIndex(1, 2, 1);
  }

  search(query: ArrayLike<number>, options: SearchOptions): SearchHit[] {
    assertSearchOptions(options);
    const q = toVector(query, this.dim, 'query');
    return this.searchPrepared(Array.from(q), options);
  }

  /** Search with an already validated query as a plain array (hnswlib takes arrays). */
  searchPrepared(q: number[], options: SearchOptions): SearchHit[] {
    if (this.released) throw new Error(`segment ${this.digest.slice(0, 12)} was released`);
    if (this.size === 0) return [];
    const k = Math.min(options.k, this.count);
    const ef = Math.max(options.ef ?? this.header.hnsw.efSearch, k);
    if (ef !== this.ef) {
      this.index.setEf(ef);
      this.ef = ef;
    }
    const predicate = compileFilter(options.filter);
    const res = predicate
      ? this.index.searchKnn(q, k, (label) => predicate(this.metadata[label] ?? null))
      : this.index.searchKnn(q, k);
    const hits: SearchHit[] = [];
    for (let i = 0; i < res.neighbors.length; i++) {
      const label = res.neighbors[i]!;
      hits.push({
        id: this.ids[label]!,
        score: scoreFromDistance(this.metric, res.distances[i]!),
        metadata: this.metadata[label] ?? null,
      });
    }
    return hits;
  }
}
