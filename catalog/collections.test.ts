import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isCatalogError } from './errors.ts';
import { rowCounts, tempCatalog } from './fixtures.ts';
import type { TempCatalog } from './fixtures.ts';

let t: TempCatalog;
beforeEach(() => {
  t = tempCatalog();
});
afterEach(() => t.cleanup());

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isCatalogError(err) ? err.code : `untyped: ${String(err)}`;
  }
  return undefined;
}

describe('catalog', () => {
  it('creates a collection with defaults and reads it back', () => {
    const created = t.catalog.createCollection({
      name: 'docs',
      dim: 384,
      metric: 'cosine',
      placement: ['us-east', 'eu-west', 'us-east'],
      createdAt: '2025-01-01T00:00:00.000Z',
    });
    const expected = {
      name: 'docs',
      dim: 384,
      metric: 'cosine',
      hnsw: { M: 16, efConstruction: 200, efSearch: 64 },
      placement: ['eu-west', 'us-east'],
      maxStalenessMs: 5000,
      defaultAck: 'async',
      createdAt: '2025-01-01T00:00:00.000Z',
    };
    expect(created).toEqual(expected);
    expect(t.catalog.getCollection('docs')).toEqual(expected);
    expect(t.catalog.getCollection('missing')).toBeNull();
  });

  it('stores a null placement as every region and lists collections by name', () => {
    t.catalog.createCollection({ name: 'images', dim: 512, metric: 'ip', defaultAck: 'sync' });
    t.catalog.createCollection({ name: 'docs', dim: 8, metric: 'l2', hnsw: { M: 8 } });
    const list = t.catalog.listCollections();
    expect(list.map((c) => c.name)).toEqual(['docs', 'images']);
    expect(list[0]?.hnsw).toEqual({ M: 8, efConstruction: 200, efSearch: 64 });
    expect(list[1]?.placement).toBeNull();
    expect(list[1]?.defaultAck).toBe('sync');
  });

  it('treats an identical create as a no-op and a different one as CollectionExists', () => {
    const first = t.catalog.createCollection({
      name: 'docs',
      dim: 384,
      metric: 'cosine',
      model: 'm@1',
    });
    const again = t.catalog.createCollection({
      name: 'docs',
      dim: 384,
      metric: 'cosine',
      model: 'm@1',
    });
    expect(again).toEqual(first);
    expect(
      codeOf(() => t.catalog.createCollection({ name: 'docs', dim: 768, metric: 'cosine' })),
    ).toBe('collection_exists');
    expect(codeOf(() => t.catalog.createCollection({ name: 'docs', dim: 384, metric: 'l2' }))).toBe(
      'collection_exists',
    );
    expect(t.catalog.getCollection('docs')?.dim).toBe(384);
    expect(rowCounts(t.path)).toMatchObject({ collections: 1, generations: 1 });
  });

  it('rejects bad collection input as invalid_argument without writing anything', () => {
    expect(codeOf(() => t.catalog.createCollection({ name: 'a.b', dim: 3, metric: 'l2' }))).toBe(
      'invalid_argument',
    );
    expect(codeOf(() => t.catalog.createCollection({ name: 'ok', dim: 0, metric: 'l2' }))).toBe(
      'invalid_argument',
    );
    expect(
      codeOf(() => t.catalog.createCollection({ name: 'ok', dim: 3, metric: 'hamming' as 'l2' })),
    ).toBe('invalid_argument');
    expect(
      codeOf(() => t.catalog.createCollection({ name: 'ok', dim: 3, metric: 'l2', placement: [] })),
    ).toBe('invalid_argument');
    expect(rowCounts(t.path).collections).toBe(0);
  });

  it('keeps one active and at most one staging generation per collection', () => {
    t.catalog.createCollection({ name: 'docs', dim: 384, metric: 'cosine', model: 'minilm-l6@2' });
    t.catalog.addGeneration('docs', 'bge-small@1', 384, 'staging');
    expect(t.catalog.addGeneration('docs', 'bge-small@1', 384, 'staging').state).toBe('staging');
    expect(codeOf(() => t.catalog.addGeneration('docs', 'e5@1', 768, 'staging'))).toBe(
      'generation_conflict',
    );
    expect(codeOf(() => t.catalog.addGeneration('docs', 'e5@1', 768, 'active'))).toBe(
      'generation_conflict',
    );
    expect(codeOf(() => t.catalog.addGeneration('docs', 'bge-small@1', 768, 'staging'))).toBe(
      'generation_conflict',
    );
    expect(codeOf(() => t.catalog.addGeneration('nope', 'e5@1', 768, 'staging'))).toBe('not_found');
    const states = () =>
      Object.fromEntries(t.catalog.listGenerations('docs').map((g) => [g.model, g.state]));
    expect(states()).toEqual({ 'minilm-l6@2': 'active', 'bge-small@1': 'staging' });
  });

  it('retires the previous active generation when another is activated, and rolls back in one call', () => {
    t.catalog.createCollection({ name: 'docs', dim: 384, metric: 'cosine', model: 'minilm-l6@2' });
    t.catalog.addGeneration('docs', 'e5@1', 768, 'staging');
    t.catalog.setGenerationState('docs', 'e5@1', 'active');
    const states = () =>
      Object.fromEntries(t.catalog.listGenerations('docs').map((g) => [g.model, g.state]));
    expect(states()).toEqual({ 'minilm-l6@2': 'retired', 'e5@1': 'active' });
    t.catalog.setGenerationState('docs', 'minilm-l6@2', 'active');
    expect(states()).toEqual({ 'minilm-l6@2': 'active', 'e5@1': 'retired' });
    expect(codeOf(() => t.catalog.setGenerationState('docs', 'missing@1', 'active'))).toBe(
      'not_found',
    );
  });
});
