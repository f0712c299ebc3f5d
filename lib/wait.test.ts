import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Backoff, sleep, until } from './wait.ts';

describe('sleep', () => {
  it('wakes at once when its signal aborts', async () => {
    const ac = new AbortController();
    const slept = sleep(60_000, ac.signal).then(() => 'woke');
    ac.abort();
    expect(await slept).toBe('woke');
    expect(await sleep(60_000, ac.signal).then(() => 'already')).toBe('already');
  });
});

describe('Backoff', () => {
  it('doubles from the first delay up to the cap, and starts again after a reset', () => {
    const b = new Backoff({ firstMs: 100, maxMs: 500 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 500, 500]);
    expect(b.failures).toBe(5);
    b.reset();
    expect(b.next()).toBe(100);
  });

  it('with jitter stays within [d/2, d]', () => {
    for (let i = 0; i < 200; i++) {
      const d = Backoff.delay({ firstMs: 100, maxMs: 1_000, jitter: true }, 3);
      expect(d).toBeGreaterThanOrEqual(400);
      expect(d).toBeLessThanOrEqual(800);
    }
  });
});

describe('until', () => {
  const changes = () => {
    const e = new EventEmitter();
    const onChange = (wake: () => void) => {
      e.on('change', wake);
      return () => e.off('change', wake);
    };
    return { emit: () => e.emit('change'), onChange, listeners: () => e.listenerCount('change') };
  };

  it('resolves true on the change event that makes the predicate hold, and unsubscribes', async () => {
    const c = changes();
    let x = 0;
    const waiting = until(() => x >= 2, { timeoutMs: 60_000, onChange: c.onChange });
    x = 1;
    c.emit();
    x = 2;
    c.emit();
    expect(await waiting).toBe(true);
    expect(c.listeners()).toBe(0);
  });

  it('resolves false when the timeout comes first, and unsubscribes', async () => {
    const c = changes();
    expect(await until(() => false, { timeoutMs: 30, onChange: c.onChange })).toBe(false);
    expect(c.listeners()).toBe(0);
  });

  it('polls an async predicate when no change events are given; a throw counts as not yet', async () => {
    let calls = 0;
    const ok = await until(
      async () => {
        calls++;
        if (calls < 3) throw new Error('connection refused');
        return true;
      },
      { timeoutMs: 10_000, pollMs: 5 },
    );
    expect(ok).toBe(true);
    expect(calls).toBe(3);
  });

  it('resolves false when its signal aborts', async () => {
    const ac = new AbortController();
    const waiting = until(() => false, { timeoutMs: 60_000, pollMs: 10_000, signal: ac.signal });
    ac.abort();
    expect(await waiting).toBe(false);
  });
});
