/**
 * `memory` section of the replication bench (issue 10): the resident memory of a follower
 * process serving the ship collection (one view thread, the default), after its load and
 * after minutes of queries and writes, against the same HNSW index loaded once by a bare
 * Node process with raw hnswlib-node. Both are read from /proc (VmRSS, RssAnon, VmHWM).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { extractSegmentGraph } from '../../../index/index.ts';
import type { Primary } from '../../../sync/index.ts';
import type { NodeHandle } from '../../../dev/harness/cluster.ts';
import { generateClustered } from '../../../dev/harness/datasets.ts';
import { TEST_KEYS, TEST_TOKEN_SECRET, http } from '../../../dev/harness/services.ts';
import { makeTempDir } from '../../../dev/harness/tmp.ts';
import { round } from '../../lib.ts';

type Cleanup = () => Promise<unknown>;
const SETTLE_MS = 15_000;
const log = (msg: string): void => console.log(`replication: ${msg}`);
const runScript = fileURLToPath(new URL('../../../services/start.mjs', import.meta.url));

export interface ProcessMemory {
  rss_mb: number;
  anon_mb: number;
  hwm_mb: number;
}

export interface MemoryResult {
  n: number;
  dim: number;
  search_threads: number;
  duration_s: number;
  queries: number;
  writes_points: number;
  seals: number;
  /** Right when it served every point, and 15 s later (settled). */
  follower_at_load: ProcessMemory;
  follower_after_load: ProcessMemory;
  /** Right when the traffic ended, and 15 s later (settled); the peak sample during it. */
  follower_at_traffic_end: ProcessMemory;
  follower_after_load_and_traffic: ProcessMemory;
  follower_peak_sample: ProcessMemory;
  raw_after_load: ProcessMemory;
  raw_after_searches: ProcessMemory;
  /** The figure: the follower's larger settled RSS over the raw process's larger RSS. */
  follower_rss_mb: number;
  raw_rss_mb: number;
  ratio: number;
  anon_ratio: number;
}

/** VmRSS, RssAnon (the native heap and every isolate's heap) and VmHWM of a process, in MB. */
export function processMemory(pid: number): ProcessMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return {
    rss_mb: round(kb('VmRSS') / 1024, 1),
    anon_mb: round(kb('RssAnon') / 1024, 1),
    hwm_mb: round(kb('VmHWM') / 1024, 1),
  };
}

function lines(proc: ChildProcess, on: (e: Record<string, unknown>) => void): void {
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    try {
      on(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not an event
    }
  });
}

async function startFollowerProcess(
  natsUrl: string,
  dataDir: string,
): Promise<{ proc: ChildProcess; url: string; stop: () => Promise<void> }> {
  const config = join(dataDir, 'follower.json');
  await writeFile(
    config,
    JSON.stringify({
      role: 'follower',
      region: 'eu-west',
      node: 'f-mem',
      http: { host: '127.0.0.1', port: 0 },
      dataDir: join(dataDir, 'data'),
      nats: { servers: natsUrl },
      auth: { keys: [{ key: TEST_KEYS.read, role: 'read' }] },
      tokenSecret: TEST_TOKEN_SECRET,
      log: { level: 'warn' },
    }),
  );
  const proc = spawn(process.execPath, [runScript, '--config', config], {
    env: process.env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    lines(proc, (e) => e['event'] === 'ready' && resolve(e['url'] as string));
    proc.once('exit', (code) => reject(new Error(`follower exited (${code}) before ready`)));
  });
  const stop = async () => {
    if (proc.exitCode !== null) return;
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  };
  return { proc, url, stop };
}

/** A bare Node process: raw hnswlib-node loads the graph, then searches for `searchS` s. */
async function rawProcess(
  graphPath: string,
  dim: number,
  searchS: number,
): Promise<{ afterLoad: ProcessMemory; afterSearches: ProcessMemory; qps: number }> {
  const hnswlib = createRequire(import.meta.url).resolve('hnswlib-node');
  const src = `
    const { HierarchicalNSW } = require(${JSON.stringify(hnswlib)});
    const idx = new HierarchicalNSW('cosine', ${dim});
    idx.readIndexSync(${JSON.stringify(graphPath)});
    idx.setEf(64);
    console.log(JSON.stringify({ event: 'loaded' }));
    process.stdin.once('data', () => {
      const q = Array.from({ length: ${dim} }, () => Math.random() - 0.5);
      let n = 0; const end = Date.now() + ${searchS * 1000};
      while (Date.now() < end) { q[n % ${dim}] = Math.random() - 0.5; idx.searchKnn(q, 10); n++; }
      console.log(JSON.stringify({ event: 'searched', qps: n / ${searchS} }));
      process.stdin.once('data', () => process.exit(0));
    });`;
  const proc = spawn(process.execPath, ['-e', src], { stdio: ['pipe', 'pipe', 'inherit'] });
  const events: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  lines(proc, (e) => {
    events.push(e);
    for (const w of waiters.splice(0)) w();
  });
  const until = async (event: string) => {
    while (!events.some((e) => e['event'] === event))
      await new Promise<void>((r) => waiters.push(r));
    return events.find((e) => e['event'] === event)!;
  };
  await until('loaded');
  const afterLoad = processMemory(proc.pid!);
  proc.stdin!.write('go\n');
  const searched = await until('searched');
  const afterSearches = processMemory(proc.pid!);
  proc.stdin!.write('end\n');
  await new Promise((r) => proc.once('exit', r));
  return { afterLoad, afterSearches, qps: Math.round(searched['qps'] as number) };
}

function larger(a: ProcessMemory, b: ProcessMemory): ProcessMemory {
  return a.rss_mb >= b.rss_mb ? a : b;
}

export async function memorySection(
  o: {
    primary: NodeHandle<Primary>;
    natsUrl: string;
    n: number;
    dim: number;
    segmentPath: string;
    digest: string;
    quick: boolean;
  },
  cleanups: Cleanup[],
): Promise<MemoryResult> {
  const durationS = o.quick ? 30 : 300;
  const sealEveryS = o.quick ? 10 : 60;
  const dir = await makeTempDir('bench-memory');
  cleanups.push(() => dir.cleanup());
  const p = o.primary.node;

  log(`memory: a follower process (1 view thread) joins the ${o.n} x ${o.dim} collection`);
  const f = await startFollowerProcess(o.natsUrl, dir.path);
  cleanups.push(f.stop);
  const points = async () =>
    (await http(`${f.url}/v1/collections/ship`, 'GET', undefined, TEST_KEYS.read)).body
      .generations[0].points as number;
  while ((await points()) < o.n) await new Promise((r) => setTimeout(r, 500));
  const loadedAt = processMemory(f.proc.pid!);
  // What a node holds, measured once it has settled: idle index workers have ended and
  // V8 has collected the fetch's buffers (its memory reducer runs when a thread goes idle).
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const afterLoad = processMemory(f.proc.pid!);
  log(`memory: after load ${JSON.stringify(afterLoad)}`);

  log(
    `memory: ${durationS} s of queries (2 clients) and writes (50 points/s, a seal every ${sealEveryS} s)`,
  );
  const data = generateClustered({ n: 2_000, dim: o.dim, seed: 77 });
  const vec = (i: number) =>
    Array.from(data.subarray((i % 2_000) * o.dim, ((i % 2_000) + 1) * o.dim));
  const end = Date.now() + durationS * 1000;
  let queries = 0;
  let written = 0;
  let seals = 0;
  let peak = afterLoad;
  const client = async (c: number) => {
    for (let i = c; Date.now() < end; i += 2) {
      const r = await http(
        `${f.url}/v1/collections/ship/query`,
        'POST',
        { vector: vec(i), k: 10 },
        TEST_KEYS.read,
      );
      if (r.status !== 200) throw new Error(`memory: query answered ${r.status}`);
      queries++;
    }
  };
  const writer = async () => {
    let nextSeal = Date.now() + sealEveryS * 1000;
    for (let i = 0; Date.now() < end; i++) {
      // New ids, and every fourth write overwrites a sealed point.
      const batch = Array.from({ length: 10 }, (_, j) => ({
        id: (i + j) % 4 === 0 ? `s${(i * 10 + j) % o.n}` : `m${i * 10 + j}`,
        vector: vec(i * 10 + j),
      }));
      await p.upsert('ship', batch, { ack: 'async' });
      written += batch.length;
      if (Date.now() >= nextSeal) {
        await p.seal('ship');
        seals++;
        nextSeal = Date.now() + sealEveryS * 1000;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const sampler = async () => {
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, 5_000));
      peak = larger(peak, processMemory(f.proc.pid!));
    }
  };
  await Promise.all([client(0), client(1), writer(), sampler()]);
  const trafficEnd = processMemory(f.proc.pid!);
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const afterTraffic = processMemory(f.proc.pid!);
  log(`memory: after traffic ${JSON.stringify(afterTraffic)} (peak sample ${peak.rss_mb} MB)`);
  await f.stop();

  log('memory: the same graph loaded by raw hnswlib-node in a bare process');
  const graph = join(dir.path, 'ship.hnsw');
  await extractSegmentGraph(o.segmentPath, o.digest, graph);
  const raw = await rawProcess(graph, o.dim, o.quick ? 10 : 30);
  log(
    `memory: raw after load ${JSON.stringify(raw.afterLoad)}, after searches ${JSON.stringify(raw.afterSearches)}`,
  );

  const follower = larger(afterLoad, afterTraffic);
  const rawMax = larger(raw.afterLoad, raw.afterSearches);
  return {
    n: o.n,
    dim: o.dim,
    search_threads: 1,
    duration_s: durationS,
    queries,
    writes_points: written,
    seals,
    follower_at_load: loadedAt,
    follower_after_load: afterLoad,
    follower_at_traffic_end: trafficEnd,
    follower_after_load_and_traffic: afterTraffic,
    follower_peak_sample: peak,
    raw_after_load: raw.afterLoad,
    raw_after_searches: raw.afterSearches,
    follower_rss_mb: follower.rss_mb,
    raw_rss_mb: rawMax.rss_mb,
    ratio: round(follower.rss_mb / rawMax.rss_mb, 3),
    anon_ratio: round(follower.anon_mb / rawMax.anon_mb, 3),
  };
}
