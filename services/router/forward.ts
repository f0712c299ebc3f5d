import { ApiError } from '../http/errors.ts';

/** Headers a forwarded request keeps. */
const KEEP = ['authorization', 'content-type', 'accept'];

/**
 * Sends a request on to another node and returns its answer unchanged (status, JSON
 * body). A node that cannot be reached is a 503 `primary_unavailable`/`no_replica` for the
 * caller, never a hang: every forward has a timeout.
 */
export async function forward(
  url: string,
  req: { method: string; headers: Headers; body: ArrayBuffer | null },
  opts: { timeoutMs: number; unreachable: 'primary_unavailable' | 'no_replica'; what: string },
): Promise<Response> {
  const headers = new Headers();
  for (const h of KEEP) {
    const v = req.headers.get(h);
    if (v !== null) headers.set(h, v);
  }
  try {
    const res = await fetch(url, {
      method: req.method,
      headers,
      ...(req.body && req.method !== 'GET' ? { body: req.body } : {}),
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    const body = await res.arrayBuffer();
    return new Response(body, {
      status: res.status,
      headers: { 'content-type': res.headers.get('content-type') ?? 'application/json' },
    });
  } catch (err) {
    throw new ApiError(
      opts.unreachable,
      `${opts.what} at ${url} is unreachable: ${(err as Error).message}`,
    );
  }
}
