/**
 * The `Catalog` facade: one open SQLite file and every command and lookup the rest of
 * Meridian needs. Each method is one transaction; the work lives in per-concern files.
 */
import { open, realpath } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import * as collectionOps from './collections.ts';
import { CatalogError } from './errors.ts';
import * as generationOps from './generations.ts';
import { applyManifests } from './manifest-transaction.ts';
import { listVersions, readManifest } from './manifest-store.ts';
import { openDatabase } from './open.ts';
import type { OpenedDb } from './open.ts';
import { pruneManifests, referencedDigests } from './pruning.ts';
import * as replicaOps from './replica-state.ts';
import { readTx } from './transactions.ts';
import * as walLogOps from './wal-log.ts';
import type {
  ApplyHooks,
  ApplyResult,
  CatalogOptions,
  CollectionInput,
  CollectionSettings,
  Generation,
  GenerationState,
  Manifest,
  ReplicaState,
  StoredWalEntry,
  WalLogEntry,
} from './types.ts';

/**
 * Opens the catalog at `path` (a file such as `<dataDir>/catalog.db`), creating its
 * directory and the file if needed, in WAL mode, with every pending migration applied.
 * Throws `catalog_corrupt` when the file is not a SQLite database.
 */
export function openCatalog(path: string, options: CatalogOptions = {}): Catalog {
  return new Catalog(openDatabase(path, options), path);
}

/**
 * A node's catalog. Synchronous (better-sqlite3): every call is short and runs one
 * transaction; errors are CatalogErrors, with `transient` set when retrying may help
 * (`sqlite_busy`). Lookups that miss return `null`; commands that cannot proceed throw.
 */
export class Catalog {
  #conn: OpenedDb | null;
  /** SQLite's WAL file, kept open for {@link syncWalLog}. */
  #walFile: Promise<FileHandle | null> | null = null;
  /** The catalog file. */
  readonly path: string;

  /** Use {@link openCatalog}. */
  constructor(conn: OpenedDb, path: string) {
    this.#conn = conn;
    this.path = path;
  }

  get #c(): OpenedDb {
    if (this.#conn === null)
      throw new CatalogError('sqlite_error', `catalog ${this.path} is closed`);
    return this.#conn;
  }

  /**
   * Creates a collection (and, with `model`, its first active generation).
   * Idempotent: identical settings (ignoring `createdAt`) return the stored collection;
   * different settings throw `collection_exists`. Safe under redelivery.
   */
  createCollection(input: CollectionInput): CollectionSettings {
    return collectionOps.createCollection(this.#c, input);
  }

  getCollection(name: string): CollectionSettings | null {
    return collectionOps.getCollection(this.#c, name);
  }

  /** Every collection, by name. */
  listCollections(): CollectionSettings[] {
    return collectionOps.listCollections(this.#c);
  }

  /**
   * Adds a generation to a collection. Idempotent when the same model exists with the
   * same dim and state; otherwise `generation_conflict`. Also `generation_conflict` when
   * it would make a second active or staging generation; `not_found` without the collection.
   */
  addGeneration(
    collection: string,
    model: string,
    dim: number,
    state: GenerationState,
  ): Generation {
    return generationOps.addGeneration(this.#c, collection, model, dim, state);
  }

  /** The collection's generations, oldest first. */
  listGenerations(collection: string): Generation[] {
    return generationOps.listGenerations(this.#c, collection);
  }

  /**
   * Moves a generation to `state`. Activating retires the previously active generation
   * in the same transaction (the cutover switch; its data stays, so rolling back is
   * activating it again). A second staging generation is `generation_conflict`.
   * Idempotent: setting the current state is a no-op.
   */
  setGenerationState(collection: string, model: string, state: GenerationState): Generation {
    return generationOps.setGenerationState(this.#c, collection, model, state);
  }

  /**
   * Removes a staging or retired generation with its manifests, replica state and WAL log
   * rows (its segment files become garbage). The active generation is refused with
   * `generation_conflict`. Idempotent: an unknown generation is a no-op.
   */
  dropGeneration(collection: string, model: string): void {
    walLogOps.dropGeneration(this.#c, collection, model);
  }

  /**
   * Applies one manifest, or an array of manifests as one commit group, in ONE
   * transaction: manifest rows, segments, links, tombstones, the deletion of the local
   * WAL log entries each applied manifest seals (its collection+generation,
   * `seq <= coversSeq`), then replica_state
   * (`appliedVersion = version`, `appliedSeq = max(appliedSeq, coversSeq)`).
   * All or nothing: any error rolls the whole group back.
   *
   * Idempotent and safe under redelivery: an identical stored manifest is `duplicate`,
   * a version older than the applied one is `stale`; both change nothing and leave
   * `applied: false`. A stored version with other content throws `manifest_conflict`.
   * The collection and generation must exist (`not_found`). Safe to abort: a crash
   * leaves the previous version applied.
   */
  applyManifest(manifest: Manifest | readonly Manifest[], hooks?: ApplyHooks): ApplyResult {
    return applyManifests(this.#c, manifest, hooks);
  }

  getManifest(collection: string, generation: string, version: number): Manifest | null {
    const c = this.#c;
    return readTx(c, 'reading manifest', () => readManifest(c.db, collection, generation, version));
  }

  /** The manifest replica_state points to, with its segments and tombstones. */
  appliedManifest(collection: string, generation: string): Manifest | null {
    const c = this.#c;
    return readTx(c, 'reading applied manifest', () => {
      const state = replicaOps.readReplicaState(c.db, collection, generation);
      if (state === null || state.appliedVersion === 0) return null;
      const m = readManifest(c.db, collection, generation, state.appliedVersion);
      if (m === null) {
        throw new CatalogError(
          'catalog_corrupt',
          `replica_state points to missing manifest ${collection}/${generation}@${state.appliedVersion}`,
        );
      }
      return m;
    });
  }

  /** Stored versions, ascending. */
  listManifestVersions(collection: string, generation: string): number[] {
    const c = this.#c;
    return readTx(c, 'listing manifest versions', () => listVersions(c.db, collection, generation));
  }

  getReplicaState(collection: string, generation: string): ReplicaState | null {
    return replicaOps.getReplicaState(this.#c, collection, generation);
  }

  /**
   * Records WAL consumption progress. Monotonic: a seq at or below the stored one is a
   * no-op, so it is idempotent and safe under redelivery and reordering. Creates the
   * row (appliedVersion 0) before any manifest is applied. Returns the resulting state.
   */
  setAppliedSeq(collection: string, generation: string, seq: number): ReplicaState {
    return replicaOps.setAppliedSeq(this.#c, collection, generation, seq);
  }

  /**
   * Keeps the newest `keep` versions plus the applied one, deleting the other manifests
   * with their links and tombstones, and segment rows no remaining manifest lists.
   * Returns the removed versions. Idempotent.
   */
  pruneManifests(collection: string, generation: string, keep: number): number[] {
    return pruneManifests(this.#c, collection, generation, keep);
  }

  /**
   * Digests of every segment listed by a stored manifest. A segment file not in this set
   * and not being fetched for a manifest about to be applied can be deleted.
   */
  referencedDigests(): Set<string> {
    return referencedDigests(this.#c);
  }

  /**
   * Stores WAL entries consumed from JetStream in the local WAL log, in ONE transaction
   * committed with `synchronous=NORMAL`: durable across a process crash as soon as this
   * returns, across an OS crash after the next {@link syncWalLog}. Returns how many
   * entries were newly stored.
   *
   * Idempotent and safe under redelivery: a seq already stored is skipped (stored once,
   * first copy kept); an entry at or below the `coversSeq` of its generation's applied
   * manifest is already sealed and is skipped too. Either way it does not count as new.
   * Also raises `storedWalSeq()` to the batch's highest seq; it never goes back.
   * The collection and generation need not exist yet (there is no foreign key).
   */
  appendWal(entries: ReadonlyArray<WalLogEntry>): number {
    return walLogOps.appendWal(this.#c, entries);
  }

  /**
   * Entries of one collection+generation with `seq > afterSeq`, ascending: what to replay
   * into its memtable on start-up (pass the applied manifest's `coversSeq`). `upTo` and
   * `limit` bound what is read (a seal reads only the entries it may take).
   */
  walEntriesAfter(
    collection: string,
    generation: string,
    afterSeq: number,
    range: { upTo?: number; limit?: number } = {},
  ): StoredWalEntry[] {
    return walLogOps.walEntriesAfter(this.#c, collection, generation, afterSeq, range);
  }

  /** Which of `seqs` the local WAL log holds for collection+generation (a primary's seal check). */
  walHolds(collection: string, generation: string, seqs: readonly number[]): Set<number> {
    return walLogOps.walHolds(this.#c, collection, generation, seqs);
  }

  /**
   * Every entry of the local WAL log, all collections, ascending by seq, as one array
   * read in one snapshot (the log only holds what the memtables hold, so it fits in
   * memory). For replay at start-up.
   */
  walEntriesAll(): StoredWalEntry[] {
    return walLogOps.walEntriesAll(this.#c);
  }

  /**
   * Makes every WAL log row committed so far durable: an fdatasync of SQLite's WAL file,
   * on the thread pool (the commits themselves run with `synchronous=NORMAL`, which
   * survives a process crash, not an OS crash). See decision 0016.
   */
  async syncWalLog(): Promise<void> {
    if (this.path === ':memory:' || this.#conn === null) return;
    // Kept open: SQLite keeps its WAL file (same inode) while a connection is open.
    // SQLite names its WAL after the database's real path (it follows symlinks).
    this.#walFile ??= realpath(this.path)
      .then((real) => open(`${real}-wal`, 'r'))
      .catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null; // nothing written since the database opened
        throw err;
      });
    const fh = await this.#walFile.catch((err: unknown) => {
      this.#walFile = null;
      throw err;
    });
    if (fh === null) {
      this.#walFile = null;
      return;
    }
    try {
      await fh.datasync();
    } catch (err) {
      this.#walFile = null;
      await fh.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Highest WAL seq ever stored by `appendWal` (0 when none): resume the WAL after it.
   * With a collection: the highest seq of that collection's entries.
   */
  storedWalSeq(collection?: string): number {
    return walLogOps.storedWalSeq(this.#c, collection);
  }

  /** Closes the file. Idempotent; any later call throws. */
  close(): void {
    this.#conn?.sqlite.close();
    this.#conn = null;
    const file = this.#walFile;
    this.#walFile = null;
    void file?.then((fh) => fh?.close()).catch(() => undefined);
  }
}
