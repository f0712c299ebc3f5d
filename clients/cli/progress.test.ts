import { describe, expect, it } from 'vitest';
import { Progress, formatDuration } from './progress.ts';

function sink(isTTY: boolean): {
  out: { write(t: string): void; isTTY: boolean };
  text: () => string;
} {
  let text = '';
  return { out: { write: (t) => void (text += t), isTTY }, text: () => text };
}

describe('Progress', () => {
  it('redraws one bar in place on a terminal and ends its line at finish', () => {
    const s = sink(true);
    let t = 0;
    const p = new Progress(s.out, 10, 'push c', () => t);
    t = 1_000;
    p.tick(5);
    t = 2_000;
    p.tick(5);
    p.finish();
    const frames = s.text().split('\r').filter(Boolean);
    expect(frames).toHaveLength(2);
    expect(frames[0]).toMatch(
      /^push c \[#{12}-{12}\] 5\/10 points {2}50% {2}5\.0 points\/s {2}ETA 1s/,
    );
    expect(frames[1]).toMatch(/\[#{24}\] 10\/10 points {2}100% {2}5\.0 points\/s {2}ETA 0s/);
    expect(frames[1]?.endsWith('\u001b[K\n')).toBe(true);
  });

  it('prints plain lines without control characters when not a terminal, always the last one', () => {
    const s = sink(false);
    let t = 0;
    const p = new Progress(s.out, 3, 'push c', () => t);
    p.tick(1);
    t = 500;
    p.tick(1); // within a second of the first line: not printed
    t = 600;
    p.tick(1);
    p.finish();
    expect(s.text().split('\n').filter(Boolean)).toEqual([
      expect.stringMatching(/^push c: 1\/3 points {2}33%/),
      expect.stringMatching(/^push c: 3\/3 points {2}100%/),
    ]);
    expect(s.text()).not.toContain('\r');
    expect(s.text()).not.toContain('\u001b');
  });

  it('formats durations for an ETA', () => {
    expect(formatDuration(42.4)).toBe('42s');
    expect(formatDuration(185)).toBe('3m05s');
    expect(formatDuration(3720)).toBe('1h02m');
    expect(formatDuration(Infinity)).toBe('?');
  });
});
