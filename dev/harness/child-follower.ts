/**
 * Drives {@link follower-process.ts} from a test: spawn, read its events, send commands,
 * kill it.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface ChildFollowerConfig {
  natsUrl: string;
  dataDir: string;
  region: string;
  node: string;
  crashAt?: { stage: string; version?: number; chunk?: number; seq?: number };
}

export interface ChildEvent {
  event: string;
  [key: string]: unknown;
}

const script = fileURLToPath(new URL('./follower-process.ts', import.meta.url));

export class ChildFollower {
  readonly events: ChildEvent[] = [];
  private readonly proc: ChildProcess;
  private readonly waiters = new Set<{
    match: (e: ChildEvent) => boolean;
    resolve: (e: ChildEvent) => void;
  }>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private stderr = '';

  constructor(cfg: ChildFollowerConfig) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', script], {
      env: { ...process.env, MERIDIAN_TEST_FOLLOWER: JSON.stringify(cfg) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      let e: ChildEvent;
      try {
        e = JSON.parse(line) as ChildEvent;
      } catch {
        return;
      }
      this.events.push(e);
      for (const w of [...this.waiters]) {
        if (w.match(e)) {
          this.waiters.delete(w);
          w.resolve(e);
        }
      }
    });
    this.exited = new Promise((resolve) =>
      this.proc.on('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  get stderrTail(): string {
    return this.stderr;
  }

  /** The next event (from now, or already seen when `past`) that matches; rejects on exit or timeout. */
  next(match: (e: ChildEvent) => boolean, timeoutMs = 30_000, past = false): Promise<ChildEvent> {
    if (past) {
      const seen = this.events.find(match);
      if (seen) return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const w = { match, resolve: (e: ChildEvent) => (clearTimeout(t), resolve(e)) };
      const t = setTimeout(() => {
        this.waiters.delete(w);
        reject(
          new Error(`child follower: no matching event in ${timeoutMs} ms; stderr: ${this.stderr}`),
        );
      }, timeoutMs);
      this.waiters.add(w);
      void this.exited.then((x) => {
        if (this.waiters.delete(w)) {
          clearTimeout(t);
          reject(
            new Error(
              `child follower exited (${x.code ?? x.signal}) first; stderr: ${this.stderr}`,
            ),
          );
        }
      });
    });
  }

  send(cmd: Record<string, unknown>): void {
    this.proc.stdin!.write(JSON.stringify(cmd) + '\n');
  }

  async request(cmd: Record<string, unknown>, reply: string): Promise<ChildEvent> {
    const answer = this.next((e) => e.event === reply);
    this.send(cmd);
    return answer;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.proc.kill(signal);
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.send({ cmd: 'stop' });
    const t = setTimeout(() => this.kill(), 10_000);
    await this.exited;
    clearTimeout(t);
  }
}
