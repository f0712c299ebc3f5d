import { execFile, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePointColumns, writeFvecs, writeNpy } from '../../index/index.ts';
import {
  PRIMARY_FOLLOWER_ROUTER,
  TEST_KEYS,
  TEST_TOKEN_SECRET,
  http,
} from '../../dev/harness/services.ts';
import { useServiceCluster } from '../../test/harness/service-fixture.ts';
import { makeTempDir } from '../../dev/harness/tmp.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';
import type { TempDir } from '../../dev/harness/tmp.ts';

const BIN = fileURLToPath(new URL('./bin.mjs', import.meta.url));
const run = promisify(execFile);

const fx = useServiceCluster(['us-east', 'eu-west'], PRIMARY_FOLLOWER_ROUTER);
let tmp: TempDir;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  tmp = await makeTempDir('cli');
  env = {
    PATH: process.env.PATH,
    MERIDIAN_URL: fx.cluster.node('r1').url,
    MERIDIAN_API_KEY: TEST_KEYS.admin,
  };
});

afterAll(async () => {
  await tmp?.cleanup();
});

/** Runs `meridian ...args` as a child process (async: the cluster answers from this process). */
async function meridian(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { env, timeout: 20_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Rows of dim 4 whose row i points mostly along axis i % 4, scaled by i. */
function vectors(rows: number): Float32Array {
  const data = new Float32Array(rows * 4);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < 4; j++) data[i * 4 + j] = j === i % 4 ? i + 1 : 0.01 * (i + j);
  }
  return data;
}

function tokenOf(stdout: string): string {
  const m = /^token (\S+)$/m.exec(stdout);
  if (!m) throw new Error(`no token in:\n${stdout}`);
  return m[1]!;
}

describe('meridian CLI', () => {
  it('pushes an .fvecs file in batches with --create, then queries a row of it', async () => {
    const file = join(tmp.path, 'vecs.fvecs');
    await writeFile(file, writeFvecs(4, vectors(20)));
    const push = await meridian(
      'push',
      file,
      '--collection',
      'vecs',
      '--create',
      '--metric',
      'l2',
      '--model',
      'm@1',
      '--batch',
      '7',
      '--id-prefix',
      'v-',
      '--ack',
      'semi-sync',
    );
    expect(push.code, push.stderr).toBe(0);
    expect(push.stdout).toMatch(/pushed 20 points in 3 batches, .* last seq \d+/);
    // stderr is a pipe here: plain progress lines, no carriage returns
    expect(push.stderr).toContain('push vecs: 20/20 points  100%');
    expect(push.stderr).not.toContain('\r');

    const q = await meridian(
      'query',
      '--collection',
      'vecs',
      '--id-of-row',
      '5',
      '--file',
      file,
      '--k',
      '3',
      '--token',
      tokenOf(push.stdout),
    );
    expect(q.code, q.stderr).toBe(0);
    expect(q.stdout).toMatch(/^1 +v-5 +0 /m);
    expect(q.stdout).toMatch(
      /served by eu-west\/f1 .*appliedSeq \d+ +stalenessMs \d+ +consistency session/,
    );
  });

  it('pushes .jsonl with metadata and shows it in query results', async () => {
    const file = join(tmp.path, 'docs.jsonl');
    const lines = [
      { id: 'doc-a', vector: [1, 0, 0], metadata: { title: 'alpha' } },
      { id: 'doc-b', vector: [0, 1, 0], metadata: { title: 'beta' } },
      { vector: [0, 0, 1] },
    ];
    await writeFile(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const push = await meridian(
      'push',
      file,
      '-c',
      'docs',
      '--create',
      '--model',
      'mini@1',
      '--id-prefix',
      'row-',
    );
    expect(push.code, push.stderr).toBe(0);
    expect(push.stdout).toContain('pushed 3 points in 1 batch,');

    const q = await meridian(
      'query',
      '-c',
      'docs',
      '--vector',
      '[0, 1, 0.1]',
      '--k',
      '2',
      '--token',
      tokenOf(push.stdout),
    );
    expect(q.code, q.stderr).toBe(0);
    expect(q.stdout).toMatch(/doc-b .*\{"title":"beta"\}/);
    expect(q.stdout).toContain('row-2');
  });

  it('pushes a 2-D .npy file into an existing collection', async () => {
    const file = join(tmp.path, 'more.npy');
    await writeFile(file, writeNpy([6, 4], vectors(6)));
    const push = await meridian('push', file, '--collection', 'vecs', '--id-prefix', 'npy-');
    expect(push.code, push.stderr).toBe(0);
    expect(push.stdout).toContain('pushed 6 points in 1 batch,');
    const q = await meridian(
      'query',
      '-c',
      'vecs',
      '--id-of-row',
      '2',
      '--file',
      file,
      '--k',
      '2',
      '--token',
      tokenOf(push.stdout),
    );
    expect(q.stdout).toContain('npy-2');
  });

  it('pushes an .arrow stream into an existing collection, reading it with the collection dim', async () => {
    const file = join(tmp.path, 'points.arrow');
    const ids = ['arr-0', 'arr-1', 'arr-2'];
    const metadata = ids.map((id) => ({ from: id }));
    await writeFile(
      file,
      encodePointColumns({ ids, vectors: vectors(3).map((x) => -50 - x), metadata, seqs: null }, 4),
    );
    const push = await meridian('push', file, '--collection', 'vecs', '--batch', '2');
    expect(push.code, push.stderr).toBe(0);
    expect(push.stdout).toContain('pushed 3 points in 2 batches,');
    const q = await meridian(
      'query',
      '-c',
      'vecs',
      '--id-of-row',
      '1',
      '--file',
      file,
      '--k',
      '1',
      '--token',
      tokenOf(push.stdout),
    );
    expect(q.stdout).toMatch(/^1 +arr-1 .*\{"from":"arr-1"\}/m);
  });

  it('stages, lists, activates (and rolls back) and drops embedding-model generations', async () => {
    const put = await http(`${fx.cluster.node('p1').url}/v1/collections/gens`, 'PUT', {
      dim: 3,
      metric: 'l2',
      model: 'a@1',
    });
    expect(put.status).toBe(201);
    const staged = await meridian('generations', 'stage', '-c', 'gens', '-m', 'b@2', '--dim', '4');
    expect(staged.code, staged.stderr).toBe(0);
    expect(staged.stdout).toBe('staged gens/b@2 (dim 4)\n');
    const again = await meridian('generations', 'stage', '-c', 'gens', '-m', 'b@2', '--dim', '4');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already has generation b@2');
    const w = await http(`${fx.cluster.node('p1').url}/v1/collections/gens/points`, 'POST', {
      points: [
        { id: 'g1', vector: [1, 0, 0] },
        { id: 'g2', vector: [0, 1, 0] },
      ],
    });
    expect(w.status).toBe(200);
    const list = await meridian('generations', 'list', '-c', 'gens');
    expect(list.stdout).toMatch(/a@1 +active +3 .* -\n/);
    expect(list.stdout).toMatch(/b@2 +staging +4 .* 0\.0 % \(2 missing, 0 only here\)/);
    const short = await meridian('generations', 'activate', '-c', 'gens', '-m', 'b@2');
    expect(short.code).toBe(1);
    expect(short.stderr).toContain('coverage 0.0000 < minCoverage 1');
    const badRatio = await meridian(
      'generations',
      'activate',
      '-c',
      'gens',
      '-m',
      'b@2',
      '--min-coverage',
      '1.5',
    );
    expect(badRatio.code).toBe(2);
    // The backfill: g2 is deleted after the pipeline read at seq w.body.seq, so it is skipped.
    const gone = await http(
      `${fx.cluster.node('p1').url}/v1/collections/gens/points/delete`,
      'POST',
      {
        ids: ['g2'],
      },
    );
    expect(gone.status).toBe(200);
    const file = join(tmp.path, 'gens-b.jsonl');
    const lines = [
      { id: 'g1', vector: [1, 0, 0, 1] },
      { id: 'g2', vector: [0, 1, 0, 1] },
    ];
    await writeFile(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const push = await meridian(
      'push',
      file,
      '-c',
      'gens',
      '--model',
      'b@2',
      '--source-seq',
      String(w.body.seq),
    );
    expect(push.code, push.stderr).toBe(0);
    expect(push.stdout).toContain('1 point was skipped');
    const full = await meridian('generations', 'list', '-c', 'gens');
    expect(full.stdout).toMatch(/b@2 +staging +4 .* 100\.0 % \(0 missing, 0 only here\)/);
    const on = await meridian('generations', 'activate', '-c', 'gens', '-m', 'b@2');
    expect(on.code, on.stderr).toBe(0);
    expect(on.stdout).toMatch(
      /^gens: b@2 is active from WAL seq \d+ \(a@1 retired, queryable by name\)\n$/,
    );
    const back = await meridian(
      'generations',
      'activate',
      '-c',
      'gens',
      '-m',
      'a@1',
      '--policy',
      'primary',
    );
    expect(back.code, back.stderr).toBe(0);
    const drop = await meridian('generations', 'drop', '-c', 'gens', '-m', 'b@2');
    expect([drop.code, drop.stdout]).toEqual([0, 'dropped gens/b@2\n']);
    const bad = await meridian('generations', 'flip', '-c', 'gens');
    expect(bad.code).toBe(2);
  });

  it('flips two collections together with generations cutover', async () => {
    for (const c of ['cg1', 'cg2']) {
      const put = await http(`${fx.cluster.node('p1').url}/v1/collections/${c}`, 'PUT', {
        dim: 3,
        metric: 'l2',
        model: 'a@1',
      });
      expect(put.status).toBe(201);
      const staged = await meridian('generations', 'stage', '-c', c, '-m', 'b@2', '--dim', '3');
      expect(staged.code, staged.stderr).toBe(0);
    }
    const bad = await meridian('generations', 'cutover', 'cg1');
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('COLLECTION=MODEL')]);
    const done = await meridian(
      'generations',
      'cutover',
      'cg1=b@2',
      'cg2=b@2',
      '--policy',
      'primary',
    );
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(
      /^cg1: b@2 is active \(a@1 retired\)\ncg2: b@2 is active \(a@1 retired\)\nflipped together from WAL seq \d+ \(group [0-9a-f-]+\)\n$/,
    );
  });

  it('prints the regions table', async () => {
    const s = await meridian('status');
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/primary us-east\/p1 at seq \d+/);
    expect(s.stdout).toMatch(
      /region +node +role +healthy +RTT ms +appliedSeq +staleness ms +versions/,
    );
    expect(s.stdout).toMatch(/us-east +p1 +primary +yes/);
    expect(s.stdout).toMatch(/eu-west +f1 +follower /);
    // Per collection generation: its state when not active, version and points.
    await waitFor(
      async () => /cg1:a@1 \[retired\] v\d+ 0 pts/.test((await meridian('status')).stdout),
      {
        message: 'the status shows the retired generation of cg1',
      },
    );
    expect((await meridian('status')).stdout).toMatch(/cg1:b@2 v\d+ 0 pts/);
  });

  it('exits 2 with a clear message on an unknown flag, and 1 on a refused key', async () => {
    const [bad, unknown, denied] = await Promise.all([
      meridian('query', '--collection', 'vecs', '--frobnicate'),
      meridian('launch'),
      meridian('status', '--key', 'not-a-valid-key-at-all'),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("Unknown option '--frobnicate'");
    expect(bad.stderr).toContain('meridian query --help');

    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command launch');

    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('unauthorized (HTTP 401)');
  });

  it('runs a follower from a config file and stops it gracefully on SIGTERM', async () => {
    const config = join(tmp.path, 'follower.json');
    await writeFile(
      config,
      JSON.stringify({
        region: 'eu-west',
        node: 'f9',
        http: { host: '127.0.0.1', port: 0 },
        dataDir: join(tmp.path, 'f9'),
        nats: { servers: fx.nats.url },
        auth: { keys: [{ key: TEST_KEYS.read, role: 'read' }] },
        tokenSecret: TEST_TOKEN_SECRET,
        log: { level: 'silent' },
      }),
    );
    const child = spawn(process.execPath, [BIN, 'follower', '--config', config], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', () => {
        const m = /listening on (http:\/\/\S+)/.exec(stdout);
        if (m) resolve(m[1]!);
      });
      void exited.then((code) => reject(new Error(`exited ${code} early: ${stderr}`)));
    });
    expect(stdout).toContain('meridian follower eu-west/f9');
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toContain('SIGTERM: stopping follower f9');
  });
});
