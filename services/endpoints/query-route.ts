import type { Hono } from 'hono';
import { JSON_TYPE, readJson } from '../http/app.ts';
import { requireRole } from '../http/auth.ts';
import type { KeyRing } from '../http/auth.ts';
import { QUERY_ROUTE } from '../http/fast-query.ts';
import type { FastQueryPath, QueryAnswer } from '../http/fast-query.ts';

/**
 * Serves `POST /v1/collections/:name/query` with `answer`: through Hono, and through the
 * `node:http` fast path in front of it (decision 0010). The one
 * place both are wired, so a follower's and a router's query route cannot differ.
 */
export function mountQueryRoute(
  app: Hono,
  fast: FastQueryPath,
  keys: KeyRing,
  answer: QueryAnswer,
): void {
  app.post(QUERY_ROUTE, requireRole(keys, 'read'), async (c) => {
    const started = performance.now();
    const json = await readJson(c.req);
    const text = await answer(c.req.param('name'), json, (n) => c.req.header(n), started);
    return c.body(text, 200, JSON_TYPE);
  });
  fast.route(keys, answer);
}
