/**
 * The cutover suite's data: N × 384 seeded clustered vectors for model A, and model B's
 * "embedding" of the same ids — A's vector with its dimensions in a seeded permutation
 * (a deterministic transform, so both generations hold the same ids with different
 * vectors). Points carry `gen: 'A'` or `gen: 'B'` in their metadata, so an answer that
 * mixes results of both generations shows it.
 */
import { generateClustered, seededRandom } from '../../../dev/harness/datasets.ts';
import { encodePointColumns } from '../../../index/index.ts';

export const DIM = 384;
export const MODEL_A = 'embed-a@1';
export const MODEL_B = 'embed-b@2';
/** The metadata tag each generation's points carry. */
export const TAG: Record<string, string> = { [MODEL_A]: 'A', [MODEL_B]: 'B' };

export interface CutoverData {
  n: number;
  /** n × DIM, row-major: model A's vectors. */
  a: Float32Array;
  /** B's dimension j is A's dimension perm[j]. */
  perm: Uint32Array;
}

export const idOf = (i: number): string => `p${i}`;

export function makeData(n: number, seed: number): CutoverData {
  const a = generateClustered({ n, dim: DIM, clusters: 64, spread: 0.25, seed });
  const rand = seededRandom(seed ^ 0x5bd1e995);
  const perm = Uint32Array.from({ length: DIM }, (_, j) => j);
  for (let j = DIM - 1; j > 0; j--) {
    const k = Math.floor(rand() * (j + 1));
    [perm[j], perm[k]] = [perm[k]!, perm[j]!];
  }
  return { n, a, perm };
}

/** Row i of the generation's vectors. */
export function rowOf(d: CutoverData, model: string, i: number): Float32Array {
  const a = d.a.subarray(i * DIM, (i + 1) * DIM);
  if (model === MODEL_A) return a;
  const b = new Float32Array(DIM);
  for (let j = 0; j < DIM; j++) b[j] = a[d.perm[j]!]!;
  return b;
}

/** Rows [start, end) of one generation as an Arrow IPC stream (ids, vectors, `gen` metadata). */
export function arrowBatch(d: CutoverData, model: string, start: number, end: number): Uint8Array {
  const count = end - start;
  const vectors = new Float32Array(count * DIM);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    vectors.set(rowOf(d, model, start + i), i * DIM);
    ids.push(idOf(start + i));
  }
  const gen = TAG[model]!;
  return encodePointColumns({ ids, vectors, metadata: ids.map(() => ({ gen })), seqs: null }, DIM);
}

/** A JSON point of one generation (the session clients' writes). */
export function jsonPoint(d: CutoverData, model: string, i: number) {
  return { id: idOf(i), vector: rounded(rowOf(d, model, i)), metadata: { gen: TAG[model]! } };
}

function rounded(v: Float32Array): number[] {
  return Array.from(v, (x) => Math.round(x * 1e5) / 1e5);
}

/**
 * Query vectors per generation: `size` seeded rows (a little noise added, rounded for a
 * short JSON body). Index `i` of both pools is the same row, in each model's space.
 */
export function queryPools(d: CutoverData, size: number, seed: number): Record<string, number[][]> {
  const rand = seededRandom(seed);
  const rows = Array.from({ length: size }, () => Math.floor(rand() * d.n));
  const noise = Array.from({ length: size }, () =>
    Float32Array.from({ length: DIM }, () => (rand() - 0.5) * 0.02),
  );
  const pool = (model: string) =>
    rows.map((r, q) => {
      const v = rowOf(d, model, r);
      return rounded(v.map((x, j) => x + noise[q]![j]!));
    });
  return { [MODEL_A]: pool(MODEL_A), [MODEL_B]: pool(MODEL_B) };
}
