/**
 * Typed errors of the catalog. SQLite errors are translated here, once, at the border:
 * nothing outside `catalog/` ever sees a raw `SqliteError`.
 */

export const CatalogErrorCodes = [
  'collection_exists',
  'generation_conflict',
  'manifest_conflict',
  'invalid_argument',
  'not_found',
  'catalog_corrupt',
  'sqlite_busy',
  'sqlite_error',
] as const;
export type CatalogErrorCode = (typeof CatalogErrorCodes)[number];

export interface CatalogErrorOptions {
  cause?: unknown;
  transient?: boolean;
  details?: Record<string, unknown>;
}

/**
 * Base error of the catalog. `code` is stable (safe to switch on and map to HTTP
 * statuses); `transient` says whether retrying the same call may succeed.
 */
export class CatalogError extends Error {
  override readonly name: string = 'CatalogError';
  readonly code: CatalogErrorCode;
  readonly transient: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: CatalogErrorCode, message: string, options: CatalogErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.transient = options.transient ?? false;
    this.details = options.details;
  }
}

/** A collection with this name exists with different settings. */
export class CollectionExists extends CatalogError {
  override readonly name = 'CollectionExists';
  constructor(name: string, details?: Record<string, unknown>) {
    super('collection_exists', `collection ${name} already exists with different settings`, {
      details: { name, ...details },
    });
  }
}

/** A stored manifest with the same collection, generation and version has other content. */
export class ManifestConflict extends CatalogError {
  override readonly name = 'ManifestConflict';
  constructor(message: string, details?: Record<string, unknown>) {
    super('manifest_conflict', message, { details });
  }
}

/** The collection, generation or manifest named by a command does not exist. */
export class NotFound extends CatalogError {
  override readonly name = 'NotFound';
  constructor(message: string, details?: Record<string, unknown>) {
    super('not_found', message, { details });
  }
}

/** Would break "one active, at most one staging generation per collection". */
export class GenerationConflict extends CatalogError {
  override readonly name = 'GenerationConflict';
  constructor(message: string, details?: Record<string, unknown>) {
    super('generation_conflict', message, { details });
  }
}

/** Bad input to a command (wrong shape, negative seq, bad digest...). Never transient. */
export class InvalidArgument extends CatalogError {
  override readonly name = 'InvalidArgument';
  constructor(message: string, details?: Record<string, unknown>) {
    super('invalid_argument', message, { details });
  }
}

/** True when `err` is a CatalogError, and has `code` when one is given. */
export function isCatalogError(err: unknown, code?: CatalogErrorCode): err is CatalogError {
  return err instanceof CatalogError && (code === undefined || err.code === code);
}

export const isNotFound = (err: unknown): err is NotFound => isCatalogError(err, 'not_found');
export const isManifestConflict = (err: unknown): err is ManifestConflict =>
  isCatalogError(err, 'manifest_conflict');
export const isCollectionExists = (err: unknown): err is CollectionExists =>
  isCatalogError(err, 'collection_exists');
/** True for errors worth retrying as they are (a lock held by another connection). */
export const isTransient = (err: unknown): boolean => isCatalogError(err) && err.transient;

/** The innermost SQLite error in a cause chain (drizzle wraps driver errors in DrizzleQueryError). */
function sqliteError(err: unknown): { code: string; message: string } | null {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 5; depth++) {
    const { code, message, cause } = e as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof code === 'string' && code.startsWith('SQLITE_')) {
      return { code, message: typeof message === 'string' ? message : code };
    }
    e = cause;
  }
  return null;
}

/**
 * Turns anything thrown by better-sqlite3 or drizzle into a CatalogError; CatalogErrors
 * pass through unchanged. SQLITE_BUSY/LOCKED are transient; CORRUPT/NOTADB mean the file
 * cannot be trusted.
 */
export function toCatalogError(err: unknown, doing: string): CatalogError {
  if (err instanceof CatalogError) return err;
  const sqlite = sqliteError(err);
  const code = sqlite?.code ?? null;
  const reason = sqlite?.message ?? (err instanceof Error ? err.message : String(err));
  const details = code === null ? undefined : { sqlite: code };
  if (code?.startsWith('SQLITE_BUSY') || code?.startsWith('SQLITE_LOCKED')) {
    return new CatalogError('sqlite_busy', `${doing}: database is busy (${reason})`, {
      cause: err,
      transient: true,
      details,
    });
  }
  if (code?.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return new CatalogError('catalog_corrupt', `${doing}: catalog file is corrupt (${reason})`, {
      cause: err,
      details,
    });
  }
  return new CatalogError('sqlite_error', `${doing}: ${reason}`, { cause: err, details });
}

/** Runs `fn`, translating whatever it throws with {@link toCatalogError}. */
export function translating<T>(doing: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toCatalogError(err, doing);
  }
}
