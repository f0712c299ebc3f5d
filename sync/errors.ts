/**
 * Typed errors of the sync module. JetStream and connection errors are translated here,
 * at the border, into these codes; services map codes to HTTP statuses once.
 */

export const SyncErrorCodes = [
  'nats_unavailable',
  'publish_timeout',
  'fenced',
  'segment_missing',
  'segment_corrupt',
  'stream_config',
  'unknown_collection',
  'replication_pending',
  'stopped',
  'not_primary',
  'seal_refused',
  'write_stalled',
  'generation_conflict',
  'activation_blocked',
] as const;
export type SyncErrorCode = (typeof SyncErrorCodes)[number];

export class SyncError extends Error {
  readonly code: SyncErrorCode;
  readonly transient: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: SyncErrorCode,
    message: string,
    options: { cause?: unknown; transient?: boolean; details?: Record<string, unknown> } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'SyncError';
    this.code = code;
    this.transient = options.transient ?? false;
    this.details = options.details;
  }
}

export function isSyncError(err: unknown, code?: SyncErrorCode): err is SyncError {
  return err instanceof SyncError && (code === undefined || err.code === code);
}

/** The JetStream API error code of a failed request, when there is one. */
export function jsErrorCode(err: unknown): number | null {
  const api = (err as { api_error?: { err_code?: number } } | null)?.api_error;
  return typeof api?.err_code === 'number' ? api.err_code : null;
}

/** JetStream's "wrong last sequence" (10071): someone else published on the subject first. */
export function isWrongLastSequence(err: unknown): boolean {
  return jsErrorCode(err) === 10071 || /wrong last sequence/i.test(String(err));
}

/** Connection-level failures worth retrying (timeouts, disconnects, no responders). */
export function isTransientNatsError(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return (
    code === 'TIMEOUT' ||
    code === 'CONNECTION_CLOSED' ||
    code === 'CONNECTION_DRAINING' ||
    code === 'DISCONNECT' ||
    code === '503' ||
    /timeout|no responders|disconnect|connection closed/i.test(String(err))
  );
}

/** Wraps an unknown NATS failure into a typed error, keeping it as the cause. */
export function fromNatsError(err: unknown, what: string): SyncError {
  if (err instanceof SyncError) return err;
  const transient = isTransientNatsError(err);
  return new SyncError(
    transient ? 'nats_unavailable' : 'stream_config',
    `${what}: ${(err as Error)?.message ?? String(err)}`,
    { cause: err, transient },
  );
}

/**
 * Whether an error means this node cannot store data: a full disk or quota (ENOSPC,
 * EDQUOT, SQLite's "database or disk is full"), or a read-only or failing device.
 */
export function isStorageError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EROFS' || code === 'EIO') return true;
    if (code === 'SQLITE_FULL' || code === 'SQLITE_IOERR' || code === 'SQLITE_READONLY')
      return true;
    if (
      /ENOSPC|no space left|disk is full|disk I\/O error/i.test(String((e as Error).message ?? e))
    )
      return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** An error's message, or the value as a string (what logs and refusals print). */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
