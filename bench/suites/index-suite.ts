/**
 * `npm run bench -- index`: recall and query speed of HNSW segments on the real
 * datasets (side by side with raw hnswlib on the same graph parameters), and the cost
 * of building a segment against loading + verifying it (what a follower does instead).
 */
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtemp } from 'node:fs/promises';
import hnswlib from 'hnswlib-node';
import {
  buildSegment,
  closeIndexWorkers,
  defaultHnswParams,
  loadSegment,
} from '../../index/index.ts';
import type { Segment } from '../../index/index.ts';
import { generateClustered, loadRecallDatasets } from '../../dev/harness/datasets.ts';
import type { Dataset } from '../../dev/harness/datasets.ts';
import { latencySummary, machineInfo, printTable, round, writeResult } from '../lib.ts';
import type { BenchFlags } from '../lib.ts';

interface DatasetRow {
  name: string;
  n: number;
  dim: number;
  metric: string;
  recall_at_10: number;
  qps: number;
  p50_ms: number;
  p99_ms: number;
  raw_hnswlib_qps: number;
  ratio_qps_over_raw: number;
}

function queriesOf(ds: Dataset, rounds: number): Float32Array[] {
  const qs: Float32Array[] = [];
  for (let r = 0; r < rounds; r++) {
    for (let q = 0; q < ds.queryCount; q++)
      qs.push(ds.queries.subarray(q * ds.dim, (q + 1) * ds.dim));
  }
  return qs;
}

async function datasetRow(ds: Dataset, dir: string, quick: boolean): Promise<DatasetRow> {
  const points = Array.from({ length: ds.baseCount }, (_, i) => ({
    id: String(i),
    seq: i + 1,
    vector: ds.base.slice(i * ds.dim, (i + 1) * ds.dim),
    metadata: null,
  }));
  const built = await buildSegment(points, {
    collection: ds.name,
    generation: 'bench@1',
    dim: ds.dim,
    metric: ds.metric,
    hnsw: defaultHnswParams,
    dir,
  });
  const { segment } = await loadSegment(built.path, { expectedDigest: built.digest });

  // Raw hnswlib with the same parameters, built in this process: the ceiling we compare to.
  const raw = new hnswlib.HierarchicalNSW(ds.metric, ds.dim);
  raw.initIndex(ds.baseCount, defaultHnswParams.M, defaultHnswParams.efConstruction, 100);
  for (const p of points) raw.addPoint(Array.from(p.vector), Number(p.id));
  raw.setEf(defaultHnswParams.efSearch);

  let hits = 0;
  for (let q = 0; q < ds.queryCount; q++) {
    const truth = new Set(Array.from(ds.groundTruth.subarray(q * ds.gtK, q * ds.gtK + 10)));
    const res = segment.search(ds.queries.subarray(q * ds.dim, (q + 1) * ds.dim), { k: 10 });
    for (const h of res) if (truth.has(Number(h.id))) hits++;
  }
  const rounds = Math.max(1, Math.ceil((quick ? 2000 : 10000) / ds.queryCount));
  const qs = queriesOf(ds, rounds);
  const ours = timeQueries(qs, (q) => segment.search(q, { k: 10 }).length);
  const theirs = timeQueries(qs, (q) => raw.searchKnn(Array.from(q), 10).neighbors.length);
  return {
    name: ds.name,
    n: ds.baseCount,
    dim: ds.dim,
    metric: ds.metric,
    recall_at_10: round(hits / (ds.queryCount * 10), 4),
    qps: Math.round(ours.qps),
    ...latencySummary(ours.samples),
    raw_hnswlib_qps: Math.round(theirs.qps),
    ratio_qps_over_raw: round(ours.qps / theirs.qps, 3),
  };
}

function timeQueries(qs: Float32Array[], fn: (q: Float32Array) => number) {
  for (const q of qs.slice(0, 200)) fn(q); // warm-up
  const samples: number[] = [];
  const t0 = performance.now();
  for (const q of qs) {
    const s = performance.now();
    fn(q);
    samples.push(performance.now() - s);
  }
  return { qps: qs.length / ((performance.now() - t0) / 1000), samples };
}

async function synthetic(dir: string, quick: boolean) {
  const n = quick ? 20_000 : 100_000;
  const dim = 768;
  console.log(`synthetic: generating ${n} x ${dim} clustered vectors`);
  const data = generateClustered({ n, dim, seed: 42 });
  const points = Array.from({ length: n }, (_, i) => ({
    id: `s${i}`,
    seq: i + 1,
    vector: data.subarray(i * dim, (i + 1) * dim),
    metadata: { cluster: i % 16 },
  }));
  console.log('synthetic: building the segment in a worker thread');
  const t0 = performance.now();
  const built = await buildSegment(points, {
    collection: 'synthetic',
    generation: 'bench@1',
    dim,
    metric: 'cosine',
    hnsw: defaultHnswParams,
    dir,
  });
  const buildMs = performance.now() - t0;
  console.log('synthetic: loading and verifying it');
  let seg: Segment | null = null;
  const loads: Array<{ verifyMs: number; loadMs: number }> = [];
  for (let i = 0; i < 3; i++) {
    const r = await loadSegment(built.path, { expectedDigest: built.digest });
    seg = r.segment;
    loads.push(r.timings);
  }
  loads.sort((a, b) => a.verifyMs + a.loadMs - (b.verifyMs + b.loadMs));
  const median = loads[1]!;
  const loadTotal = median.verifyMs + median.loadMs;
  if (seg!.count !== n) throw new Error('loaded segment lost points');
  return {
    n,
    dim,
    build_ms: Math.round(buildMs),
    hnsw_build_ms: Math.round(built.buildMs),
    segment_bytes: built.bytes,
    verify_ms: Math.round(median.verifyMs),
    load_ms: Math.round(loadTotal),
    readindex_ms: Math.round(median.loadMs),
    ratio_build_over_load: round(buildMs / loadTotal, 1),
  };
}

export async function run(flags: BenchFlags): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'meridian-bench-index-'));
  try {
    const datasets: DatasetRow[] = [];
    for (const ds of loadRecallDatasets()) {
      console.log(`dataset ${ds.name}: ${ds.baseCount} x ${ds.dim} ${ds.metric}`);
      datasets.push(await datasetRow(ds, dir, flags.quick));
    }
    printTable('datasets (k=10, default parameters, one thread)', datasets);
    const syn = await synthetic(dir, flags.quick);
    printTable('synthetic segment: build vs load+verify', [syn]);
    await writeResult(flags.out, {
      suite: 'index',
      quick: flags.quick,
      machine: await machineInfo(),
      params: defaultHnswParams,
      datasets,
      synthetic: syn,
    });
  } finally {
    await closeIndexWorkers();
    await rm(dir, { recursive: true, force: true });
  }
}
