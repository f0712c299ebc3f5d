import { Hono } from 'hono';
import type { MiddlewareHandler } from 'hono';
import { assertCollectionName } from '../validate.ts';
import { bodyLimit } from './body-limit.ts';
import type { Logger } from './logger.ts';
import type { ServiceMetrics } from './metrics.ts';
import { checkJsonType, errorAnswer, errorHeaders, parseJson } from './json.ts';

export interface BaseAppOptions {
  logger: Logger;
  metrics: ServiceMetrics;
  /** Largest request body, in bytes (413 beyond it). */
  maxBodyBytes: number;
  /**
   * Why the node is not ready, or null once the catalog is loaded, it follows its streams
   * and it can store what it receives.
   */
  notReady: () => string | null;
  /** Called before `/metrics` is rendered, to refresh gauges. */
  collect?: () => void;
}

/**
 * The part every service shares: body limit, `/healthz`, `/readyz`, `/metrics`, a JSON
 * 404, and the single error translation (`toHttpError`) with a log line that keeps the
 * cause. A user never sees a stack trace.
 */
export function createBaseApp(o: BaseAppOptions): Hono {
  const app = new Hono();
  app.use('*', async (c, next) => {
    await next();
    o.metrics.requests.inc({ route: c.req.routePath, status: String(c.res.status) });
  });
  app.use('/v1/*', bodyLimit(o.maxBodyBytes));
  // Every route under a collection checks its name first, on every service (issue 17: a
  // name of '>' reached a NATS subject on a router and answered 500).
  app.use('/v1/collections/:name', checkCollectionParam);
  app.use('/v1/collections/:name/*', checkCollectionParam);
  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/readyz', (c) => {
    const reason = o.notReady();
    return reason === null
      ? c.json({ ready: true })
      : c.json({ ready: false, reason }, 503, errorHeaders(503));
  });
  app.get('/metrics', async (c) => {
    o.collect?.();
    return c.text(await o.metrics.registry.metrics(), 200, {
      'content-type': o.metrics.registry.contentType,
    });
  });
  app.notFound((c) =>
    c.json(
      { error: { code: 'not_found', message: `no route ${c.req.method} ${c.req.path}` } },
      404,
    ),
  );
  app.onError((err, c) => {
    const { status, body } = errorAnswer(err, c.req.path, o.logger);
    return c.json(body, status as 400, errorHeaders(status));
  });
  return app;
}

/** 400 unless the path's collection name follows the one rule (catalog's `isCollectionName`). */
const checkCollectionParam: MiddlewareHandler = async (c, next) => {
  assertCollectionName(c.req.param('name'));
  await next();
};

/** The `Content-Type` of every JSON answer (one object, not one per answer). */
export const JSON_TYPE = { 'content-type': 'application/json' } as const;

/** Parses a JSON body; a body that is not JSON (or not the right content type) is a clear 400/415. */
export async function readJson(req: {
  header(name: string): string | undefined;
  text(): Promise<string>;
}): Promise<unknown> {
  checkJsonType(req.header('content-type'));
  return parseJson(await req.text());
}
