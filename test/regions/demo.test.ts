/**
 * `npm run demo` end to end: the real command, as a child process, on this machine's
 * nats-server. It must come up, answer through every region's router from that region's
 * own follower, and on Ctrl-C stop every process it started and remove its files.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NATS_INSTALL_HINT } from '../../dev/cluster/nats-process.ts';
import { loadFioriRecords } from '../../dev/demo/fiori.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const demoArgs = ['--import', 'tsx', 'dev/demo/main.ts'];

/** A process as /proc shows it; `start` (clock ticks since boot) tells a reused pid apart. */
interface ProcInfo {
  pid: number;
  ppid: number;
  state: string;
  start: string;
  cmdline: string;
}

function readProc(pid: number): ProcInfo | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    return { pid, ppid: Number(rest[1]), state: rest[0]!, start: rest[19]!, cmdline };
  } catch {
    return null; // gone meanwhile
  }
}

function allProcs(): ProcInfo[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map((d) => readProc(Number(d)))
    .filter((p): p is ProcInfo => p !== null);
}

/** Every descendant of `root`, and every process whose command line names `marker`. */
function processesOf(root: number, marker: string): ProcInfo[] {
  const procs = allProcs();
  const found = new Map<number, ProcInfo>();
  const frontier = [root];
  while (frontier.length > 0) {
    const parent = frontier.pop()!;
    for (const p of procs) {
      if (p.ppid === parent && !found.has(p.pid)) {
        found.set(p.pid, p);
        frontier.push(p.pid);
      }
    }
  }
  for (const p of procs) if (p.pid !== root && p.cmdline.includes(marker)) found.set(p.pid, p);
  return [...found.values()];
}

/** Still running: same pid and start time, and not a zombie waiting to be reaped. */
function alive(p: ProcInfo): boolean {
  const now = readProc(p.pid);
  return now !== null && now.start === p.start && now.state !== 'Z';
}

function exited(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
}

interface DemoOutput {
  routers: Array<{ region: string; url: string }>;
  collections: Array<{ name: string; dim: number }>;
  apiKey: string;
  baseDir: string;
}

function parseDemoOutput(stdout: string): DemoOutput {
  const lines = stdout.split('\n');
  const routers = lines
    .map((l) => /^router (\S+) (http:\/\/\S+)$/.exec(l))
    .filter((m) => m !== null)
    .map((m) => ({ region: m[1]!, url: m[2]! }));
  const collections = lines
    .map((l) => /^collection (\S+) (\d+)$/.exec(l))
    .filter((m) => m !== null)
    .map((m) => ({ name: m[1]!, dim: Number(m[2]) }));
  const apiKey = /^api-key (\S+)$/m.exec(stdout)?.[1];
  const queryFile = / -d @(\S+)\/more-like-this\.json /.exec(stdout)?.[1];
  if (!apiKey || !queryFile) throw new Error(`unexpected demo output:\n${stdout}`);
  return { routers, collections, apiKey, baseDir: queryFile };
}

describe('npm run demo', () => {
  let demo: ChildProcess;
  let stdout = '';
  let stderr = '';
  let out: DemoOutput;
  let started: ProcInfo[] = [];

  beforeAll(async () => {
    demo = spawn(process.execPath, demoArgs, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    demo.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    demo.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    await waitFor(
      () => {
        if (demo.exitCode !== null) throw new Error(`demo exited ${demo.exitCode}:\n${stderr}`);
        return stdout.includes('meridian demo ready\n');
      },
      { timeoutMs: 180_000, intervalMs: 200, message: '"meridian demo ready"' },
    );
    out = parseDemoOutput(stdout);
    started = processesOf(demo.pid!, out.baseDir);
  }, 200_000);

  afterAll(async () => {
    // Only after a failure: stop the demo, then anything it left behind, by pid.
    if (demo && demo.exitCode === null && demo.signalCode === null) {
      demo.kill('SIGINT');
      const t = setTimeout(() => demo.kill('SIGKILL'), 30_000);
      await exited(demo);
      clearTimeout(t);
    }
    for (const p of started) if (alive(p)) process.kill(p.pid, 'SIGKILL');
  }, 60_000);

  it('prints three routers, the fiori collection and an api key', () => {
    expect(out.routers.map((r) => r.region)).toEqual(['us-east', 'eu-west', 'ap-south']);
    expect(out.collections).toContainEqual({ name: 'fiori', dim: 384 });
    expect(out.apiKey).toMatch(/^demo-[0-9a-f]{24}$/);
    expect(existsSync(`${out.baseDir}/more-like-this.json`)).toBe(true);
    // 3 nats-servers; a primary, and a follower and a router per region.
    expect(started.filter((p) => p.cmdline.includes('nats-server'))).toHaveLength(3);
    expect(started.filter((p) => p.cmdline.includes('services/start.mjs'))).toHaveLength(7);
  });

  it('answers "more like this" through every router from a follower in its own region', async () => {
    const fiori = loadFioriRecords();
    const passage = fiori.records[123]!;
    for (const r of out.routers) {
      const res = await fetch(`${r.url}/v1/collections/fiori/query`, {
        method: 'POST',
        headers: { authorization: `Bearer ${out.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          vector: Array.from(passage.vector),
          k: 5,
          consistency: 'bounded',
          maxStalenessMs: 5_000,
        }),
      });
      const body = (await res.json()) as any;
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(body.results.length, r.region).toBeGreaterThan(0);
      expect(body.results[0].id, r.region).toBe(passage.id);
      expect(body.results[0].score, r.region).toBeCloseTo(1, 4);
      expect(body.region, `answer through the ${r.region} router`).toBe(r.region);
    }
  });

  it('stops on SIGINT: exit 0, its temp dir removed, no process left', async () => {
    expect(started.length).toBeGreaterThanOrEqual(10);
    const t0 = Date.now();
    demo.kill('SIGINT');
    const code = await Promise.race([
      exited(demo),
      new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000)),
    ]);
    expect(code, stderr.slice(-2_000)).toBe(0);
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(existsSync(out.baseDir), out.baseDir).toBe(false);
    // Children may outlive the parent by a moment while being reaped.
    await waitFor(() => started.every((p) => !alive(p)), {
      timeoutMs: 5_000,
      message: 'every process the demo started to be gone',
    }).catch(() => undefined);
    expect(started.filter(alive).map((p) => `${p.pid} ${p.cmdline}`)).toEqual([]);
  }, 40_000);
});

describe('npm run demo without nats-server', () => {
  it('names the ways to install it', () => {
    expect(NATS_INSTALL_HINT).toMatch(/Debian\/Ubuntu: +sudo apt-get install nats-server/);
    expect(NATS_INSTALL_HINT).toMatch(/macOS: +brew install nats-server/);
    expect(NATS_INSTALL_HINT).toMatch(/Docker: +docker compose up/);
  });

  it('prints the install hint and exits 1', async () => {
    // findNatsServer also looks in /usr/sbin and /usr/local/bin, so PATH cannot hide the
    // binary; instead a preload makes every `.../nats-server` look absent to accessSync.
    const hide = [
      "import fs from 'node:fs';",
      "import { syncBuiltinESMExports } from 'node:module';",
      'const real = fs.accessSync;',
      'fs.accessSync = (p, mode) => {',
      "  if (String(p).endsWith('/nats-server')) throw Object.assign(new Error('hidden'), { code: 'ENOENT' });",
      '  return real(p, mode);',
      '};',
      'syncBuiltinESMExports();',
    ].join('\n');
    const proc = spawn(
      process.execPath,
      ['--import', `data:text/javascript,${encodeURIComponent(hide)}`, ...demoArgs],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let err = '';
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    proc.stdout!.resume();
    // Should the preload stop working, the demo would start a cluster: stop it cleanly.
    const guard = setTimeout(() => proc.kill('SIGINT'), 30_000);
    const code = await exited(proc);
    clearTimeout(guard);
    expect(err).not.toContain('starting nats-server');
    expect(code, err).toBe(1);
    expect(err).toContain(NATS_INSTALL_HINT);
  }, 40_000);
});
