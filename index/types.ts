/**
 * Public contracts of the index module: points, metrics, search options and results,
 * the segment header, and the interface every searchable index implements.
 */

/** Distance metrics. Scores are always "higher is better" (see {@link scoreMeaning}). */
export const Metrics = ['cosine', 'l2', 'ip'] as const;
export type Metric = (typeof Metrics)[number];

/** What a score means for each metric; every search result's `score` follows this table. */
export const scoreMeaning = {
  cosine: 'cosine similarity in [-1, 1] (1 - hnswlib cosine distance)',
  ip: 'inner (dot) product (1 - hnswlib ip distance)',
  l2: 'negated euclidean distance, -sqrt(sum((q_i - x_i)^2)); 0 is an exact match',
} as const satisfies Record<Metric, string>;

/** A JSON object attached to a point. */
export type Metadata = Record<string, unknown>;

/** A point as given by a user or a WAL entry. */
export interface PointInput {
  id: string;
  vector: ArrayLike<number>;
  metadata?: Metadata | null;
}

/** A validated point: the vector is a Float32Array of exactly `dim` finite numbers. */
export interface Point {
  id: string;
  vector: Float32Array;
  metadata: Metadata | null;
}

/** A point together with the WAL sequence number of the write that produced it. */
export interface SeqPoint extends Point {
  seq: number;
}

/** HNSW graph parameters of a collection. */
export interface HnswParams {
  M: number;
  efConstruction: number;
  efSearch: number;
}

export const defaultHnswParams: HnswParams = { M: 16, efConstruction: 200, efSearch: 64 };

/** A metadata filter: top-level keys, each an exact value or `{ $in: [values] }`; all must match. */
export type FilterValue =
  string | number | boolean | null | { $in: Array<string | number | boolean | null> };
export type Filter = Record<string, FilterValue>;

export interface SearchOptions {
  k: number;
  /** HNSW beam width; raised to at least `k`. Ignored by exact indexes. */
  ef?: number;
  filter?: Filter;
}

export interface SearchHit {
  id: string;
  /** Higher is better; meaning per metric in {@link scoreMeaning}. */
  score: number;
  metadata: Metadata | null;
}

/** Anything that answers top-k queries: the exact flat index (the oracle) and HNSW segments. */
export interface SearchableIndex {
  readonly dim: number;
  readonly metric: Metric;
  /** Number of live points. */
  readonly size: number;
  search(query: ArrayLike<number>, options: SearchOptions): SearchHit[];
}

/** Everything a segment file says about itself before its graph and data. */
export interface SegmentHeader {
  collection: string;
  generation: string;
  dim: number;
  metric: Metric;
  count: number;
  /** Lowest and highest WAL seq of the points inside. */
  minSeq: number;
  maxSeq: number;
  hnsw: HnswParams;
  createdAt: string;
}
