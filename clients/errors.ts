/**
 * Typed errors of the client SDK. Every failure a caller sees is a {@link MeridianError}:
 * an HTTP error answer keeps the server's `{error: {code, message, details}}`, a request
 * that never got an answer is a {@link MeridianNetworkError} (`status` null). `transient`
 * says whether the same request may succeed if sent again; the client retries those itself
 * before throwing, so a caller sees one only after the retries ran out.
 */

/** Statuses worth retrying: the request may succeed later without changes. */
const TRANSIENT_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

/** Base error: an HTTP error answer, or (subclass) no answer at all. */
export class MeridianError extends Error {
  /** HTTP status, or `null` when no answer arrived (network error, timeout). */
  readonly status: number | null;
  /** Stable machine-readable code: the server's (`not_found`, `bad_request`, ...) or the client's (`network_error`, `timeout`, `bad_response`). */
  readonly code: string;
  /** The server's `details` (e.g. the replicas a 503 considered), when it sent any. */
  readonly details: unknown;
  /** True when sending the same request again may succeed. */
  readonly transient: boolean;

  constructor(o: {
    status: number | null;
    code: string;
    message: string;
    details?: unknown;
    cause?: unknown;
  }) {
    super(o.message, o.cause === undefined ? undefined : { cause: o.cause });
    this.name = 'MeridianError';
    this.status = o.status;
    this.code = o.code;
    this.details = o.details;
    this.transient = o.status === null || TRANSIENT_STATUSES.has(o.status);
  }
}

/** No HTTP answer: the connection failed, was reset, or the per-attempt timeout expired. Always transient. */
export class MeridianNetworkError extends MeridianError {
  constructor(code: 'network_error' | 'timeout', message: string, cause?: unknown) {
    super({ status: null, code, message, cause });
    this.name = 'MeridianNetworkError';
  }
}

/** True for any {@link MeridianError}; with `code`, only for that code. */
export function isMeridianError(err: unknown, code?: string): err is MeridianError {
  return err instanceof MeridianError && (code === undefined || err.code === code);
}

/** 404: the collection (or route) does not exist, or is not served in this region. */
export function isNotFound(err: unknown): err is MeridianError {
  return err instanceof MeridianError && err.status === 404;
}

/** 401 or 403: the key is missing, wrong, or lacks the role. */
export function isAuthError(err: unknown): err is MeridianError {
  return err instanceof MeridianError && (err.status === 401 || err.status === 403);
}

/** 400: the request itself is wrong (wrong dim, unknown field, malformed token); do not retry. */
export function isBadRequest(err: unknown): err is MeridianError {
  return err instanceof MeridianError && err.status === 400;
}

/** A failure that may go away on its own (network, 502/503/504). */
export function isTransient(err: unknown): err is MeridianError {
  return err instanceof MeridianError && err.transient;
}
