import { IndexError } from './errors.ts';
import { Metrics } from './types.ts';
import type { Metadata, Metric, Point, PointInput } from './types.ts';

/** Limits on what a point may carry. Documented in README ("Limits"). */
export const pointLimits = {
  /** Longest id, in UTF-8 bytes. */
  maxIdBytes: 256,
  /** Largest metadata object, serialized as JSON, in bytes. */
  maxMetadataBytes: 16 * 1024,
  /** Largest dimension a collection may have. */
  maxDim: 4096,
} as const;

export function assertMetric(metric: unknown): asserts metric is Metric {
  if (!Metrics.includes(metric as Metric)) {
    throw new IndexError(
      'unknown_metric',
      `unknown metric ${JSON.stringify(metric)}: expected one of ${Metrics.join(', ')}`,
    );
  }
}

export function assertDim(dim: unknown): asserts dim is number {
  if (!Number.isInteger(dim) || (dim as number) < 1 || (dim as number) > pointLimits.maxDim) {
    throw new IndexError(
      'invalid_point',
      `dim must be an integer from 1 to ${pointLimits.maxDim}, got ${JSON.stringify(dim)}`,
    );
  }
}

/**
 * Checks a vector and copies it into a Float32Array: exactly `dim` finite numbers.
 * `what` names the vector in the message ("point \"a\"", "query").
 */
export function toVector(vector: unknown, dim: number, what: string): Float32Array {
  const code = what === 'query' ? 'invalid_query' : 'invalid_point';
  if (
    vector === null ||
    typeof vector !== 'object' ||
    typeof (vector as ArrayLike<number>).length !== 'number'
  ) {
    throw new IndexError(code, `${what}: vector must be an array of ${dim} numbers`);
  }
  const arr = vector as ArrayLike<unknown>;
  if (arr.length !== dim) {
    throw new IndexError(code, `${what}: vector has ${arr.length} dimensions, expected ${dim}`, {
      details: { expected: dim, got: arr.length },
    });
  }
  const out = new Float32Array(dim);
  for (let i = 0; i < dim; i++) {
    const v = arr[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new IndexError(
        code,
        `${what}: vector[${i}] is ${typeof v === 'number' ? String(v) : JSON.stringify(v)}; every component must be a finite number`,
      );
    }
    const f = Math.fround(v);
    if (!Number.isFinite(f)) {
      throw new IndexError(code, `${what}: vector[${i}] = ${v} overflows float32`);
    }
    out[i] = f;
  }
  return out;
}

export function assertId(id: unknown, where: string): asserts id is string {
  if (typeof id !== 'string' || id.length === 0) {
    throw new IndexError('invalid_point', `${where}: id must be a non-empty string`);
  }
  if (Buffer.byteLength(id, 'utf8') > pointLimits.maxIdBytes) {
    throw new IndexError(
      'invalid_point',
      `${where}: id is longer than ${pointLimits.maxIdBytes} bytes (UTF-8)`,
    );
  }
  const lone = LONE_SURROGATE.exec(id);
  if (lone) {
    // UTF-8 (Arrow, segment files) cannot carry it: sealed, it would become U+FFFD and two
    // ids could collapse into one (issue 17). Refused at the door instead.
    throw new IndexError(
      'invalid_point',
      `${where}: id is not well-formed Unicode (a lone surrogate U+${lone[0].charCodeAt(0).toString(16).toUpperCase()} at index ${lone.index})`,
    );
  }
}

/** With the `u` flag a paired surrogate is one code point: only a lone one matches. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Whether `id` is an id a point may have (non-empty, ≤ 256 bytes UTF-8, well-formed Unicode). */
export function isValidId(id: unknown): boolean {
  try {
    assertId(id, 'id');
    return true;
  } catch {
    return false;
  }
}

export function toMetadata(metadata: unknown, where: string): Metadata | null {
  if (metadata === undefined || metadata === null) return null;
  if (typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new IndexError('invalid_point', `${where}: metadata must be a JSON object`);
  }
  let json: string;
  try {
    json = JSON.stringify(metadata);
  } catch (cause) {
    throw new IndexError('invalid_point', `${where}: metadata is not serializable as JSON`, {
      cause,
    });
  }
  if (Buffer.byteLength(json, 'utf8') > pointLimits.maxMetadataBytes) {
    throw new IndexError(
      'invalid_point',
      `${where}: metadata is larger than ${pointLimits.maxMetadataBytes} bytes as JSON`,
    );
  }
  return metadata as Metadata;
}

/**
 * Validates a batch of points for a collection of `dim` dimensions.
 *
 * Duplicate ids in one batch: the last occurrence wins (as if the batch were applied
 * in order), and the result holds each id once, at the position of its last occurrence.
 * Throws on the first bad point; nothing is partially accepted.
 */
export function validatePoints(points: readonly PointInput[], dim: number): Point[] {
  if (!Array.isArray(points)) {
    throw new IndexError('invalid_point', 'points must be an array');
  }
  const out: Point[] = [];
  const lastIndex = new Map<string, number>();
  points.forEach((p, i) => {
    if (p === null || typeof p !== 'object') {
      throw new IndexError('invalid_point', `points[${i}] must be an object`);
    }
    assertId(p.id, `points[${i}]`);
    const where = `point ${JSON.stringify(p.id)}`;
    const vector = toVector(p.vector, dim, where);
    const metadata = toMetadata(p.metadata, where);
    lastIndex.set(p.id, out.length);
    out.push({ id: p.id, vector, metadata });
  });
  return out.filter((p, i) => lastIndex.get(p.id) === i);
}
