import { IndexError } from './errors.ts';
import type { Filter, Metadata } from './types.ts';

export type MetadataPredicate = (metadata: Metadata | null) => boolean;

type Scalar = string | number | boolean | null;

function isScalar(v: unknown): v is Scalar {
  return v === null || ['string', 'number', 'boolean'].includes(typeof v);
}

/**
 * Compiles a metadata filter into a predicate. Supported: top-level keys with an exact
 * scalar value (`{lang: "en"}`) or a set (`{lang: {$in: ["en", "de"]}}`); every key must
 * match. A point without metadata matches only an empty filter. Anything else is an
 * `invalid_filter` error, raised before any search runs.
 */
export function compileFilter(filter: unknown): MetadataPredicate | null {
  if (filter === undefined || filter === null) return null;
  if (typeof filter !== 'object' || Array.isArray(filter)) {
    throw new IndexError('invalid_filter', 'filter must be an object of key: value conditions');
  }
  const clauses: Array<{ key: string; values: Set<Scalar> }> = [];
  for (const [key, cond] of Object.entries(filter as Filter)) {
    if (isScalar(cond)) {
      clauses.push({ key, values: new Set([cond]) });
    } else if (typeof cond === 'object' && !Array.isArray(cond)) {
      const ops = Object.keys(cond);
      if (ops.length !== 1 || ops[0] !== '$in') {
        throw new IndexError(
          'invalid_filter',
          `filter.${key}: unsupported operator ${JSON.stringify(ops.join(','))}; use a value or {$in: [...]}`,
        );
      }
      const list = (cond as { $in: unknown }).$in;
      if (!Array.isArray(list) || !list.every(isScalar)) {
        throw new IndexError(
          'invalid_filter',
          `filter.${key}.$in must be an array of strings, numbers, booleans or null`,
        );
      }
      clauses.push({ key, values: new Set(list) });
    } else {
      throw new IndexError(
        'invalid_filter',
        `filter.${key} must be a string, number, boolean, null or {$in: [...]}`,
      );
    }
  }
  if (clauses.length === 0) return null;
  return (metadata) => {
    if (metadata === null) return false;
    for (const { key, values } of clauses) {
      const v = metadata[key];
      if (!isScalar(v) || !values.has(v)) return false;
    }
    return true;
  };
}
