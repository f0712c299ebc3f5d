import { describe, expect, it } from 'vitest';
import { isIndexError } from './errors.ts';
import { compileFilter } from './filter.ts';
import { assertMetric, pointLimits, validatePoints } from './validate.ts';
import type { IndexErrorCode } from './errors.ts';

const dim = 3;
const ok = { id: 'a', vector: [1, 2, 3], metadata: { lang: 'en' } };

function codeOf(fn: () => unknown): IndexErrorCode | 'no error' {
  try {
    fn();
  } catch (err) {
    if (isIndexError(err)) return err.code;
    throw err;
  }
  return 'no error';
}

describe('point validation', () => {
  const bad: Array<[string, unknown, RegExp]> = [
    ['wrong dimension', { ...ok, vector: [1, 2] }, /has 2 dimensions, expected 3/],
    ['NaN', { ...ok, vector: [1, NaN, 3] }, /vector\[1\] is NaN/],
    ['Infinity', { ...ok, vector: [Infinity, 0, 0] }, /vector\[0\] is Infinity/],
    ['float32 overflow', { ...ok, vector: [1e39, 0, 0] }, /overflows float32/],
    ['a string component', { ...ok, vector: [1, '2', 3] }, /vector\[1\] is "2"/],
    ['no vector', { id: 'a' }, /vector must be an array/],
    ['empty id', { ...ok, id: '' }, /id must be a non-empty string/],
    ['numeric id', { ...ok, id: 7 }, /id must be a non-empty string/],
    [
      'over-long id',
      { ...ok, id: 'x'.repeat(pointLimits.maxIdBytes + 1) },
      /longer than 256 bytes/,
    ],
    ['metadata array', { ...ok, metadata: [1] }, /metadata must be a JSON object/],
    ['metadata string', { ...ok, metadata: 'x' }, /metadata must be a JSON object/],
    [
      'metadata too large',
      { ...ok, metadata: { s: 'x'.repeat(pointLimits.maxMetadataBytes) } },
      /metadata is larger than 16384 bytes/,
    ],
    ['a point that is not an object', 5, /points\[0\] must be an object/],
  ];
  for (const [what, point, message] of bad) {
    it(`rejects ${what} with a clear message`, () => {
      expect(() => validatePoints([point as never], dim)).toThrow(message);
      expect(codeOf(() => validatePoints([point as never], dim))).toBe('invalid_point');
    });
  }

  it('rejects the whole batch when one point is bad', () => {
    expect(() => validatePoints([ok, { ...ok, id: 'b', vector: [0] }], dim)).toThrow(/point "b"/);
  });

  it('keeps the last of duplicate ids in one batch, at its position', () => {
    const out = validatePoints(
      [
        { id: 'a', vector: [1, 1, 1] },
        { id: 'b', vector: [2, 2, 2] },
        { id: 'a', vector: [3, 3, 3], metadata: { last: true } },
      ],
      dim,
    );
    expect(out.map((p) => p.id)).toEqual(['b', 'a']);
    expect(Array.from(out[1]!.vector)).toEqual([3, 3, 3]);
    expect(out[1]!.metadata).toEqual({ last: true });
  });

  it('accepts a good point and copies its vector into a Float32Array', () => {
    const [p] = validatePoints([ok], dim);
    expect(p!.vector).toBeInstanceOf(Float32Array);
    expect(p!.metadata).toEqual({ lang: 'en' });
  });

  it('rejects an unknown metric', () => {
    expect(() => assertMetric('hamming')).toThrow(/unknown metric "hamming"/);
    expect(codeOf(() => assertMetric('hamming'))).toBe('unknown_metric');
  });
});

describe('filter validation', () => {
  const bad: Array<[string, unknown]> = [
    ['an array', [1]],
    ['a string', 'lang=en'],
    ['an unknown operator', { lang: { $regex: 'e.*' } }],
    ['two operators', { lang: { $in: ['en'], $ne: 'de' } }],
    ['$in of objects', { lang: { $in: [{}] } }],
    ['$in not an array', { lang: { $in: 'en' } }],
    ['a nested object value', { lang: { code: 'en' } }],
  ];
  for (const [what, filter] of bad) {
    it(`rejects ${what}`, () => {
      expect(codeOf(() => compileFilter(filter))).toBe('invalid_filter');
    });
  }

  it('matches values, sets, and misses points without metadata', () => {
    const pred = compileFilter({ lang: { $in: ['en', 'de'] }, year: 2024 })!;
    expect(pred({ lang: 'de', year: 2024 })).toBe(true);
    expect(pred({ lang: 'fr', year: 2024 })).toBe(false);
    expect(pred({ lang: 'en', year: 2023 })).toBe(false);
    expect(pred(null)).toBe(false);
    expect(compileFilter({})).toBeNull();
  });
});
