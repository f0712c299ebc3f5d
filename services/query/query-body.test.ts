import { describe, expect, it } from 'vitest';
import { QueryBody } from '../api.ts';
import type { ApiError } from '../http/errors.ts';
import { parseBody } from '../validate.ts';
import { LocalQueryBody, parseLocalQueryBody, parseQueryBody } from './query-body.ts';

/** Values to try in each field: valid ones, boundaries on both sides, wrong types. */
const VALUES: Record<string, unknown[]> = {
  vector: [
    [1, 0, 0],
    [],
    [-0, 1e-300, -1e308],
    [1, Infinity],
    [1, -Infinity],
    [1, NaN],
    [1, '0'],
    [1, null],
    [[1]],
    '1,0,0',
    { 0: 1 },
    null,
  ],
  k: [1, 10, 1000, 0, 1001, -1, 1.5, '5', 1e300, null, true, Number.MAX_SAFE_INTEGER + 2],
  ef: [1, 64, 4096, 0, 4097, 2.5, '64', null],
  filter: [{ lang: 'en' }, { n: { $in: [1, 'a'] } }, {}, 'lang=en', [], { n: { $gt: 1 } }],
  model: ['m@1', 'x'.repeat(128), 'x'.repeat(129), '', 7, null],
  consistency: ['strong', 'bounded', 'session', 'eventual', 'linearizable', '', 'EVENTUAL', 3],
  maxStalenessMs: [0, 1_000, 86_400_000, 86_400_001, -1, 0.5, '10', null],
  token: ['m1.1.0123456789abcdef', 'x'.repeat(512), 'x'.repeat(513), '', 5, null],
  waitMs: [0, 60_000, 60_001, -5, 1.5, '0', null],
  readIndex: ['m1.7.0123456789abcdef', 'x'.repeat(512), 'x'.repeat(513), '', 7, null],
  minSeq: [0, 7],
  limit: [3],
  ['__proto__']: [{}],
};

/** Every field alone on a minimal body, every pair, and bodies that are not objects. */
function corpus(): unknown[] {
  const out: unknown[] = [null, 42, 'hello', true, [], [{ vector: [1] }], {}];
  const fields = Object.keys(VALUES);
  const withField = (base: Record<string, unknown>, f: string, v: unknown) => {
    const b = { ...base };
    // JSON.parse makes an own "__proto__" key; so does defineProperty.
    Object.defineProperty(b, f, { value: v, enumerable: true, writable: true, configurable: true });
    return b;
  };
  for (const f of fields) {
    for (const v of VALUES[f]!) {
      out.push(withField({ vector: [1, 0, 0] }, f, v));
      for (const g of fields) {
        if (g <= f) continue;
        for (const w of VALUES[g]!) out.push(withField(withField({ vector: [0, 1] }, f, v), g, w));
      }
    }
  }
  return out;
}

/** What the plain zod path answers: its output, or the 400's message and details. */
function viaZod(schema: typeof QueryBody | typeof LocalQueryBody, data: unknown): unknown {
  try {
    return { ok: parseBody(schema, data) };
  } catch (err) {
    return { err: (err as ApiError).message, details: (err as ApiError).details };
  }
}

function viaFast(parse: (d: unknown) => unknown, data: unknown): unknown {
  try {
    return { ok: parse(data) };
  } catch (err) {
    return { err: (err as ApiError).message, details: (err as ApiError).details };
  }
}

describe('query body validation', () => {
  const bodies = corpus();

  it('tries thousands of bodies, valid and malformed', () => {
    expect(bodies.length).toBeGreaterThan(3_000);
  });

  it('answers every public query body exactly as the zod schema does', () => {
    let accepted = 0;
    for (const b of bodies) {
      const want = viaZod(QueryBody, b);
      const got = viaFast(parseQueryBody, b);
      expect(got, JSON.stringify(b)).toStrictEqual(want);
      if ('ok' in (want as object)) accepted++;
    }
    expect(accepted).toBeGreaterThan(100);
  });

  it('answers every forwarded (readIndex) query body exactly as the zod schema does', () => {
    for (const b of bodies) {
      expect(viaFast(parseLocalQueryBody, b), JSON.stringify(b)).toStrictEqual(
        viaZod(LocalQueryBody, b),
      );
    }
  });

  it('keeps the schema key order, so a forwarded body serialises the same', () => {
    const b = { waitMs: 5, token: 't', consistency: 'session', k: 3, vector: [1], ef: 9 };
    expect(JSON.stringify(parseQueryBody(b))).toBe(JSON.stringify(QueryBody.parse(b)));
  });

  it('refuses a malformed body with a bad_request naming the field', () => {
    expect(() => parseQueryBody({ vector: [1], k: 0 })).toThrow(
      expect.objectContaining({ code: 'bad_request', message: expect.stringMatching(/^k: /) }),
    );
  });
});
