/**
 * Reads the vector files `meridian push` accepts into columns: Arrow IPC streams
 * (`.arrow`), TEXMEX `.fvecs`, NumPy `.npy` (2-D float) and JSON Lines (`.jsonl`, one
 * `{id, vector, metadata}` per line). Files are read whole; rows become Arrow batches with
 * {@link encodeBatch}. Bad input is a {@link CliInputError} naming the file and where.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { decodePointColumns, encodePointColumns, readFvecs, readNpy } from '../../index/index.ts';
import type { Metadata } from '../../index/index.ts';
import { CliInputError } from './errors.ts';

export const FileFormats = ['arrow', 'fvecs', 'npy', 'jsonl'] as const;
export type FileFormat = (typeof FileFormats)[number];

/** Points of a file, column-wise. */
export interface PointRows {
  format: FileFormat;
  dim: number;
  count: number;
  ids: string[];
  /** count × dim, row-major. */
  vectors: Float32Array;
  metadata: Array<Metadata | null>;
}

/** The format a file name says, or null. */
export function formatOf(path: string): FileFormat | null {
  const ext = extname(path).toLowerCase();
  if (ext === '.arrow' || ext === '.arrows' || ext === '.ipc') return 'arrow';
  if (ext === '.fvecs') return 'fvecs';
  if (ext === '.npy') return 'npy';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  return null;
}

/**
 * Reads `path`. `idPrefix` names rows of files without ids (`${idPrefix}${row}`: fvecs,
 * npy, JSONL lines without `id`). An Arrow stream is checked against `arrowDim`, which the
 * caller must know (the collection's dim).
 */
export async function readPointFile(
  path: string,
  o: { idPrefix: string; arrowDim?: number },
): Promise<PointRows> {
  const format = formatOf(path);
  if (!format) {
    throw new CliInputError(`${path}: unknown file type; expected .arrow, .fvecs, .npy or .jsonl`);
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new CliInputError(`cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    return parse(format, bytes, o);
  } catch (cause) {
    if (cause instanceof CliInputError) throw cause;
    throw new CliInputError(`${path}: ${(cause as Error).message}`, { cause });
  }
}

function parse(
  format: FileFormat,
  bytes: Buffer,
  o: { idPrefix: string; arrowDim?: number },
): PointRows {
  const named = (count: number) => Array.from({ length: count }, (_, i) => `${o.idPrefix}${i}`);
  switch (format) {
    case 'fvecs': {
      const f = readFvecs(bytes);
      return rows(format, f.dim, named(f.count), f.data, new Array(f.count).fill(null));
    }
    case 'npy': {
      const n = readNpy(bytes);
      const [count = 0, dim = 0] = n.shape;
      return rows(format, dim, named(count), n.data, new Array(count).fill(null));
    }
    case 'arrow': {
      if (o.arrowDim === undefined)
        throw new CliInputError('the dim of an Arrow file must be known');
      const cols = decodePointColumns(bytes, o.arrowDim);
      return rows(format, o.arrowDim, cols.ids, cols.vectors, cols.metadata);
    }
    case 'jsonl':
      return parseJsonl(bytes.toString('utf8'), o.idPrefix);
  }
}

function rows(
  format: FileFormat,
  dim: number,
  ids: string[],
  vectors: Float32Array,
  metadata: Array<Metadata | null>,
): PointRows {
  return { format, dim, count: ids.length, ids, vectors, metadata };
}

function parseJsonl(text: string, idPrefix: string): PointRows {
  const ids: string[] = [];
  const vecs: number[][] = [];
  const metadata: Array<Metadata | null> = [];
  let dim = -1;
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === '') continue;
    const where = `line ${n + 1}`;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      throw new CliInputError(`${where} is not JSON`);
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
      throw new CliInputError(`${where} is not a JSON object`);
    const { id, vector, metadata: meta } = obj as Record<string, unknown>;
    if (!Array.isArray(vector) || !vector.every((x) => typeof x === 'number'))
      throw new CliInputError(`${where}: "vector" must be an array of numbers`);
    if (dim === -1) dim = vector.length;
    if (vector.length !== dim)
      throw new CliInputError(`${where}: vector has ${vector.length} values, line 1 has ${dim}`);
    if (id !== undefined && typeof id !== 'string' && typeof id !== 'number')
      throw new CliInputError(`${where}: "id" must be a string or a number`);
    if (meta !== undefined && meta !== null && (typeof meta !== 'object' || Array.isArray(meta)))
      throw new CliInputError(`${where}: "metadata" must be an object or null`);
    ids.push(id === undefined ? `${idPrefix}${ids.length}` : String(id));
    vecs.push(vector as number[]);
    metadata.push((meta ?? null) as Metadata | null);
  }
  const d = Math.max(dim, 0);
  const vectors = new Float32Array(ids.length * d);
  vecs.forEach((v, i) => vectors.set(v, i * d));
  return rows('jsonl', d, ids, vectors, metadata);
}

/** Rows [start, end) as an Arrow IPC stream, the upload format of every file type. */
export function encodeBatch(p: PointRows, start: number, end: number): Uint8Array {
  return encodePointColumns(
    {
      ids: p.ids.slice(start, end),
      vectors: p.vectors.subarray(start * p.dim, end * p.dim),
      metadata: p.metadata.slice(start, end),
      seqs: null,
    },
    p.dim,
  );
}

/** Row `i`'s vector. */
export function rowVector(p: PointRows, i: number): Float32Array {
  if (!Number.isInteger(i) || i < 0 || i >= p.count)
    throw new CliInputError(`row ${i} is out of range: the file has ${p.count} rows`);
  return p.vectors.subarray(i * p.dim, (i + 1) * p.dim);
}
