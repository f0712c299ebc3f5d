import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkJsonType, errorAnswer, errorHeaders, parseJson } from './json.ts';
import { assertCollectionName } from '../validate.ts';
import { authorize } from './auth.ts';
import type { KeyRing } from './auth.ts';
import { checkDeclaredLength } from './body-limit.ts';
import type { Logger } from './logger.ts';
import type { ServiceMetrics } from './metrics.ts';

/**
 * Answers a query with its JSON text: the collection, the parsed JSON body, the request's
 * headers, and when handling started (`performance.now()`, for the latency histogram).
 * The Hono route and the fast path call the same function.
 */
export type QueryAnswer = (
  collection: string,
  json: unknown,
  header: (name: string) => string | undefined,
  started: number,
) => Promise<string>;

interface FastQueryOptions {
  logger: Logger;
  metrics: ServiceMetrics;
  maxBodyBytes: number;
}

/** The route as Hono registers it: the `route` label of `meridian_http_requests_total`. */
export const QUERY_ROUTE = '/v1/collections/:name/query';
/** Hono's body-limit middleware path: the label a 413 got there. */
const BODY_LIMIT_ROUTE = '/v1/*';
const PATH = /^\/v1\/collections\/([A-Za-z0-9_-]+)\/query$/;
/** Headers the query path reads; a request repeating one of them goes through Hono. */
const READ = new Set([
  'authorization',
  'content-type',
  'content-length',
  'transfer-encoding',
  'host',
  'x-meridian-forwarded',
]);
const decoder = new TextDecoder();

/**
 * `POST /v1/collections/:name/query` served straight from `node:http`, in front of Hono
 * (decision 0010). Hono and @hono/node-server cost ~45 µs of a routed query's CPU (their
 * own code, besides the WHATWG Request and Response objects and the promise chain
 * around them) in the `query` bench profile. This path does the same steps in the same
 * order with the same shared functions: body limit (declared length), API key and role
 * (`authorize`), JSON content type and parse, then the route's own answer function
 * (validation, routing, metrics), and errors through `errorAnswer`, counted in
 * `meridian_http_requests_total` with the labels Hono's path gives them.
 *
 * It takes a request only when it is the plain case: POST, exactly that path (no query
 * string, a collection name of `[A-Za-z0-9_-]`), a `Host`, a `Content-Length`, no
 * `Transfer-Encoding`, and none of the headers it reads repeated or carrying a value
 * Hono's adapter would normalise. Anything else goes to Hono, so every edge (chunked
 * bodies, percent-encoded names, duplicate headers) keeps Hono's behaviour.
 */
export class FastQueryPath {
  private answer: QueryAnswer | null = null;
  private keys: KeyRing | null = null;

  constructor(private readonly o: FastQueryOptions) {}

  /** Serves queries with `answer` from now on (the same function the Hono route calls). */
  route(keys: KeyRing, answer: QueryAnswer): void {
    this.keys = keys;
    this.answer = answer;
  }

  /** Takes the request when it is the plain case; false hands it to Hono untouched. */
  take(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.answer === null || req.method !== 'POST') return false;
    const url = req.url ?? '';
    const m = PATH.exec(url);
    if (m === null || !plainHeaders(req.rawHeaders)) return false;
    const h = req.headers;
    if (h.host === undefined || h['content-length'] === undefined) return false;
    if (h['transfer-encoding'] !== undefined) return false;
    this.serve(m[1]!, req, res, h).catch((err: unknown) => {
      this.o.logger.error({ err, path: url }, 'query fast path failed');
      res.destroy();
    });
    return true;
  }

  private async serve(
    collection: string,
    req: IncomingMessage,
    res: ServerResponse,
    h: IncomingMessage['headers'],
  ): Promise<void> {
    let route = BODY_LIMIT_ROUTE;
    let status = 200;
    let text: string;
    try {
      checkDeclaredLength(h['content-length'], this.o.maxBodyBytes);
      route = QUERY_ROUTE;
      assertCollectionName(collection); // as Hono's middleware does, before the key
      authorize(this.keys!, h.authorization, 'read');
      const started = performance.now();
      checkJsonType(h['content-type']);
      const json = parseJson(decoder.decode(await readBody(req)));
      const header = (name: string): string | undefined => {
        const v = h[name.toLowerCase()]; // case-insensitive, like Hono's c.req.header
        return typeof v === 'string' ? v : undefined;
      };
      text = await this.answer!(collection, json, header, started);
    } catch (err) {
      if (err instanceof BodyAborted) return; // the client went away mid-body: no one to answer
      // The path as Hono's `c.req.path` gives it: take() admitted no query string.
      const e = errorAnswer(err, req.url ?? '/', this.o.logger);
      status = e.status;
      text = JSON.stringify(e.body);
    }
    // With an explicit length, as @hono/node-server sends it (not chunked).
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...errorHeaders(status),
    });
    res.end(text);
    this.o.metrics.requests.inc({ route, status: String(status) });
  }
}

class BodyAborted extends Error {}

/** The whole body (its length is declared and already checked against the limit). */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', () => reject(new BodyAborted()));
    req.on('close', () => {
      if (!req.complete) reject(new BodyAborted());
    });
  });
}

/**
 * True when none of the headers the query path reads is repeated or has a value that
 * @hono/node-server would trim or refuse: then `req.headers[name]` is exactly what
 * `c.req.header(name)` returns.
 */
function plainHeaders(raw: string[]): boolean {
  let seen = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!READ.has(name)) continue;
    const bit = 1 << ORDER.indexOf(name);
    if (seen & bit) return false;
    seen |= bit;
    const v = raw[i + 1]!;
    if (v.length > 0 && (isWhitespace(v.charCodeAt(0)) || isWhitespace(v.charCodeAt(v.length - 1))))
      return false;
    if (/[\0\r\n]/.test(v)) return false;
  }
  return true;
}
const ORDER = [...READ];

function isWhitespace(code: number): boolean {
  return code === 9 || code === 10 || code === 13 || code === 32;
}
