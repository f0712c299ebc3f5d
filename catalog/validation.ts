/**
 * Input checks for catalog commands. Everything is checked before a transaction opens,
 * so a bad manifest never half-applies and always fails with `invalid_argument`.
 */
// Values come from index's dependency-free contract file, not its barrel: the barrel
// loads hnswlib-node and apache-arrow (~0.5 s), which neither the catalog nor
// drizzle-kit (it loads this schema) needs. Types go through the barrel.
import { defaultHnswParams, Metrics } from '../index/types.ts';
import { InvalidArgument } from './errors.ts';
import { DEFAULT_MAX_STALENESS_MS } from './schema.ts';
import { AckModes, GenerationStates } from './types.ts';
import type {
  CollectionInput,
  CollectionSettings,
  GenerationState,
  Manifest,
  ManifestSegment,
  Tombstone,
} from './types.ts';

/**
 * Collection names become NATS subject tokens and file names elsewhere, so they are
 * restricted to a conservative alphabet.
 */
export const COLLECTION_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const MODEL_NAME = /^[^\s\p{Cc}]{1,256}$/u;
const DIGEST = /^[0-9a-f]{64}$/;
const MAX_DIM = 65_536;

function fail(message: string, details?: Record<string, unknown>): never {
  throw new InvalidArgument(message, details);
}

/** Throws unless `value` is a safe integer >= `min`. */
export function checkInt(value: unknown, what: string, min = 0): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    fail(`${what} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

/**
 * The one rule for a collection name, everywhere it arrives (HTTP paths, bodies, stored
 * definitions): it becomes a token of NATS subjects and part of stream names, so NATS's
 * wildcards (`*`, `>`), separators (`.`), spaces, `$` and control characters are refused.
 */
export function isCollectionName(name: unknown): name is string {
  return typeof name === 'string' && COLLECTION_NAME.test(name);
}

export function checkCollectionName(name: unknown): string {
  if (typeof name !== 'string' || !COLLECTION_NAME.test(name)) {
    fail(`collection name must match ${COLLECTION_NAME.source}, got ${JSON.stringify(name)}`);
  }
  return name;
}

export function checkModel(model: unknown): string {
  if (typeof model !== 'string' || !MODEL_NAME.test(model)) {
    fail(`model must be 1-256 characters without spaces, got ${JSON.stringify(model)}`);
  }
  return model;
}

export function checkDim(dim: unknown): number {
  const d = checkInt(dim, 'dim', 1);
  if (d > MAX_DIM) fail(`dim must be at most ${MAX_DIM}, got ${d}`);
  return d;
}

export function checkGenerationState(state: unknown): GenerationState {
  if (!GenerationStates.includes(state as GenerationState)) {
    fail(`generation state must be one of ${GenerationStates.join(', ')}, got ${String(state)}`);
  }
  return state as GenerationState;
}

function normalizePlacement(placement: unknown): string[] | null {
  if (placement === null || placement === undefined) return null;
  if (!Array.isArray(placement) || placement.length === 0) {
    fail('placement must be null (every region) or a non-empty array of region names');
  }
  for (const region of placement) {
    if (typeof region !== 'string' || region.length === 0)
      fail('region names must be non-empty strings');
  }
  return [...new Set(placement as string[])].sort();
}

/** Applies defaults and checks every field; the result is what gets stored. */
export function normalizeCollection(input: CollectionInput): CollectionSettings {
  if (!Metrics.includes(input.metric)) {
    fail(`metric must be one of ${Metrics.join(', ')}, got ${String(input.metric)}`);
  }
  const defaultAck = input.defaultAck ?? 'async';
  if (!AckModes.includes(defaultAck)) {
    fail(`defaultAck must be one of ${AckModes.join(', ')}, got ${String(defaultAck)}`);
  }
  const hnsw = { ...defaultHnswParams, ...input.hnsw };
  return {
    name: checkCollectionName(input.name),
    dim: checkDim(input.dim),
    metric: input.metric,
    hnsw: {
      M: checkInt(hnsw.M, 'hnsw.M', 1),
      efConstruction: checkInt(hnsw.efConstruction, 'hnsw.efConstruction', 1),
      efSearch: checkInt(hnsw.efSearch, 'hnsw.efSearch', 1),
    },
    placement: normalizePlacement(input.placement),
    maxStalenessMs: checkInt(input.maxStalenessMs ?? DEFAULT_MAX_STALENESS_MS, 'maxStalenessMs'),
    defaultAck,
    createdAt: input.createdAt ?? new Date().toISOString(),
  };
}

function checkSegment(s: ManifestSegment, where: string): void {
  if (typeof s?.digest !== 'string' || !DIGEST.test(s.digest)) {
    fail(`${where}: digest must be 64 lowercase hex characters`);
  }
  checkInt(s.count, `${where}.count`);
  checkInt(s.bytes, `${where}.bytes`);
  checkInt(s.minSeq, `${where}.minSeq`);
  if (checkInt(s.maxSeq, `${where}.maxSeq`) < s.minSeq) fail(`${where}: maxSeq < minSeq`);
}

function checkTombstone(t: Tombstone, where: string): void {
  if (typeof t?.id !== 'string') fail(`${where}: id must be a string`);
  checkInt(t.seq, `${where}.seq`);
}

/** Checks one manifest's shape; duplicates inside a manifest are rejected, not merged. */
export function checkManifest(m: Manifest): void {
  const where = `manifest ${String(m?.collection)}/${String(m?.generation)}@${String(m?.version)}`;
  checkCollectionName(m.collection);
  checkModel(m.generation);
  checkInt(m.version, `${where}: version`, 1);
  checkInt(m.coversSeq, `${where}: coversSeq`);
  if (typeof m.createdAt !== 'string') fail(`${where}: createdAt must be a string`);
  if (m.group !== undefined && m.group !== null && typeof m.group !== 'string') {
    fail(`${where}: group must be a string or null`);
  }
  if (!Array.isArray(m.segments) || !Array.isArray(m.tombstones)) {
    fail(`${where}: segments and tombstones must be arrays`);
  }
  m.segments.forEach((s, i) => checkSegment(s, `${where} segments[${i}]`));
  m.tombstones.forEach((t, i) => checkTombstone(t, `${where} tombstones[${i}]`));
  if (new Set(m.segments.map((s) => s.digest)).size !== m.segments.length) {
    fail(`${where}: a segment digest is listed twice`);
  }
  if (new Set(m.tombstones.map((t) => t.id)).size !== m.tombstones.length) {
    fail(`${where}: a tombstone id is listed twice`);
  }
}

/**
 * Checks a commit group: every manifest valid, all carrying the same `group`, and at most
 * one manifest per collection+generation (each updates that replica_state row once).
 */
export function checkCommitGroup(group: readonly Manifest[]): void {
  group.forEach(checkManifest);
  const groups = new Set(group.map((m) => m.group ?? null));
  if (groups.size > 1) fail('manifests applied together must carry the same group id');
  const keys = new Set(group.map((m) => `${m.collection}\u0000${m.generation}`));
  if (keys.size !== group.length) {
    fail('a commit group may hold at most one manifest per collection and generation');
  }
}
