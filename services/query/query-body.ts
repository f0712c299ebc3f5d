import { z } from 'zod';
import { ConsistencyLevels, QueryBody } from '../api.ts';
import { parseBody } from '../validate.ts';
import type { LocalQuery } from './serve-local.ts';

/**
 * The query body a replica accepts: the public one plus `readIndex`, a position a router
 * already resolved for a strong or session read, signed like a session token — so only a
 * router (holding the deployment's token secret) can ask a replica to wait for a position
 * (issue 17: a plain `minSeq` was taken from any client).
 */
export const LocalQueryBody = QueryBody.extend({
  readIndex: z.string().min(1).max(512).optional(),
});

/**
 * Validates a public query body (`POST /v1/collections/:name/query`): the zod schema's
 * answer, with a shortcut for the common shape.
 */
export function parseQueryBody(data: unknown): QueryBody {
  return acceptPlain(data, false) ?? parseBody(QueryBody, data);
}

/** Validates a query a router forwarded to this replica (`readIndex` allowed). */
export function parseLocalQueryBody(data: unknown): LocalQuery {
  return acceptPlain(data, true) ?? parseBody(LocalQueryBody, data);
}

const FIELDS = new Set([
  'vector',
  'k',
  'ef',
  'filter',
  'model',
  'consistency',
  'maxStalenessMs',
  'token',
  'waitMs',
]);
const LEVELS: ReadonlySet<unknown> = new Set(ConsistencyLevels);

/**
 * The hot path of validation: accepts a body only when every field is plainly within the
 * schema (no filter, finite numbers, safe integers within the bounds, strings within
 * their lengths) and returns exactly what zod would return for it (with the defaults `k`
 * = 10 and `consistency` = eventual). Anything else — every malformed body, and any
 * body with a filter — gives null, and zod decides, so every 400 keeps zod's code and
 * message. zod cost ~30 µs per 128-d query in the `query` bench profile, most of it
 * walking the vector; this is one typed loop. `services/query/query-body.test.ts` checks
 * on a few thousand bodies that this never accepts what zod refuses and never differs
 * from zod's output.
 */
function acceptPlain(data: unknown, local: boolean): LocalQuery | null {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return null;
  const d = data as Record<string, unknown>;
  for (const key in d) if (!FIELDS.has(key) && !(local && key === 'readIndex')) return null;
  const vector = d.vector;
  if (!Array.isArray(vector)) return null;
  for (let i = 0; i < vector.length; i++) {
    const x: unknown = vector[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) return null;
  }
  if (d.filter !== undefined) return null;
  const k = d.k === undefined ? 10 : d.k;
  const consistency = d.consistency === undefined ? 'eventual' : d.consistency;
  if (!int(k, 1, 1000) || !LEVELS.has(consistency)) return null;
  if (!optInt(d.ef, 1, 4096) || !optInt(d.maxStalenessMs, 0, 86_400_000)) return null;
  if (!optInt(d.waitMs, 0, 60_000)) return null;
  if (!optString(d.model, 128) || !optString(d.token, 512) || !optString(d.readIndex, 512))
    return null;
  // zod's key order (the schema's), so a forwarded body serialises the same.
  const out: Record<string, unknown> = { vector, k };
  if (d.ef !== undefined) out.ef = d.ef;
  if (d.model !== undefined) out.model = d.model;
  out.consistency = consistency;
  if (d.maxStalenessMs !== undefined) out.maxStalenessMs = d.maxStalenessMs;
  if (d.token !== undefined) out.token = d.token;
  if (d.waitMs !== undefined) out.waitMs = d.waitMs;
  if (d.readIndex !== undefined) out.readIndex = d.readIndex;
  return out as LocalQuery;
}

function int(x: unknown, min: number, max: number): boolean {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= min && x <= max;
}

function optInt(x: unknown, min: number, max: number): boolean {
  return x === undefined || int(x, min, max);
}

function optString(x: unknown, maxLength: number): boolean {
  return x === undefined || (typeof x === 'string' && x.length >= 1 && x.length <= maxLength);
}
