/**
 * Upload progress on stderr: a bar redrawn in place (points, points/s, ETA) when stderr is
 * a terminal, plain lines at most once a second (and at the end) when it is not, so logs
 * and CI output stay readable. Hand-written: the two modes are ~60 lines, less than the
 * configuration a progress-bar library would need.
 */
import type { Output } from './context.ts';

const BAR_WIDTH = 24;
const LINE_INTERVAL_MS = 1_000;

/** Reports progress of `total` points. */
export class Progress {
  private done = 0;
  private readonly started: number;
  private lastLine = -Infinity;
  private readonly tty: boolean;

  /** `now` (ms) is the clock; tests pass their own. */
  constructor(
    private readonly out: Output,
    private readonly total: number,
    private readonly label: string,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tty = out.isTTY === true;
    this.started = now();
  }

  /** Adds `n` finished points and redraws (TTY) or prints a line if one is due. */
  tick(n: number): void {
    this.done += n;
    const now = this.now();
    if (this.tty) this.out.write(`\r${this.render(now)}\x1b[K`);
    else if (now - this.lastLine >= LINE_INTERVAL_MS || this.done >= this.total) {
      this.lastLine = now;
      this.out.write(`${this.render(now)}\n`);
    }
  }

  /** Ends the bar's line (TTY); plain-line mode has nothing to finish. */
  finish(): void {
    if (this.tty) this.out.write('\n');
  }

  private render(now: number): string {
    const secs = Math.max((now - this.started) / 1000, 1e-3);
    const rate = this.done / secs;
    const frac = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const eta = rate > 0 ? (this.total - this.done) / rate : Infinity;
    const stats =
      `${this.done}/${this.total} points  ${Math.round(frac * 100)}%  ` +
      `${formatRate(rate)} points/s  ETA ${formatDuration(eta)}`;
    if (!this.tty) return `${this.label}: ${stats}`;
    const filled = Math.round(frac * BAR_WIDTH);
    return `${this.label} [${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${stats}`;
  }
}

function formatRate(rate: number): string {
  return rate >= 100 ? String(Math.round(rate)) : rate.toFixed(1);
}

/** `42s`, `3m05s`, `1h02m`; `?` when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
