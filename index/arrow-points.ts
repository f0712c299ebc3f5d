import {
  DataType,
  Field,
  Precision,
  FixedSizeList,
  Float32,
  Table,
  Utf8,
  makeData,
  makeVector,
  tableFromIPC,
  tableToIPC,
  vectorFromArray,
} from 'apache-arrow';
import type { Vector } from 'apache-arrow';
import { IndexError } from './errors.ts';
import type { Metadata } from './types.ts';

/**
 * Points as Arrow columns: `id` utf8, `vector` FixedSizeList<Float32>[dim], `metadata`
 * utf8 JSON (nullable) and, inside segments, `seq` float64 (the WAL seq of each point's
 * write; JetStream seqs stay below 2^53). The same reader checks the data section of a
 * segment and an Arrow IPC upload from a pipeline.
 */
export interface PointColumns {
  ids: string[];
  /** count × dim, row-major. */
  vectors: Float32Array;
  metadata: Array<Metadata | null>;
  /** Present for segment data; absent for uploads. */
  seqs: Float64Array | null;
}

export function encodePointColumns(cols: PointColumns, dim: number): Uint8Array {
  const n = cols.ids.length;
  const vecType = new FixedSizeList(dim, new Field('item', new Float32(), false));
  const vector = makeVector(
    makeData({
      type: vecType,
      length: n,
      nullCount: 0,
      child: makeData({ type: new Float32(), length: n * dim, data: cols.vectors }),
    }),
  );
  const columns: Record<string, Vector> = {
    id: vectorFromArray(cols.ids, new Utf8()),
    vector,
    metadata: vectorFromArray(
      cols.metadata.map((m) => (m === null ? null : JSON.stringify(m))),
      new Utf8(),
    ),
  };
  if (cols.seqs) columns.seq = makeVector(cols.seqs);
  return tableToIPC(new Table(columns), 'stream');
}

/**
 * Reads points from an Arrow IPC stream and checks them against `dim`: an `id` utf8
 * column without nulls, a `vector` FixedSizeList<Float32>[dim] column without nulls,
 * an optional `metadata` utf8 column of JSON objects. Throws `invalid_point` (for
 * uploads) or the given code (for segment data) naming what is wrong.
 */
export function decodePointColumns(
  bytes: Uint8Array,
  /** The dimension, or how to choose it from the stream's schema metadata (e.g. its `model`). */
  dimOf: number | ((schemaMetadata: ReadonlyMap<string, string>) => number),
  opts: {
    requireSeq?: boolean;
    errorCode?: 'invalid_point' | 'segment_corrupt';
    /** false: check the vector column but do not copy it out (`vectors` is then empty). */
    withVectors?: boolean;
  } = {},
): PointColumns {
  const code = opts.errorCode ?? 'invalid_point';
  const fail = (msg: string, cause?: unknown): never => {
    throw new IndexError(code, `arrow: ${msg}`, { cause });
  };
  let table: Table;
  try {
    table = tableFromIPC(bytes);
  } catch (cause) {
    return fail('not a readable Arrow IPC stream', cause);
  }
  const dim = typeof dimOf === 'number' ? dimOf : dimOf(table.schema.metadata);
  const n = table.numRows;
  const idCol = table.getChild('id');
  const vecCol = table.getChild('vector');
  if (!idCol || !DataType.isUtf8(idCol.type)) fail('column "id" must be utf8');
  const item = vecCol?.type.children?.[0]?.type;
  if (
    !vecCol ||
    !DataType.isFixedSizeList(vecCol.type) ||
    !DataType.isFloat(item) ||
    (item as Float32).precision !== Precision.SINGLE
  ) {
    fail(`column "vector" must be FixedSizeList<Float32>[${dim}]`);
  }
  if ((vecCol!.type as FixedSizeList).listSize !== dim) {
    fail(
      `column "vector" has ${(vecCol!.type as FixedSizeList).listSize} dimensions, expected ${dim}`,
    );
  }
  if (idCol!.nullCount > 0) fail('column "id" has nulls');
  if (vecCol!.nullCount > 0) fail('column "vector" has nulls');

  const copyVectors = opts.withVectors ?? true;
  const vectors = new Float32Array(copyVectors ? n * dim : 0);
  let row = 0;
  for (const chunk of copyVectors ? vecCol!.data : []) {
    const child = chunk.children[0]!;
    const values = child.values as Float32Array;
    const start = child.offset + chunk.offset * dim;
    vectors.set(values.subarray(start, start + chunk.length * dim), row * dim);
    row += chunk.length;
  }

  const ids = idCol!.toArray() as string[];
  const metaCol = table.getChild('metadata');
  const metadata: Array<Metadata | null> = new Array(n).fill(null);
  if (metaCol) {
    if (!DataType.isUtf8(metaCol.type)) fail('column "metadata" must be utf8 JSON');
    for (let i = 0; i < n; i++) {
      const s = metaCol.get(i) as string | null;
      if (s === null) continue;
      let m: unknown;
      try {
        m = JSON.parse(s);
      } catch (cause) {
        fail(`metadata of row ${i} is not JSON`, cause);
      }
      if (m === null || typeof m !== 'object' || Array.isArray(m)) {
        fail(`metadata of row ${i} is not a JSON object`);
      }
      metadata[i] = m as Metadata;
    }
  }

  let seqs: Float64Array | null = null;
  const seqCol = table.getChild('seq');
  if (seqCol) {
    if (!DataType.isFloat(seqCol.type) || seqCol.type.precision !== Precision.DOUBLE) {
      fail('column "seq" must be float64');
    }
    seqs = Float64Array.from(seqCol.toArray() as Float64Array);
  } else if (opts.requireSeq) {
    fail('column "seq" is missing');
  }
  return { ids: Array.from(ids), vectors, metadata, seqs };
}
