/**
 * Vector datasets for recall tests and benchmarks: the real sets in `../shared/datasets/`
 * (TEXMEX files with exact ground truth), the SAP Fiori docs embeddings from npm (always
 * installed, ground truth computed here), and a seeded generator for scale tests.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Metric } from '../../index/types.ts';
import { readFvecs, readIvecs } from '../../index/vector-files.ts';

/** A base set, queries and their exact nearest neighbours. */
export interface Dataset {
  name: string;
  dim: number;
  metric: Metric;
  /** `baseCount × dim` values, row-major. */
  base: Float32Array;
  baseCount: number;
  /** `queryCount × dim` values, row-major. */
  queries: Float32Array;
  queryCount: number;
  /** `queryCount × gtK` 0-based base row indices, nearest first, ties to the lower index. */
  groundTruth: Int32Array;
  gtK: number;
  /** One text per base row (words for GloVe, passages for Fiori), when the set has them. */
  texts?: string[];
  /** One source id per base row, when the set has them. */
  ids?: string[];
}

/** The datasets in `../shared/datasets/`. */
export type SharedDatasetName = 'sift-ngt-5k' | 'glove-twitter-25d-12k' | 'cohere-wiki-768-1k';
/** Every shared dataset, in the order {@link loadRecallDatasets} returns them. */
export const sharedDatasetNames = [
  'sift-ngt-5k',
  'glove-twitter-25d-12k',
  'cohere-wiki-768-1k',
] as const satisfies readonly SharedDatasetName[];

/** Overrides the folder holding the shared datasets. */
export const SHARED_DATASETS_ENV = 'MERIDIAN_SHARED_DATASETS';

/** The repository root: this file is `<root>/dev/harness/datasets.ts`. */
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Where the shared datasets live: `$MERIDIAN_SHARED_DATASETS`, else `<root>/../shared/datasets`. */
export function sharedDatasetsDir(): string {
  const fromEnv = process.env[SHARED_DATASETS_ENV];
  return fromEnv !== undefined && fromEnv !== ''
    ? resolve(fromEnv)
    : resolve(repoRoot, '..', 'shared', 'datasets');
}

/** The fields of a shared dataset's meta.json that the loader uses. */
interface SharedMeta {
  dim: number;
  metric: Metric;
  base: { file: string; count: number; labels?: string };
  query: { file: string; count: number };
  groundtruth: { file: string; k: number };
}

/**
 * Loads one shared dataset, or returns null when its folder is missing. A folder that is
 * present but disagrees with its meta.json (counts, dim) throws: a corrupt dataset is a
 * failure, not an absence.
 */
export function loadSharedDataset(name: SharedDatasetName): Dataset | null {
  const dir = join(sharedDatasetsDir(), name);
  if (!existsSync(join(dir, 'meta.json'))) return null;
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as SharedMeta;
  const base = readFvecs(readFileSync(join(dir, meta.base.file)));
  const queries = readFvecs(readFileSync(join(dir, meta.query.file)));
  const gt = readIvecs(readFileSync(join(dir, meta.groundtruth.file)));
  const check = (what: string, got: number, want: number): void => {
    if (got !== want) throw new Error(`dataset ${name}: ${what} is ${got}, meta.json says ${want}`);
  };
  check('base dim', base.dim, meta.dim);
  check('base count', base.count, meta.base.count);
  check('query dim', queries.dim, meta.dim);
  check('query count', queries.count, meta.query.count);
  check('ground-truth rows', gt.count, meta.query.count);
  check('ground-truth k', gt.dim, meta.groundtruth.k);
  const texts = meta.base.labels === undefined ? undefined : readLines(join(dir, meta.base.labels));
  if (texts !== undefined) check('label count', texts.length, base.count);
  return {
    name,
    dim: meta.dim,
    metric: meta.metric,
    base: base.data,
    baseCount: base.count,
    queries: queries.data,
    queryCount: queries.count,
    groundTruth: gt.data,
    gtK: gt.dim,
    ...(texts === undefined ? {} : { texts }),
  };
}

function readLines(path: string): string[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** Settings of the Fiori split. */
const FIORI = { queryCount: 100, gtK: 100, seed: 20_240_601 } as const;

/**
 * Loads the SAP Fiori documentation embeddings (all-MiniLM-L6-v2, 778 × 384, cosine) from
 * `@sap-ux/fiori-docs-embeddings`. 100 rows picked with a seeded RNG become the queries
 * (in ascending row order); the other 678, in their original order, are the base set, with
 * their record ids and texts. Ground truth is the exact top-100 by cosine.
 */
export function loadFioriDataset(): Dataset {
  const dir = join(fioriPackageDir(), 'data', 'embeddings');
  const metadata = JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8')) as {
    dimensions: number;
    totalVectors: number;
  };
  const dim = metadata.dimensions;
  const total = metadata.totalVectors;
  const all = littleEndianFloats(readFileSync(join(dir, 'embeddings.bin')));
  if (all.length !== total * dim) {
    throw new Error(`fiori embeddings.bin holds ${all.length} floats, expected ${total} × ${dim}`);
  }
  const records = readLines(join(dir, 'records.jsonl')).map(
    (line) => JSON.parse(line) as { id: string; content: string },
  );
  if (records.length !== total)
    throw new Error(`fiori records.jsonl has ${records.length} lines, expected ${total}`);

  const order = shuffledIndices(total, seededRandom(FIORI.seed));
  const queryRows = order.slice(0, FIORI.queryCount).sort((a, b) => a - b);
  const isQuery = new Set(queryRows);
  const baseRows = order.map((_, i) => i).filter((i) => !isQuery.has(i));
  const base = gatherRows(all, dim, baseRows);
  const queries = gatherRows(all, dim, queryRows);
  const groundTruth = new Int32Array(queryRows.length * FIORI.gtK);
  for (let q = 0; q < queryRows.length; q++) {
    const query = queries.subarray(q * dim, (q + 1) * dim);
    groundTruth.set(
      exactTopK(base, baseRows.length, dim, 'cosine', query, FIORI.gtK),
      q * FIORI.gtK,
    );
  }
  return {
    name: 'fiori-docs-384',
    dim,
    metric: 'cosine',
    base,
    baseCount: baseRows.length,
    queries,
    queryCount: queryRows.length,
    groundTruth,
    gtK: FIORI.gtK,
    texts: baseRows.map((i) => records[i]?.content ?? ''),
    ids: baseRows.map((i) => records[i]?.id ?? ''),
  };
}

/** The package has no `exports` map, so its package.json resolves; else use the repo's node_modules. */
function fioriPackageDir(): string {
  const name = '@sap-ux/fiori-docs-embeddings';
  try {
    return dirname(createRequire(import.meta.url).resolve(`${name}/package.json`));
  } catch {
    return join(repoRoot, 'node_modules', name);
  }
}

/** Copies a little-endian float32 file into an aligned Float32Array. */
function littleEndianFloats(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(Math.floor(bytes.byteLength / 4));
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

function gatherRows(all: Float32Array, dim: number, rows: number[]): Float32Array {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((row, i) => out.set(all.subarray(row * dim, (row + 1) * dim), i * dim));
  return out;
}

/** Fisher–Yates shuffle of 0..n-1. */
function shuffledIndices(n: number, random: () => number): number[] {
  const out = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as number, out[i] as number];
  }
  return out;
}

/**
 * The recall datasets: every shared dataset that is present, or the Fiori set when none is
 * (so recall tests always have real embeddings to run on).
 */
export function loadRecallDatasets(): Dataset[] {
  const shared = sharedDatasetNames
    .map((name) => loadSharedDataset(name))
    .filter((d): d is Dataset => d !== null);
  return shared.length > 0 ? shared : [loadFioriDataset()];
}

/** A seeded uniform RNG in [0, 1) (mulberry32): the same seed gives the same sequence. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Options for {@link generateClustered}. */
export interface ClusteredOptions {
  n: number;
  dim: number;
  /** Number of Gaussian clusters. Default 16. */
  clusters?: number;
  /** Standard deviation of points around their centre (centres are N(0, 1)). Default 0.15. */
  spread?: number;
  seed: number;
}

/**
 * `n × dim` row-major vectors drawn from Gaussian clusters, deterministic per seed: a cheap
 * stand-in for real embeddings in scale tests and benchmarks (clustered data is what makes
 * HNSW recall non-trivial, unlike uniform noise).
 */
export function generateClustered(opts: ClusteredOptions): Float32Array {
  const { n, dim, seed } = opts;
  const clusters = Math.max(1, opts.clusters ?? 16);
  const spread = opts.spread ?? 0.15;
  const gauss = gaussian(seededRandom(seed));
  const centres = Float64Array.from({ length: clusters * dim }, gauss);
  const random = seededRandom(seed ^ 0x9e3779b9);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(random() * clusters);
    for (let j = 0; j < dim; j++) out[i * dim + j] = (centres[c * dim + j] ?? 0) + spread * gauss();
  }
  return out;
}

/** Standard normal samples by Box–Muller. */
function gaussian(random: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u = 1 - random(); // in (0, 1], so log(u) is finite
    const v = random();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/**
 * Exact top-k base rows for `query`, best first, ties to the lower row index: the oracle for
 * ground truth. Cosine and ip rank by descending similarity (a zero vector has cosine 0), l2
 * by ascending squared distance. Computed in float64.
 */
export function exactTopK(
  base: Float32Array,
  count: number,
  dim: number,
  metric: Metric,
  query: ArrayLike<number>,
  k: number,
): number[] {
  const score = scorer(metric, query, dim);
  const best: { row: number; score: number }[] = [];
  const limit = Math.min(k, count);
  for (let row = 0; row < count; row++) {
    const s = score(base, row * dim);
    if (best.length === limit && !(s > (best[limit - 1]?.score ?? -Infinity))) continue;
    // Insert after every entry with a score >= s, so equal scores keep the lower row first.
    let lo = 0;
    let hi = best.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((best[mid]?.score ?? -Infinity) >= s) lo = mid + 1;
      else hi = mid;
    }
    best.splice(lo, 0, { row, score: s });
    if (best.length > limit) best.pop();
  }
  return best.map((b) => b.row);
}

/** Higher is better for every metric (l2 is negated squared distance). */
function scorer(
  metric: Metric,
  query: ArrayLike<number>,
  dim: number,
): (base: Float32Array, at: number) => number {
  let qNorm = 0;
  for (let j = 0; j < dim; j++) qNorm += (query[j] ?? 0) ** 2;
  qNorm = Math.sqrt(qNorm);
  return (base, at) => {
    let dot = 0;
    let norm = 0;
    let dist = 0;
    for (let j = 0; j < dim; j++) {
      const x = base[at + j] ?? 0;
      const q = query[j] ?? 0;
      dot += x * q;
      norm += x * x;
      dist += (x - q) ** 2;
    }
    if (metric === 'l2') return -dist;
    if (metric === 'ip') return dot;
    const denom = Math.sqrt(norm) * qNorm;
    return denom === 0 ? 0 : dot / denom;
  };
}
