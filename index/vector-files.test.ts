import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isVectorFileError, VectorFileError } from './errors.ts';
import { readFvecs, readIvecs, readNpy, writeFvecs, writeIvecs, writeNpy } from './vector-files.ts';

/** Files written by numpy 2.4 (`np.save`) from [[1.5, -2.25, 3], [0.5, 1e-3, -7]]. */
const NUMPY = {
  f4: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAMA/AAAQwAAAQEAAAAA/bxKDOgAA4MA=',
  f8: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAD4PwAAAAAAAALAAAAAAAAACEAAAAAAAADgP/yp8dJNYlA/AAAAAAAAHMA=',
  f2: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGYyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAPoDAAEIAOBkUAMc=',
  fortran:
    'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAMA/AAAAPwAAEMBvEoM6AABAQAAA4MA=',
  v2: 'k05VTVBZAgB0AAAAeydkZXNjcic6ICc8ZjQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAMA/AAAQwAAAQEAAAAA/bxKDOgAA4MA=',
  v3: 'k05VTVBZAwB0AAAAeydkZXNjcic6ICc8ZjQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAMA/AAAQwAAAQEAAAAA/bxKDOgAA4MA=',
  i4: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGk0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
} as const;
const VALUES = [1.5, -2.25, 3, 0.5, 1e-3, -7];
const npy = (name: keyof typeof NUMPY): Buffer => Buffer.from(NUMPY[name], 'base64');

/** Expects `fn` to throw a VectorFileError whose message matches `pattern`. */
function expectVectorFileError(fn: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(VectorFileError);
  expect(isVectorFileError(caught)).toBe(true);
  expect((caught as VectorFileError).code).toBe('bad_vector_file');
  expect((caught as VectorFileError).message).toMatch(pattern);
}

describe('vector-files', () => {
  describe('fvecs and ivecs', () => {
    it('round-trips float rows through writeFvecs and readFvecs', () => {
      const data = Float32Array.from({ length: 3 * 5 }, (_, i) => i / 7 - 1);
      const read = readFvecs(writeFvecs(5, data));
      expect(read).toEqual({ dim: 5, count: 3, data });
    });

    it('round-trips integer rows through writeIvecs and readIvecs', () => {
      const data = Int32Array.from([0, 41, -3, 2_000_000_000, 7, 8]);
      expect(readIvecs(writeIvecs(2, data))).toEqual({ dim: 2, count: 3, data });
    });

    it('lays rows out as an int32 dim header followed by float32 values', () => {
      const bytes = writeFvecs(2, Float32Array.from([1, 2]));
      expect(bytes.length).toBe(12);
      expect(bytes.readInt32LE(0)).toBe(2);
      expect(bytes.readFloatLE(4)).toBe(1);
      expect(bytes.readFloatLE(8)).toBe(2);
    });

    it('reads a buffer that is a view into a larger, unaligned ArrayBuffer', () => {
      const file = writeFvecs(3, Float32Array.from([1, 2, 3, 4, 5, 6]));
      const backing = new Uint8Array(file.length + 3);
      backing.set(file, 1);
      expect(Array.from(readFvecs(backing.subarray(1, 1 + file.length)).data)).toEqual([
        1, 2, 3, 4, 5, 6,
      ]);
    });

    it('reads an empty file as zero rows', () => {
      expect(readFvecs(new Uint8Array(0))).toEqual({ dim: 0, count: 0, data: new Float32Array(0) });
    });

    it('names the truncated row when the last row is cut short', () => {
      const file = writeFvecs(4, new Float32Array(12));
      expectVectorFileError(
        () => readFvecs(file.subarray(0, file.length - 3)),
        /truncated row 2\b/,
      );
      expectVectorFileError(
        () => readFvecs(file.subarray(0, 2 * 20 + 2)),
        /truncated row 2\b.*dim header/,
      );
    });

    it('names the row whose dim differs from the first row', () => {
      const file = Buffer.concat([
        writeFvecs(3, new Float32Array(6)),
        writeFvecs(2, new Float32Array(2)),
      ]);
      expectVectorFileError(() => readFvecs(file), /inconsistent dim at row 2: 2, row 0 has 3/);
    });

    it('rejects a non-positive dim header', () => {
      const file = writeFvecs(1, Float32Array.from([5]));
      file.writeInt32LE(0, 0);
      expectVectorFileError(() => readFvecs(file), /bad dim 0 at row 0/);
    });

    it('refuses to write data that is not a whole number of rows', () => {
      expectVectorFileError(() => writeFvecs(3, new Float32Array(4)), /not a multiple of dim 3/);
    });

    it('reads the shared SIFT base set as 4900 x 128 integer-valued vectors', () => {
      // The shared datasets sit beside the repo; without them the same checks run on a
      // generated file of the same shape, so the test never silently skips.
      const path = fileURLToPath(
        new URL('../../shared/datasets/sift-ngt-5k/base.fvecs', import.meta.url),
      );
      const bytes = existsSync(path)
        ? readFileSync(path)
        : writeFvecs(
            128,
            Float32Array.from({ length: 4900 * 128 }, (_, i) => (i * 31) % 192),
          );
      const { dim, count, data } = readFvecs(bytes);
      expect([dim, count, data.length]).toEqual([128, 4900, 4900 * 128]);
      expect(data.every((v) => Number.isInteger(v) && v >= 0 && v <= 191)).toBe(true);
    });
  });

  describe('npy', () => {
    it('reads a float32 file written by numpy', () => {
      const { shape, data } = readNpy(npy('f4'));
      expect(shape).toEqual([2, 3]);
      expect(data).toEqual(Float32Array.from(VALUES));
    });

    it('converts float64 and float16 files to float32', () => {
      expect(readNpy(npy('f8'))).toEqual({ shape: [2, 3], data: Float32Array.from(VALUES) });
      const half = readNpy(npy('f2'));
      expect(Array.from(half.data.slice(0, 4))).toEqual([1.5, -2.25, 3, 0.5]);
      expect(half.data[4]).toBeCloseTo(1e-3, 5);
      expect(half.data[5]).toBe(-7);
    });

    it('reads format versions 2.0 and 3.0', () => {
      expect(readNpy(npy('v2')).data).toEqual(Float32Array.from(VALUES));
      expect(readNpy(npy('v3')).data).toEqual(Float32Array.from(VALUES));
    });

    it('writes the same bytes as numpy.save', () => {
      expect(writeNpy([2, 3], Float32Array.from(VALUES)).equals(npy('f4'))).toBe(true);
    });

    it('round-trips through writeNpy and readNpy', () => {
      const data = Float32Array.from({ length: 100 * 7 }, (_, i) => Math.sin(i));
      const file = writeNpy([100, 7], data);
      expect(readNpy(file)).toEqual({ shape: [100, 7], data });
      expect((file.readUInt16LE(8) + 10) % 64).toBe(0);
    });

    it('rejects a file without the npy magic', () => {
      const file = npy('f4');
      file[1] = 0x00;
      expectVectorFileError(() => readNpy(file), /bad npy magic/);
      expectVectorFileError(() => readNpy(writeFvecs(2, new Float32Array(4))), /bad npy magic/);
    });

    it('rejects Fortran-ordered arrays', () => {
      expectVectorFileError(() => readNpy(npy('fortran')), /fortran_order True/);
    });

    it('names an unsupported dtype', () => {
      expectVectorFileError(() => readNpy(npy('i4')), /unsupported npy dtype <i4/);
    });

    it('reports truncated and oversized data', () => {
      const file = npy('f4');
      expectVectorFileError(
        () => readNpy(file.subarray(0, file.length - 1)),
        /truncated npy data.*needs 24 bytes, file has 23/,
      );
      expectVectorFileError(
        () => readNpy(Buffer.concat([file, Buffer.alloc(4)])),
        /trailing bytes/,
      );
      expectVectorFileError(() => readNpy(file.subarray(0, 40)), /truncated npy header/);
    });

    it('rejects arrays that are not 2-D', () => {
      const oneD = Buffer.from(
        npy('f4').toString('latin1').replace('(2, 3), ', '(6,),    '),
        'latin1',
      );
      expectVectorFileError(() => readNpy(oneD), /expected a 2-D npy array.*\(6,\)/);
      expectVectorFileError(() => writeNpy([6], new Float32Array(6)), /2-D shape/);
    });
  });
});
