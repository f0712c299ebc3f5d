/**
 * Typed errors of the index module. Each has a stable `code`; the HTTP layer maps
 * codes to statuses once (services/), so a message here is what a user reads.
 */

export const IndexErrorCodes = [
  'invalid_point',
  'invalid_filter',
  'invalid_query',
  'unknown_metric',
  'segment_corrupt',
  'segment_truncated',
  'segment_version',
  'segment_mismatch',
  'build_failed',
  'bad_vector_file',
  'view_unavailable',
] as const;
export type IndexErrorCode = (typeof IndexErrorCodes)[number];

export class IndexError extends Error {
  readonly code: IndexErrorCode;
  /** True when retrying the same call may succeed (never for bad input or corrupt bytes). */
  readonly transient: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: IndexErrorCode,
    message: string,
    options: { cause?: unknown; transient?: boolean; details?: Record<string, unknown> } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'IndexError';
    this.code = code;
    this.transient = options.transient ?? false;
    this.details = options.details;
  }
}

export function isIndexError(err: unknown, code?: IndexErrorCode): err is IndexError {
  return err instanceof IndexError && (code === undefined || err.code === code);
}

/** Bad bytes in a segment file: truncated, corrupted, or of a format we do not read. */
export function isSegmentIntegrityError(err: unknown): err is IndexError {
  return (
    isIndexError(err) &&
    (err.code === 'segment_corrupt' ||
      err.code === 'segment_truncated' ||
      err.code === 'segment_version' ||
      err.code === 'segment_mismatch')
  );
}

/**
 * A vector file (.fvecs, .ivecs, .npy) is malformed or uses a layout we do not read.
 * Not transient: the same bytes fail the same way.
 */
export class VectorFileError extends IndexError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('bad_vector_file', message, options);
    this.name = 'VectorFileError';
  }
}

export function isVectorFileError(err: unknown): err is VectorFileError {
  return err instanceof VectorFileError;
}
