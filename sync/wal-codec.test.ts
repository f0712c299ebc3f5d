import { describe, expect, it } from 'vitest';
import { decodeWalEntry, encodeWalEntry } from './wal-codec.ts';

describe('wal codec', () => {
  it('round-trips an upsert with vectors and metadata', () => {
    const entry = {
      op: 'upsert' as const,
      collection: 'docs',
      generation: 'minilm@1',
      points: [
        { id: 'a', vector: Float32Array.from([1, 2, 3]), metadata: { t: 'x' } },
        { id: 'b', vector: Float32Array.from([-1, 0.5, 9]), metadata: null },
      ],
    };
    const back = decodeWalEntry(encodeWalEntry(entry));
    expect(back).toEqual(entry);
  });

  it('round-trips an activation (issue 14)', () => {
    const entry = { op: 'activate' as const, collection: 'c', generation: 'e5@2' };
    expect(decodeWalEntry(encodeWalEntry(entry))).toEqual(entry);
  });

  it('round-trips a commit group member; refuses a group that does not name the entry', () => {
    const group = {
      id: 'g1',
      members: [
        { collection: 'c', generation: 'e5@2' },
        { collection: 'img', generation: 'clip@2' },
      ],
    };
    const entry = { op: 'activate' as const, collection: 'c', generation: 'e5@2', group };
    expect(decodeWalEntry(encodeWalEntry(entry))).toEqual(entry);
    const stray = { ...entry, generation: 'other@1' };
    expect(() => decodeWalEntry(encodeWalEntry(stray))).toThrow(/name its own entry/);
  });

  it('round-trips a delete', () => {
    const entry = { op: 'delete' as const, collection: 'c', generation: 'g', ids: ['x', 'y'] };
    expect(decodeWalEntry(encodeWalEntry(entry))).toEqual(entry);
  });

  it('rejects bytes that are not a WAL entry or are cut short', () => {
    expect(() => decodeWalEntry(Buffer.from('hello world'))).toThrow(/bad magic/);
    const good = encodeWalEntry({
      op: 'upsert',
      collection: 'c',
      generation: 'g',
      points: [{ id: 'a', vector: Float32Array.from([1, 2]), metadata: null }],
    });
    expect(() => decodeWalEntry(good.subarray(0, good.length - 1))).toThrow(/wrong length/);
  });

  it('rejects a NaN that reached the WAL', () => {
    const bytes = Buffer.from(
      encodeWalEntry({
        op: 'upsert',
        collection: 'c',
        generation: 'g',
        points: [{ id: 'a', vector: Float32Array.from([1, 2]), metadata: null }],
      }),
    );
    bytes.writeFloatLE(NaN, bytes.length - 4);
    expect(() => decodeWalEntry(bytes)).toThrow(/finite/);
  });
});
