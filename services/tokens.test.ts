import { describe, expect, it } from 'vitest';
import { TokenCodec } from './tokens.ts';

describe('session tokens', () => {
  const codec = new TokenCodec('a-secret-of-sixteen+');

  it('encodes each position the same way, whatever was encoded in between', () => {
    const a = codec.encode(7);
    expect(codec.encode(7)).toBe(a);
    const b = codec.encode(8);
    expect(b).not.toBe(a);
    expect(codec.encode(7)).toBe(a);
    expect(new TokenCodec('a-secret-of-sixteen+').encode(7)).toBe(a);
    expect(codec.decode(b)).toBe(8);
  });

  it('round-trips a position', () => {
    expect(codec.decode(codec.encode(123_456))).toBe(123_456);
    expect(codec.decode(codec.encode(0))).toBe(0);
  });

  for (const [what, token] of [
    ['garbage', 'hello'],
    ['a wrong version', codec.encode(5).replace(/^m1/, 'm9')],
    ['a tampered position', codec.encode(5).replace(/^m1\.5/, 'm1.6')],
    ['a token signed with another secret', new TokenCodec('another-secret-16chars').encode(5)],
    ['a truncated signature', codec.encode(5).slice(0, -2)],
    ['a non-base36 position', 'm1.!!.0123456789abcdef'],
  ] as const) {
    it(`rejects ${what} as a 400, never a wait`, () => {
      expect(() => codec.decode(token)).toThrow(expect.objectContaining({ code: 'invalid_token' }));
    });
  }
});
