import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useReplicationCluster } from '../harness/replication-fixture.ts';
import { generateClustered } from '../../dev/harness/datasets.ts';
import { TEST_KEYS, TEST_TOKEN_SECRET, http } from '../../dev/harness/services.ts';
import { makeTempDir } from '../../dev/harness/tmp.ts';
import type { TempDir } from '../../dev/harness/tmp.ts';

const RUNS = 20;
const N = 15_000;
const DIM = 64;
const run = fileURLToPath(new URL('../../services/start.mjs', import.meta.url));

let dir: TempDir;

const fx = useReplicationCluster();

beforeAll(async () => {
  dir = await makeTempDir('sigterm');
  // One segment of about 9 MB: its apply (fetch, verify, load on the view thread,
  // transaction, swap) takes long enough for a signal to land in every stage.
  await fx.primary.node.createCollection({
    name: 'big',
    dim: DIM,
    metric: 'l2',
    model: 'm@1',
    hnsw: { M: 8, efConstruction: 40 },
  });
  const data = generateClustered({ n: N, dim: DIM, seed: 21 });
  for (let i = 0; i < N; i += 1_000) {
    await fx.primary.node.upsert(
      'big',
      Array.from({ length: 1_000 }, (_, j) => ({
        id: `b${i + j}`,
        vector: data.subarray((i + j) * DIM, (i + j + 1) * DIM),
      })),
    );
  }
  await fx.primary.node.seal('big');
}, 120_000);

afterAll(async () => {
  await dir?.cleanup();
});

interface Started {
  proc: ChildProcess;
  events: Array<Record<string, unknown>>;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: string | null }>;
  next: (event: string) => Promise<Record<string, unknown>>;
}

/** `services/start.mjs` (services/run.ts, bundled) as a follower process, on the test's data directory. */
async function follower(): Promise<Started> {
  const config = join(dir.path, 'follower.json');
  await writeFile(
    config,
    JSON.stringify({
      role: 'follower',
      region: 'eu-west',
      node: 'f1',
      http: { host: '127.0.0.1', port: 0 },
      dataDir: join(dir.path, 'data'),
      nats: { servers: fx.nats.url },
      auth: { keys: [{ key: TEST_KEYS.read, role: 'read' }] },
      tokenSecret: TEST_TOKEN_SECRET,
      heartbeatMs: 200,
      log: { level: 'info' },
    }),
  );
  const proc = spawn(process.execPath, [run, '--config', config], {
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: Array<Record<string, unknown>> = [];
  const waiters: Array<{ event: string; resolve: (e: Record<string, unknown>) => void }> = [];
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-8_000)));
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    events.push(e);
    for (const w of [...waiters]) {
      if (e['event'] === w.event || e['msg'] === w.event) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const next = (event: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const seen = events.find((e) => e['event'] === event || e['msg'] === event);
      if (seen) return resolve(seen);
      waiters.push({ event, resolve });
      void exited.then((x) => reject(new Error(`exited (${x.code ?? x.signal}) first: ${err}`)));
    });
  return { proc, events, stderr: () => err, exited, next };
}

describe('a follower process stopped with SIGTERM', () => {
  it(`exits cleanly at ${RUNS} random points of a segment apply, and starts cleanly after`, async () => {
    let duringApply = 0;
    for (let i = 0; i < RUNS; i++) {
      // Even runs start from an empty data dir (fetch, verify, load, commit); odd runs
      // recover the applied segment from disk (verify, load).
      if (i % 2 === 0) await rm(join(dir.path, 'data'), { recursive: true, force: true });
      const f = await follower();
      await f.next('starting'); // signal handlers are in place from here on
      await new Promise((r) => setTimeout(r, Math.random() * 800));
      const applied = f.events.some(
        (e) => e['msg'] === 'manifest applied' || e['event'] === 'ready',
      );
      if (!applied) duringApply++;
      f.proc.kill('SIGTERM');
      const exit = await f.exited;
      expect(exit, `run ${i}: ${f.stderr()}`).toEqual({ code: 0, signal: null });
      expect(f.stderr()).not.toMatch(/FATAL|Abort|napi/);

      // The next run's start is this one's restart; every fourth, and the last, must also
      // reach ready and serve the whole segment.
      if (i % 4 !== 3 && i !== RUNS - 1) continue;
      const again = await follower();
      const ready = await again.next('ready');
      const url = ready['url'] as string;
      const body = await http(`${url}/v1/collections/big`, 'GET', undefined, TEST_KEYS.read);
      expect(body.body.generations[0], `run ${i}`).toMatchObject({ version: 1, points: N });
      again.proc.kill('SIGTERM');
      expect(await again.exited).toEqual({ code: 0, signal: null });
    }
    // The signals did land while the segment was being applied or recovered.
    expect(duringApply).toBeGreaterThanOrEqual(RUNS / 4);
  }, 600_000);
});
