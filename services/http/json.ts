import type { ErrorBody } from '../api.ts';
import { ApiError, toHttpError } from './errors.ts';
import type { Logger } from './logger.ts';

/** 415 unless the `Content-Type` is JSON. */
export function checkJsonType(type: string | undefined): void {
  if (!/^application\/json\b/i.test(type ?? '')) {
    throw new ApiError(
      'unsupported_media_type',
      `expected Content-Type: application/json, got ${JSON.stringify(type || 'none')}`,
    );
  }
}

/** `JSON.parse`, with a 400 `invalid_json` for text that is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ApiError('invalid_json', 'request body is not valid JSON');
  }
}

/**
 * The status and JSON body a client sees for an error, and the log line that keeps its
 * cause (error level for 5xx, debug for a refused request). Every path answers errors
 * through this: Hono's `onError` and the query fast path.
 */
export function errorAnswer(
  err: unknown,
  path: string,
  logger: Logger,
): { status: number; body: ErrorBody } {
  const e = toHttpError(err);
  if (e.status >= 500) logger.error({ err, path, code: e.code }, 'request failed');
  else logger.debug({ path, code: e.code, msg: e.message }, 'request refused');
  const body = {
    error: {
      code: e.code,
      message: e.message,
      ...(e.details !== undefined ? { details: e.details } : {}),
    },
  };
  return { status: e.status, body };
}

/**
 * Headers an error answer carries besides its JSON: a 503 (no replica fresh enough, the
 * primary restarting or unreachable, a view being rebuilt) is worth retrying, and says so.
 */
export function errorHeaders(status: number): Record<string, string> {
  return status === 503 ? { 'retry-after': '1' } : {};
}
