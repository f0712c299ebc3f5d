/**
 * Child process of thread-stop.test.ts: starts and stops two view threads `rounds` times,
 * each with a segment load in flight (hash and unpack on the index workers, then hnswlib's
 * asynchronous readIndex on the thread) and sometimes an HNSW build, and closes them at a
 * random moment. Prints one JSON line and exits 0
 * — or the whole process aborts (SIGABRT), which is the bug this pins (issue 10).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ThreadViewHost, buildSegment, closeIndexWorkers } from '../../index/index.ts';
import type { SeqPoint } from '../../index/index.ts';

const rounds = Number(process.argv[2] ?? 200);
const seed = Number(process.argv[3] ?? 1);
const dim = 64;
let s = seed >>> 0;
const random = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const makePoints = (n: number, d: number): SeqPoint[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `p${i}`,
    seq: i + 1,
    vector: Float32Array.from({ length: d }, () => random() * 2 - 1),
    metadata: null,
  }));

const dir = await mkdtemp(join(tmpdir(), 'meridian-thread-stop-'));
const hnsw = { M: 8, efConstruction: 40, efSearch: 32 };
const opts = { collection: 'c', generation: 'g', dim, metric: 'l2' as const, hnsw, dir };
const big = await buildSegment(makePoints(20_000, dim), opts);
const small = makePoints(1_500, dim);

const expect = { collection: 'c', generation: 'g', dim };
let threadStarts = 0;
let loadInFlightAtClose = 0;
let buildInFlightAtClose = 0;
for (let i = 0; i < rounds; i++) {
  // Two threads a round, each holding one view that loads the segment.
  const host = new ThreadViewHost(2, { scratchDir: join(dir, `scratch-${i % 4}`) });
  threadStarts += 2;
  let loading = 0;
  const loads = [0, 1].map(() => {
    const view = host.open(dim, 'l2');
    loading++;
    return view
      .prepare([{ digest: big.digest, path: big.path }], expect)
      .then((p) => view.commit(p, [], 20_000))
      .catch(() => undefined)
      .finally(() => loading--);
  });
  let building = false;
  if (i % 3 === 0) {
    building = true;
    void buildSegment(
      small.map((p) => ({ ...p, seq: p.seq + i * 10_000 })),
      opts,
    )
      .catch(() => undefined)
      .finally(() => (building = false));
  }
  await sleep(random() * 450);
  if (loading > 0) loadInFlightAtClose++;
  if (building) buildInFlightAtClose++;
  await host.close();
  if (i % 10 === 9) await closeIndexWorkers(); // the pool, by message, with builds in flight
  await Promise.all(loads);
}
await closeIndexWorkers();
await rm(dir, { recursive: true, force: true });
process.stdout.write(
  `${JSON.stringify({ rounds, threadStarts, loadInFlightAtClose, buildInFlightAtClose })}\n`,
);
