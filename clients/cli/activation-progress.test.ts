import { describe, expect, it } from 'vitest';
import type { ActivationStatus } from '../types.ts';
import { ActivationProgress, describeRegions } from './activation-progress.ts';

function sink(isTTY: boolean) {
  let text = '';
  return { out: { write: (t: string) => void (text += t), isTTY }, text: () => text };
}

const status = (euPercent: number): ActivationStatus => ({
  id: 'x',
  state: 'waiting',
  startedAt: '2026-12-05T00:00:00Z',
  fence: 100,
  regions: [
    { region: 'us-east', appliedSeq: 100, behind: 0, percent: 100 },
    { region: 'eu-west', appliedSeq: 62, behind: 38, percent: euPercent },
  ],
  result: null,
  error: null,
});

describe('ActivationProgress', () => {
  it('names each region with its share of the way to the fence', () => {
    expect(describeRegions(status(62))).toBe(
      'us-east 100 % applied, eu-west 62 % applied (38 behind)',
    );
    expect(describeRegions({ ...status(0), regions: [] })).toBe('taking the fence');
  });

  it('redraws in place on a terminal; prints changed lines at most once a second otherwise', () => {
    const tty = sink(true);
    const p = new ActivationProgress(tty.out, 'docs/e5@2');
    p.update(status(10));
    p.update(status(62));
    p.finish();
    expect(tty.text().split('\r').filter(Boolean)).toHaveLength(2);
    expect(tty.text().endsWith('eu-west 62 % applied (38 behind)\u001b[K\n')).toBe(true);

    const log = sink(false);
    let t = 0;
    const q = new ActivationProgress(log.out, 'docs/e5@2', () => t);
    q.update(status(10));
    t = 500;
    q.update(status(20)); // within a second: not printed
    t = 1_500;
    q.update(status(62));
    q.update(status(62)); // unchanged: not printed
    q.finish();
    expect(log.text()).toBe(
      'docs/e5@2: waiting for us-east 100 % applied, eu-west 10 % applied (38 behind)\n' +
        'docs/e5@2: waiting for us-east 100 % applied, eu-west 62 % applied (38 behind)\n',
    );
  });
});
