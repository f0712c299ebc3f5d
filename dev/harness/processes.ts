/**
 * Meridian services as real processes (`services/start.mjs`) on one nats-server, for fault
 * tests that kill (SIGKILL), pause (SIGSTOP) and restart them on their data directories.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ServiceConfigInput } from '../../services/config.ts';
import { TEST_CREDENTIALS } from './services.ts';

const start = fileURLToPath(new URL('../../services/start.mjs', import.meta.url));

export interface ProcessSpec {
  role: 'primary' | 'follower' | 'router';
  region: string;
  node: string;
  natsUrl: string;
  regions: string[];
  /** The node's data directory; a restart passes the same one. */
  dataDir: string;
  overrides?: Partial<ServiceConfigInput>;
  /** Extra `node` flags (a profile: `--cpu-prof`, which NODE_OPTIONS does not allow). */
  nodeArgs?: string[];
}

export interface ServiceProcess {
  spec: ProcessSpec;
  proc: ChildProcess;
  url: string;
  exited: Promise<{ code: number | null; signal: string | null }>;
  /** The tail of what it wrote on stderr and stdout. */
  output(): string;
  /** SIGTERM, then SIGKILL after 10 s; resolves on exit. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL; resolves on exit. */
  kill(): Promise<void>;
  pause(): void;
  resume(): void;
}

/** Starts a service process and resolves once it reports ready (rejects if it exits first). */
export async function startProcess(spec: ProcessSpec): Promise<ServiceProcess> {
  await mkdir(spec.dataDir, { recursive: true });
  const config: ServiceConfigInput = {
    role: spec.role,
    region: spec.region,
    node: spec.node,
    http: { host: '127.0.0.1', port: 0 },
    dataDir: spec.dataDir,
    nats: { servers: spec.natsUrl },
    regions: spec.regions,
    ...TEST_CREDENTIALS,
    heartbeatMs: 200,
    beaconMs: 100,
    leaseTtlMs: 1_000,
    log: { level: 'warn' },
    router: { hostReplica: true, probeIntervalMs: 200, hedgeAfterMs: 0, urlOverrides: {} },
    ...spec.overrides,
  };
  const file = join(spec.dataDir, '..', `${spec.region}-${spec.node}.json`);
  await writeFile(file, JSON.stringify(config));
  const proc = spawn(process.execPath, [...(spec.nodeArgs ?? []), start, '--config', file], {
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer | string) => (out = (out + d.toString()).slice(-6_000));
  proc.stderr!.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      keep(line + '\n');
      try {
        const e = JSON.parse(line) as { event?: string; url?: string };
        if (e.event === 'ready' && e.url) resolve(e.url);
      } catch {
        // a log line
      }
    });
    void exited.then((x) =>
      reject(new Error(`${spec.node} exited (${x.code ?? x.signal}) before ready: ${out}`)),
    );
  });
  const kill = async (signal: NodeJS.Signals) => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    await exited;
  };
  return {
    spec,
    proc,
    url,
    exited,
    output: () => out,
    async stop() {
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      proc.kill('SIGCONT');
      await kill('SIGTERM');
      clearTimeout(t);
    },
    kill: () => kill('SIGKILL'),
    pause: () => proc.kill('SIGSTOP'),
    resume: () => proc.kill('SIGCONT'),
  };
}
