import type { Metric } from './types.ts';

/**
 * Scores. hnswlib returns distances (lower is better); Meridian returns scores
 * (higher is better) so that results from HNSW segments, the exact memtable and the
 * flat oracle merge on one scale. The meaning per metric is `scoreMeaning` in types.ts.
 */
export function scoreFromDistance(metric: Metric, distance: number): number {
  switch (metric) {
    case 'cosine':
    case 'ip':
      return 1 - distance;
    case 'l2':
      // 0 - x, not -x: an exact match scores 0, not -0 (JSON would turn -0 into 0).
      return 0 - Math.sqrt(Math.max(0, distance));
  }
}

/**
 * The form in which a vector is stored for exact search: unit length for cosine
 * (as hnswlib normalizes on insert and on query), unchanged otherwise.
 */
export function prepareVector(metric: Metric, v: Float32Array): Float32Array {
  if (metric !== 'cosine') return v;
  let norm = 0;
  for (let i = 0; i < v.length; i++) norm += v[i]! * v[i]!;
  const inv = 1 / (Math.sqrt(norm) + 1e-30);
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! * inv;
  return out;
}

/** Exact score of two prepared vectors (see {@link prepareVector}). */
export function exactScore(
  metric: Metric,
  q: Float32Array,
  data: Float32Array,
  offset: number,
): number {
  const dim = q.length;
  if (metric === 'l2') {
    let s = 0;
    for (let i = 0; i < dim; i++) {
      const d = q[i]! - data[offset + i]!;
      s += d * d;
    }
    return Math.fround(0 - Math.sqrt(s));
  }
  let s = 0;
  for (let i = 0; i < dim; i++) s += q[i]! * data[offset + i]!;
  // Rounded to float32, the precision hnswlib computes in, so both kinds of index speak
  // the same numbers.
  return Math.fround(s);
}

/** Orders hits best first; ties broken by id so every replica returns the same order. */
export function compareHits(a: { score: number; id: string }, b: { score: number; id: string }) {
  return b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
