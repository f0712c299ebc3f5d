/**
 * One JSON-over-HTTP request with retries: a per-attempt timeout, exponential backoff with
 * jitter between attempts, and only transient failures (no answer, 502, 503, 504) retried.
 * A 4xx is thrown at once. The caller says whether the request may be repeated at all:
 * reads may, writes only when they carry an idempotency key.
 */
import { Backoff, sleep } from '../lib/wait.ts';
import { MeridianError, MeridianNetworkError } from './errors.ts';

/** Settings shared by every request of a client. */
export interface TransportOptions {
  url: string;
  apiKey: string;
  retries: number;
  backoffMs: number;
  timeoutMs: number;
  fetch: typeof fetch;
}

/** One request. */
export interface RequestSpec {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  /** Path and query string, starting with `/`. */
  path: string;
  /** JSON body, or raw bytes with their content type. */
  body?: { json: unknown } | { bytes: Uint8Array; contentType: string };
  /** May this request be sent more than once? */
  retry: boolean;
}

/** Longest pause between two attempts, whatever the backoff grows to. */
const MAX_DELAY_MS = 10_000;

/**
 * Sends `spec`, retrying transient failures when `spec.retry`; resolves with the status
 * and parsed JSON body of a 2xx answer, rejects with a {@link MeridianError} otherwise.
 */
export async function request<T>(
  o: TransportOptions,
  spec: RequestSpec,
): Promise<{ status: number; body: T }> {
  const attempts = spec.retry ? 1 + Math.max(0, o.retries) : 1;
  for (let attempt = 1; ; attempt++) {
    try {
      return await once<T>(o, spec);
    } catch (err) {
      const transient = err instanceof MeridianError && err.transient;
      if (!transient || attempt >= attempts) {
        if (attempt > 1) (err as Error).message += ` (gave up after ${attempt} attempts)`;
        throw err;
      }
      await sleep(backoffDelay(o.backoffMs, attempt));
    }
  }
}

/** Full-jitter exponential backoff: uniform in [base·2^(n-1) / 2, base·2^(n-1)], capped. */
export function backoffDelay(baseMs: number, attempt: number): number {
  return Backoff.delay({ firstMs: baseMs, maxMs: MAX_DELAY_MS, jitter: true }, attempt - 1);
}

async function once<T>(
  o: TransportOptions,
  spec: RequestSpec,
): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${o.apiKey}`,
    accept: 'application/json',
  };
  let body: string | Uint8Array | undefined;
  if (spec.body && 'json' in spec.body) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(spec.body.json);
  } else if (spec.body) {
    headers['content-type'] = spec.body.contentType;
    body = spec.body.bytes;
  }
  const url = `${o.url.replace(/\/+$/, '')}${spec.path}`;
  let res: Response;
  let text: string;
  try {
    res = await o.fetch(url, {
      method: spec.method,
      headers,
      ...(body !== undefined ? { body } : {}),
      signal: AbortSignal.timeout(o.timeoutMs),
    });
    text = await res.text();
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      throw new MeridianNetworkError(
        'timeout',
        `${spec.method} ${url}: no answer within ${o.timeoutMs} ms`,
        err,
      );
    }
    // undici says only "fetch failed"; the reason (ECONNREFUSED, ...) is in its cause
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause ? `: ${cause.code ?? cause.message}` : '';
    throw new MeridianNetworkError(
      'network_error',
      `${spec.method} ${url}: ${(err as Error).message}${why}`,
      err,
    );
  }
  const parsed = parseJson(text);
  if (res.ok) {
    if (parsed === undefined) {
      throw new MeridianError({
        status: res.status,
        code: 'bad_response',
        message: `${spec.method} ${url}: answer ${res.status} is not JSON`,
      });
    }
    return { status: res.status, body: parsed as T };
  }
  throw errorFromAnswer(res.status, parsed, text, `${spec.method} ${url}`);
}

/** Builds the error for a non-2xx answer: the server's `{error}` body when it sent one. */
function errorFromAnswer(
  status: number,
  parsed: unknown,
  text: string,
  what: string,
): MeridianError {
  const e = (parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } })?.error;
  if (e && typeof e.code === 'string' && typeof e.message === 'string') {
    return new MeridianError({ status, code: e.code, message: e.message, details: e.details });
  }
  return new MeridianError({
    status,
    code: `http_${status}`,
    message: `${what}: HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`,
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
