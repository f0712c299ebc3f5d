import { errorMessage, isStorageError } from '../errors.ts';

/** Where a storage error happened: the WAL log, or a manifest's segments. */
export type StorageSite = 'wal' | 'manifest';

/**
 * Whether this node can store what it receives: a storage error (a full disk) at a site
 * marks the node not ready until the next success there. Other errors are only logged.
 */
export class StorageHealth {
  private readonly errors = new Map<StorageSite, string>();

  constructor(
    private readonly o: {
      log(msg: string, fields?: Record<string, unknown>): void;
      /** Told of each storage error (metrics). */
      onStorageError?: (err: unknown) => void;
      /** The state changed: worth a heartbeat now. */
      onChange(): void;
    },
  ) {}

  /** Why this node cannot store data, or null while it can. */
  get error(): string | null {
    return [...this.errors.values()][0] ?? null;
  }

  /** Reports an error at `where` (logged; a storage error also marks the node unhealthy). */
  failed(where: StorageSite, what: string, err: unknown, fields = {}): void {
    if (isStorageError(err)) {
      const message = `cannot store data (${what}): ${errorMessage(err)}`;
      if (!this.errors.has(where))
        this.o.log('storage error: this node is not ready', { err: message });
      this.errors.set(where, message);
      this.o.onStorageError?.(err);
      this.o.onChange();
    }
    this.o.log(what, { ...fields, err: errorMessage(err) });
  }

  /** A success at `where`: a storage error there is over. */
  stored(where: StorageSite): void {
    if (!this.errors.delete(where)) return;
    this.o.log('storage recovered: this node stores data again', { where });
    this.o.onChange();
  }
}
