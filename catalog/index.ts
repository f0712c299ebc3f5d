/**
 * The catalog module: a node's SQLite catalog (drizzle-orm over better-sqlite3, WAL mode,
 * generated migrations applied on open). It records collections and their generations,
 * the manifests a replica has received with their segments and tombstones, the replica's
 * applied state, and the local WAL log (consumed WAL entries not yet sealed into a
 * manifest, so that acked writes survive a restart). It applies a manifest — or a commit
 * group of them — in one transaction so that a crash leaves a node on version v or v+1,
 * never a mix. SQLite and drizzle stay behind this file: siblings import only from here.
 */
export { Catalog, openCatalog } from './catalog.ts';
export {
  CatalogError,
  CatalogErrorCodes,
  CollectionExists,
  GenerationConflict,
  InvalidArgument,
  ManifestConflict,
  NotFound,
  isCatalogError,
  isCollectionExists,
  isManifestConflict,
  isNotFound,
  isTransient,
} from './errors.ts';
export type { CatalogErrorCode } from './errors.ts';
export { DEFAULT_MAX_STALENESS_MS } from './schema.ts';
export { COLLECTION_NAME, isCollectionName } from './validation.ts';
export { AckModes, ApplyOutcomes, GenerationStates } from './types.ts';
export type {
  AckMode,
  ApplyHooks,
  ApplyOutcome,
  ApplyResult,
  CatalogOptions,
  CollectionInput,
  CollectionSettings,
  Generation,
  GenerationState,
  HnswParams,
  Manifest,
  ManifestApplyResult,
  ManifestSegment,
  Metric,
  ReplicaState,
  StoredWalEntry,
  Tombstone,
  WalLogEntry,
} from './types.ts';
