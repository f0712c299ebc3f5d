/**
 * Starts a real `nats-server` process for a test file: its own random client and monitoring
 * ports on 127.0.0.1, JetStream on a temporary store dir, and stop/kill/restart for fault
 * tests. The server picks its own ports (`-p -1 -m -1`) and reports them through
 * `--ports_file_dir`, so parallel test files never race for a port, and the system NATS on
 * 127.0.0.1:4222 is never touched.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { delimiter, join } from 'node:path';
import { makeTempDir } from './tmp.ts';
import type { TempDir } from './tmp.ts';
import { waitFor } from './wait-for.ts';

/** How to install the binary, shown whenever it cannot be found. */
export const NATS_INSTALL_HINT =
  'Install nats-server: Debian/Ubuntu `sudo apt-get install nats-server`, ' +
  'macOS `brew install nats-server`, or run it in Docker: `docker run -p 4222:4222 nats -js`.';

/** Environment variable that overrides where the `nats-server` binary is looked up. */
export const NATS_SERVER_BIN_ENV = 'MERIDIAN_NATS_SERVER_BIN';

/** The port of the system NATS; a test server must never use it. */
const SYSTEM_NATS_PORT = 4222;
const FALLBACK_BINARY = '/usr/sbin/nats-server';
const LOG_LINES_KEPT = 200;

/** Options for {@link startNatsServer}. */
export interface NatsServerOptions {
  /** Enable JetStream (`-js`). Default true. */
  jetstream?: boolean;
  /** Extra command-line arguments, appended last. */
  args?: string[];
  /** Client port. Default: one the server picks (`-p -1`). 4222 is refused. */
  port?: number;
  /** JetStream store dir. Default: a new temp dir, removed by `stop()`. A given dir is never removed. */
  storeDir?: string;
  /** Extra configuration file text (nats-server config syntax); command-line flags win over it. */
  config?: string;
  /** Path of the binary. Default: `$MERIDIAN_NATS_SERVER_BIN`, then `PATH`, then /usr/sbin. */
  binary?: string;
  /** Keep the store dir on `stop()` (to inspect it after a failure). Default false. */
  keepStore?: boolean;
  /** How long to wait for the server to accept clients and report JetStream healthy. Default 20 s. */
  startTimeoutMs?: number;
}

/** A running test server. */
export interface NatsServerHandle {
  /** `nats://127.0.0.1:<port>`; stays the same across `restart()`. */
  readonly url: string;
  readonly port: number;
  readonly monitorPort: number;
  readonly storeDir: string;
  /** Process id of the current server process (changes on `restart()`). */
  readonly pid: number;
  /**
   * SIGTERM, wait for exit (SIGKILL after 5 s), then remove the temp dirs (the store too,
   * unless `keepStore`). Idempotent.
   */
  stop(opts?: { keepStore?: boolean }): Promise<void>;
  /** Send a signal (default SIGKILL) to the server process, for fault tests. Does not wait. */
  kill(signal?: NodeJS.Signals): void;
  /**
   * Stop the server (if it still runs) and start it again on the same port, monitoring port
   * and store dir, waiting until it is ready. Streams written before survive.
   */
  restart(): Promise<void>;
  /** The last lines the server logged, for error messages. */
  logTail(): string;
}

/** Every server process still running, killed if the test process exits without stopping them. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Spawns `nats-server` and resolves once it accepts TCP connections and its `/healthz`
 * endpoint (which checks JetStream when enabled) answers 200. Rejects with the install hint
 * when the binary is missing, or with the server's last log lines when it fails to start.
 */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  if (opts.port === SYSTEM_NATS_PORT) {
    throw new Error(
      `refusing to start a test nats-server on ${SYSTEM_NATS_PORT}, the system NATS port`,
    );
  }
  const binary = resolveNatsBinary(opts.binary);
  const runDir = await makeTempDir('nats-run');
  const ownStore: TempDir | null =
    opts.storeDir === undefined ? await makeTempDir('nats-store') : null;
  const storeDir = opts.storeDir ?? (ownStore as TempDir).path;
  const configFile = opts.config === undefined ? null : join(runDir.path, 'extra.conf');
  if (configFile !== null) await writeFile(configFile, opts.config ?? '');

  const log = new LineRing(LOG_LINES_KEPT);
  const jetstream = opts.jetstream ?? true;
  const launchArgs = (port: number, monitorPort: number): string[] => [
    ...(configFile === null ? [] : ['-c', configFile]),
    ...['-a', '127.0.0.1', '-p', String(port), '-m', String(monitorPort)],
    ...['--ports_file_dir', runDir.path],
    ...(jetstream ? ['-js', '-sd', storeDir] : []),
    ...(opts.args ?? []),
  ];
  const timeoutMs = opts.startTimeoutMs ?? 20_000;

  let current: Running;
  try {
    current = await launch(binary, launchArgs(opts.port ?? -1, -1), runDir.path, log, timeoutMs);
  } catch (err) {
    await runDir.cleanup();
    await ownStore?.cleanup();
    throw err;
  }
  const { port, monitorPort } = current;
  let stopped = false;

  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    monitorPort,
    storeDir,
    get pid() {
      return current.child.pid ?? -1;
    },
    async stop(stopOpts) {
      if (stopped) return;
      stopped = true;
      await terminate(current);
      await runDir.cleanup();
      if (!(stopOpts?.keepStore ?? opts.keepStore ?? false)) await ownStore?.cleanup();
    },
    kill(signal = 'SIGKILL') {
      current.child.kill(signal);
    },
    async restart() {
      if (stopped)
        throw new Error('nats-server was stopped; start a new one instead of restarting');
      await terminate(current);
      current = await launch(binary, launchArgs(port, monitorPort), runDir.path, log, timeoutMs);
    },
    logTail: () => log.text(),
  };
}

/**
 * Finds the `nats-server` binary: `explicit`, else `$MERIDIAN_NATS_SERVER_BIN`, else the
 * first one on `PATH`, else /usr/sbin/nats-server. Throws an Error with the install hint when
 * none is executable.
 */
export function resolveNatsBinary(explicit?: string): string {
  const configured = explicit ?? process.env[NATS_SERVER_BIN_ENV];
  if (configured !== undefined && configured !== '') {
    if (isExecutableFile(configured)) return configured;
    throw new Error(
      `nats-server binary not found or not executable at ${configured}. ${NATS_INSTALL_HINT}`,
    );
  }
  const onPath = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '')
    .map((dir) => join(dir, 'nats-server'));
  const found = [...onPath, FALLBACK_BINARY].find(isExecutableFile);
  if (found !== undefined) return found;
  throw new Error(
    `nats-server binary not found on PATH nor at ${FALLBACK_BINARY}. ${NATS_INSTALL_HINT}`,
  );
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The client and monitoring ports a server reported. */
interface Ports {
  port: number;
  monitorPort: number;
}

/** One server process and the ports it reported. */
interface Running extends Ports {
  child: ChildProcess;
  exited: Promise<void>;
}

/** Spawns one server process and waits until it is ready; kills it if it never gets there. */
async function launch(
  binary: string,
  args: string[],
  runDir: string,
  log: LineRing,
  timeoutMs: number,
): Promise<Running> {
  installExitHook();
  log.push(`--- ${binary} ${args.join(' ')}`);
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => log.pushChunk(chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => log.pushChunk(chunk));

  // Aborted when the process dies, so startup fails at once instead of at the timeout.
  const died = new AbortController();
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      died.abort(new Error(`nats-server exited during startup (code ${code}, signal ${signal})`));
      resolve();
    });
    child.once('error', (err) => {
      live.delete(child);
      died.abort(err);
      resolve();
    });
  });

  try {
    const ports = await readyPorts(child, runDir, timeoutMs, died.signal);
    if (ports.port === SYSTEM_NATS_PORT)
      throw new Error('nats-server came up on the system NATS port');
    return { child, exited, ...ports };
  } catch (err) {
    await terminate({ child, exited });
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(
      `nats-server failed to start: ${reason}\n--- nats-server log ---\n${log.text()}`,
      {
        cause: err,
      },
    );
  }
}

/** Waits for the ports file, then a TCP accept, then `/healthz` 200 (JetStream ready). */
async function readyPorts(
  child: ChildProcess,
  runDir: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<Ports> {
  const deadline = Date.now() + timeoutMs;
  const left = (): number => Math.max(1, deadline - Date.now());
  const portsFile = join(runDir, `nats-server_${child.pid}.ports`);
  let found: Ports | null = null;
  await waitFor(
    async () => {
      found = parsePortsFile(await readFile(portsFile, 'utf8'));
      return true;
    },
    { timeoutMs: left(), intervalMs: 25, message: `the ports file ${portsFile}`, signal },
  );
  // TypeScript cannot see the assignment inside the closure above.
  const { port, monitorPort } = found as unknown as Ports;
  await waitFor(() => canConnect(port), {
    timeoutMs: left(),
    intervalMs: 25,
    message: `nats-server to accept TCP connections on 127.0.0.1:${port}`,
    signal,
  });
  await waitFor(
    async () => {
      const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz`, {
        signal: AbortSignal.timeout(2_000),
      });
      return res.status === 200;
    },
    {
      timeoutMs: left(),
      intervalMs: 25,
      message: `nats-server /healthz on ${monitorPort}`,
      signal,
    },
  );
  return { port, monitorPort };
}

/** Parses `{"nats":["nats://127.0.0.1:P"],"monitoring":["http://127.0.0.1:M"]}`. */
function parsePortsFile(text: string): Ports {
  const parsed = JSON.parse(text) as { nats?: string[]; monitoring?: string[] };
  const port = Number(new URL(parsed.nats?.[0] ?? '').port);
  const monitorPort = Number(new URL(parsed.monitoring?.[0] ?? '').port);
  if (!(port > 0 && monitorPort > 0)) throw new Error(`incomplete ports file: ${text}`);
  return { port, monitorPort };
}

/** True when something accepts a TCP connection on 127.0.0.1:port. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    socket.setTimeout(1_000);
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the process has exited. */
async function terminate(running: { child: ChildProcess; exited: Promise<void> }): Promise<void> {
  const { child } = running;
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const escalate = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await running.exited;
    clearTimeout(escalate);
  }
  await running.exited;
}

/** Kills leftover servers when a test process exits without stopping them (a crashed test). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/** The last `max` log lines, so a startup failure can show what the server said. */
class LineRing {
  private readonly lines: string[] = [];
  private partial = '';

  constructor(private readonly max: number) {}

  pushChunk(chunk: string): void {
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.push(line);
  }

  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.max) this.lines.shift();
  }

  text(): string {
    return [...this.lines, ...(this.partial === '' ? [] : [this.partial])].join('\n');
  }
}
