/**
 * An activation's wait on stderr: each region's way to the fence ("eu-west 62 % applied"),
 * redrawn in place on a terminal, or a line at most once a second when it changed
 * otherwise (logs and CI stay readable). The same two modes as {@link Progress}.
 */
import type { ActivationStatus } from '../types.ts';
import type { Output } from './context.ts';

const LINE_INTERVAL_MS = 1_000;

export function describeRegions(s: ActivationStatus): string {
  if (s.regions.length === 0) return 'taking the fence';
  return s.regions
    .map((r) => `${r.region} ${r.percent} % applied${r.behind > 0 ? ` (${r.behind} behind)` : ''}`)
    .join(', ');
}

export class ActivationProgress {
  private lastLine = -Infinity;
  private last = '';
  private drawn = false;
  private readonly tty: boolean;

  constructor(
    private readonly out: Output,
    private readonly label: string,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tty = out.isTTY === true;
  }

  update(s: ActivationStatus): void {
    const text = `${this.label}: waiting for ${describeRegions(s)}`;
    if (this.tty) {
      this.out.write(`\r${text}\x1b[K`);
      this.drawn = true;
      return;
    }
    const now = this.now();
    if (text !== this.last && now - this.lastLine >= LINE_INTERVAL_MS) {
      this.lastLine = now;
      this.last = text;
      this.out.write(`${text}\n`);
    }
  }

  finish(): void {
    if (this.tty && this.drawn) this.out.write('\n');
  }
}
