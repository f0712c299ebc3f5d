import { IndexError } from './errors.ts';
import type { SearchOptions } from './types.ts';

/** Largest `k` and `ef` a query may ask for. */
export const searchLimits = { maxK: 1000, maxEf: 4096 } as const;

export function assertSearchOptions(options: SearchOptions): void {
  const { k, ef } = options;
  if (!Number.isInteger(k) || k < 1 || k > searchLimits.maxK) {
    throw new IndexError(
      'invalid_query',
      `k must be an integer from 1 to ${searchLimits.maxK}, got ${JSON.stringify(k)}`,
    );
  }
  if (ef !== undefined && (!Number.isInteger(ef) || ef < 1 || ef > searchLimits.maxEf)) {
    throw new IndexError(
      'invalid_query',
      `ef must be an integer from 1 to ${searchLimits.maxEf}, got ${JSON.stringify(ef)}`,
    );
  }
}
