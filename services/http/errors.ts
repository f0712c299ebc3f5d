import { isCatalogError } from '../../catalog/index.ts';
import type { CatalogErrorCode } from '../../catalog/index.ts';
import { isIndexError } from '../../index/index.ts';
import type { IndexErrorCode } from '../../index/index.ts';
import { isSyncError } from '../../sync/index.ts';
import type { SyncErrorCode } from '../../sync/index.ts';

/** Errors the HTTP layer itself raises. */
export const ApiErrorCodes = [
  'bad_request',
  'invalid_json',
  'invalid_token',
  'unauthorized',
  'forbidden',
  'not_found',
  'model_mismatch',
  'payload_too_large',
  'unsupported_media_type',
  'no_replica',
  'primary_unavailable',
  'not_ready',
  'wrong_region',
] as const;
export type ApiErrorCode = (typeof ApiErrorCodes)[number];

export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly details: unknown;
  constructor(code: ApiErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.details = details;
  }
}

/** An error answer relayed unchanged from another node (the router forwarding to a replica). */
export class UpstreamError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

const apiStatus = {
  bad_request: 400,
  invalid_json: 400,
  invalid_token: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  model_mismatch: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  no_replica: 503,
  primary_unavailable: 503,
  not_ready: 503,
  wrong_region: 404,
} as const satisfies Record<ApiErrorCode, number>;

const indexStatus = {
  invalid_point: 400,
  invalid_filter: 400,
  invalid_query: 400,
  unknown_metric: 400,
  bad_vector_file: 400,
  segment_corrupt: 500,
  segment_truncated: 500,
  segment_version: 500,
  segment_mismatch: 500,
  build_failed: 500,
  view_unavailable: 503,
} as const satisfies Record<IndexErrorCode, number>;

const catalogStatus = {
  collection_exists: 409,
  generation_conflict: 409,
  manifest_conflict: 409,
  invalid_argument: 400,
  not_found: 404,
  catalog_corrupt: 500,
  sqlite_busy: 503,
  sqlite_error: 500,
} as const satisfies Record<CatalogErrorCode, number>;

const syncStatus = {
  nats_unavailable: 503,
  publish_timeout: 503,
  fenced: 409,
  segment_missing: 503,
  segment_corrupt: 500,
  stream_config: 500,
  unknown_collection: 404,
  replication_pending: 503,
  stopped: 503,
  not_primary: 503,
  seal_refused: 500,
  write_stalled: 503,
  generation_conflict: 409,
  activation_blocked: 409,
} as const satisfies Record<SyncErrorCode, number>;

export interface HttpError {
  status: number;
  code: string;
  message: string;
  details?: unknown;
}

/**
 * Translates any error into the status and JSON body a client sees — once, here.
 * Unknown errors become a 500 with a generic message (the log line keeps the cause).
 */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof UpstreamError) {
    return { status: err.status, code: err.code, message: err.message, details: err.details };
  }
  if (err instanceof ApiError) {
    return {
      status: apiStatus[err.code],
      code: err.code,
      message: err.message,
      details: err.details,
    };
  }
  if (isIndexError(err)) {
    return {
      status: indexStatus[err.code],
      code: err.code,
      message: err.message,
      details: err.details,
    };
  }
  if (isCatalogError(err)) {
    const code = err.code as CatalogErrorCode;
    return { status: catalogStatus[code], code, message: err.message };
  }
  if (isSyncError(err)) {
    return {
      status: syncStatus[err.code],
      code: err.code,
      message: err.message,
      details: err.details,
    };
  }
  return { status: 500, code: 'internal', message: 'internal error' };
}
