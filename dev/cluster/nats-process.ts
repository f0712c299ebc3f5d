import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { delimiter, join } from 'node:path';

export const NATS_INSTALL_HINT =
  'nats-server is not installed. Install it, then run again:\n' +
  '  Debian/Ubuntu:  sudo apt-get install nats-server\n' +
  '  macOS:          brew install nats-server\n' +
  '  Docker:         docker compose up   (uses the official nats image; see docker-compose.yml)';

/** The nats-server binary: on PATH, else /usr/sbin/nats-server; null when missing. */
export function findNatsServer(): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/bin'];
  for (const d of dirs) {
    const p = join(d, 'nats-server');
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return null;
}

export interface NatsProcess {
  proc: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

/** Starts nats-server with a config file and waits until it accepts TCP connections. */
export async function startNatsProcess(o: {
  binary: string;
  configPath: string;
  config: string;
  port: number;
  logPath: string;
}): Promise<NatsProcess> {
  await writeFile(o.configPath, o.config);
  const proc = spawn(o.binary, ['-c', o.configPath, '-l', o.logPath], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`nats-server exited at start (see ${o.logPath})`);
    if (await canConnect(o.port)) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`nats-server did not start on port ${o.port} (see ${o.logPath})`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    proc,
    port: o.port,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
