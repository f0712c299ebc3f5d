/**
 * Readers and writers for the vector file formats users push: TEXMEX `.fvecs`/`.ivecs` and
 * NumPy `.npy`. Pure functions over bytes (no I/O, no dependencies), so the same code serves
 * the primary's ingest path, the CLI and the test datasets. Malformed input throws
 * {@link VectorFileError} naming what is wrong and where.
 */

import { VectorFileError } from './errors.ts';

/** Vectors read from an `.fvecs` file: `count` rows of `dim` values, row-major. */
export interface Fvecs {
  dim: number;
  count: number;
  data: Float32Array;
}

/** Integer rows read from an `.ivecs` file (ground-truth neighbour ids), row-major. */
export interface Ivecs {
  dim: number;
  count: number;
  data: Int32Array;
}

/** A 2-D float array read from a `.npy` file: `shape` is `[rows, cols]`, data row-major. */
export interface Npy {
  shape: number[];
  data: Float32Array;
}

/**
 * Reads TEXMEX `.fvecs`: each row is an int32 LE `dim` then `dim` float32 LE values. Every row
 * must have the first row's `dim`. An empty buffer is zero rows of dim 0.
 */
export function readFvecs(buf: Uint8Array): Fvecs {
  const { dim, count } = scanVecs(buf);
  const data = new Float32Array(dim * count);
  const view = viewOf(buf);
  for (let row = 0; row < count; row++) {
    const start = row * (4 + 4 * dim) + 4;
    for (let j = 0; j < dim; j++) data[row * dim + j] = view.getFloat32(start + 4 * j, true);
  }
  return { dim, count, data };
}

/** Reads TEXMEX `.ivecs`: like {@link readFvecs} with int32 LE values. */
export function readIvecs(buf: Uint8Array): Ivecs {
  const { dim, count } = scanVecs(buf);
  const data = new Int32Array(dim * count);
  const view = viewOf(buf);
  for (let row = 0; row < count; row++) {
    const start = row * (4 + 4 * dim) + 4;
    for (let j = 0; j < dim; j++) data[row * dim + j] = view.getInt32(start + 4 * j, true);
  }
  return { dim, count, data };
}

/** Writes `data` (rows of `dim` values, row-major) as `.fvecs`. */
export function writeFvecs(dim: number, data: Float32Array): Buffer {
  return writeVecs(dim, data, (view, offset, value) => view.setFloat32(offset, value, true));
}

/** Writes `data` (rows of `dim` values, row-major) as `.ivecs`. */
export function writeIvecs(dim: number, data: Int32Array): Buffer {
  return writeVecs(dim, data, (view, offset, value) => view.setInt32(offset, value, true));
}

function writeVecs(
  dim: number,
  data: Float32Array | Int32Array,
  set: (view: DataView, offset: number, value: number) => void,
): Buffer {
  if (!Number.isInteger(dim) || dim <= 0)
    throw new VectorFileError(`dim must be a positive integer, got ${dim}`);
  if (data.length % dim !== 0) {
    throw new VectorFileError(`data length ${data.length} is not a multiple of dim ${dim}`);
  }
  const count = data.length / dim;
  const out = Buffer.alloc(count * (4 + 4 * dim));
  const view = viewOf(out);
  for (let row = 0; row < count; row++) {
    const start = row * (4 + 4 * dim);
    view.setInt32(start, dim, true);
    for (let j = 0; j < dim; j++) set(view, start + 4 + 4 * j, data[row * dim + j] ?? 0);
  }
  return out;
}

/** Checks the row framing of an `.fvecs`/`.ivecs` buffer and returns its shape. */
function scanVecs(buf: Uint8Array): { dim: number; count: number } {
  if (buf.byteLength === 0) return { dim: 0, count: 0 };
  const view = viewOf(buf);
  let dim = -1;
  let count = 0;
  for (let offset = 0; offset < buf.byteLength; count++) {
    if (buf.byteLength - offset < 4) {
      throw new VectorFileError(
        `truncated row ${count} at byte ${offset}: ${buf.byteLength - offset} bytes left, a row needs a 4-byte dim header`,
      );
    }
    const rowDim = view.getInt32(offset, true);
    if (rowDim <= 0)
      throw new VectorFileError(`bad dim ${rowDim} at row ${count} (byte ${offset})`);
    if (dim === -1) dim = rowDim;
    if (rowDim !== dim) {
      throw new VectorFileError(`inconsistent dim at row ${count}: ${rowDim}, row 0 has ${dim}`);
    }
    const need = 4 + 4 * dim;
    if (buf.byteLength - offset < need) {
      throw new VectorFileError(
        `truncated row ${count} at byte ${offset}: needs ${need} bytes, ${buf.byteLength - offset} left`,
      );
    }
    offset += need;
  }
  return { dim, count };
}

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/** The element types {@link readNpy} converts to float32, by NumPy `descr`. */
const NPY_READERS: Record<string, { size: number; get: (v: DataView, o: number) => number }> = {
  '<f4': { size: 4, get: (v, o) => v.getFloat32(o, true) },
  '>f4': { size: 4, get: (v, o) => v.getFloat32(o, false) },
  '<f8': { size: 8, get: (v, o) => v.getFloat64(o, true) },
  '>f8': { size: 8, get: (v, o) => v.getFloat64(o, false) },
  '<f2': { size: 2, get: (v, o) => float16(v.getUint16(o, true)) },
  '>f2': { size: 2, get: (v, o) => float16(v.getUint16(o, false)) },
};

/**
 * Reads a NumPy `.npy` file (format 1.0, 2.0 or 3.0) holding a 2-D C-order float array
 * (`<f4`, `<f8`, `<f2` or their big-endian forms), converting the values to float32.
 * Fortran order, other dtypes, other ranks and a data size that disagrees with the shape are
 * errors.
 */
export function readNpy(buf: Uint8Array): Npy {
  if (buf.byteLength < 10 || NPY_MAGIC.some((b, i) => buf[i] !== b)) {
    throw new VectorFileError('bad npy magic: the file does not start with "\\x93NUMPY"');
  }
  const major = buf[6] ?? 0;
  const view = viewOf(buf);
  if (major < 1 || major > 3)
    throw new VectorFileError(`unsupported npy format version ${major}.${buf[7]}`);
  const lenBytes = major === 1 ? 2 : 4;
  if (buf.byteLength < 8 + lenBytes) throw new VectorFileError('truncated npy header length');
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = 8 + lenBytes + headerLen;
  if (buf.byteLength < dataStart) {
    throw new VectorFileError(
      `truncated npy header: needs ${headerLen} bytes, ${buf.byteLength - 8 - lenBytes} left`,
    );
  }
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(
    buf.subarray(8 + lenBytes, dataStart),
  );
  const { descr, shape } = parseNpyHeader(header);

  const reader = NPY_READERS[descr];
  if (reader === undefined) {
    throw new VectorFileError(
      `unsupported npy dtype ${descr}: expected one of ${Object.keys(NPY_READERS).join(', ')}`,
    );
  }
  const [rows = 0, cols = 0] = shape;
  const need = rows * cols * reader.size;
  const have = buf.byteLength - dataStart;
  if (have !== need) {
    const what = have < need ? 'truncated npy data' : 'trailing bytes after npy data';
    throw new VectorFileError(
      `${what}: shape (${rows}, ${cols}) of ${descr} needs ${need} bytes, file has ${have}`,
    );
  }
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = reader.get(view, dataStart + i * reader.size);
  return { shape: [rows, cols], data };
}

/** Extracts dtype and 2-D shape from the header dict; rejects Fortran order. */
function parseNpyHeader(header: string): { descr: string; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new VectorFileError(
      `bad npy header, expected descr, fortran_order and shape: ${header.trim()}`,
    );
  }
  if (fortran === 'True')
    throw new VectorFileError('fortran_order True is not supported: save the array in C order');
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  if (shape.length !== 2 || !shape.every((n) => Number.isInteger(n) && n >= 0)) {
    throw new VectorFileError(
      `expected a 2-D npy array (rows, dim), got shape (${shapeText.trim()})`,
    );
  }
  return { descr, shape };
}

/**
 * Writes a 2-D float32 array as `.npy` (format 1.0, or 2.0 if the header would not fit), with
 * the header padded so the data starts on a 64-byte boundary, as NumPy does.
 */
export function writeNpy(shape: readonly number[], data: Float32Array): Buffer {
  const [rows, cols] = shape;
  if (shape.length !== 2 || rows === undefined || cols === undefined || !(rows >= 0 && cols >= 0)) {
    throw new VectorFileError(`writeNpy needs a 2-D shape [rows, cols], got [${shape.join(', ')}]`);
  }
  if (rows * cols !== data.length) {
    throw new VectorFileError(`shape (${rows}, ${cols}) does not match data length ${data.length}`);
  }
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`;
  const major = dict.length + 1 + 10 <= 0xffff ? 1 : 2;
  const prefix = major === 1 ? 10 : 12;
  const padded =
    dict.padEnd(Math.ceil((prefix + dict.length + 1) / 64) * 64 - prefix - 1, ' ') + '\n';
  const out = Buffer.alloc(prefix + padded.length + 4 * data.length);
  out.set(NPY_MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  if (major === 1) out.writeUInt16LE(padded.length, 8);
  else out.writeUInt32LE(padded.length, 8);
  out.write(padded, prefix, 'latin1');
  const view = viewOf(out);
  const start = prefix + padded.length;
  for (let i = 0; i < data.length; i++) view.setFloat32(start + 4 * i, data[i] ?? 0, true);
  return out;
}

/** Decodes an IEEE 754 half-precision value. */
function float16(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function viewOf(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}
