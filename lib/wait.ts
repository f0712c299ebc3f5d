/**
 * Waiting, in one place: a cancellable {@link sleep}, one {@link Backoff} policy and one
 * {@link until} that waits for a predicate, woken by change events or by polling. Every
 * retry loop and every "wait until X or time out" in the services goes through these
 * (issue 13: five hand-rolled backoffs and three event-driven waiters before).
 *
 * No dependencies: every layer may import it.
 */

/**
 * Resolves after `ms`, or at once when `signal` aborts (it never rejects: a loop that
 * sleeps checks its own stop condition after waking).
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const wake = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', wake);
      resolve();
    };
    const timer = setTimeout(wake, ms);
    signal?.addEventListener('abort', wake, { once: true });
  });
}

/** Options of a {@link Backoff}. */
export interface BackoffOptions {
  /** The first delay, in ms. */
  firstMs: number;
  /** The longest delay, in ms. */
  maxMs: number;
  /** Growth per failure. Default 2. */
  factor?: number;
  /**
   * Full jitter: each delay is uniform in [d/2, d] (clients retrying at once should not
   * arrive together). Default off: the services' retries are one per node.
   */
  jitter?: boolean;
}

/**
 * Exponential backoff: `firstMs`, then × `factor` per failure up to `maxMs`; `reset()`
 * after a success starts again from `firstMs`.
 */
export class Backoff {
  private attempt = 0;
  constructor(private readonly o: BackoffOptions) {}

  /** The delay for the attempt after `failures` failures (0: the first retry). */
  static delay(o: BackoffOptions, failures: number): number {
    const d = Math.min(o.maxMs, o.firstMs * (o.factor ?? 2) ** Math.max(0, failures));
    return o.jitter ? d / 2 + Math.random() * (d / 2) : d;
  }

  /** The next delay; each call counts one more failure. */
  next(): number {
    return Backoff.delay(this.o, this.attempt++);
  }

  /** The delay `next()` will return (without jitter: with it, one draw of the same range). */
  peek(): number {
    return Backoff.delay(this.o, this.attempt);
  }

  /** Sleeps the next delay (cut short by `signal`). */
  wait(signal?: AbortSignal): Promise<void> {
    return sleep(this.next(), signal);
  }

  reset(): void {
    this.attempt = 0;
  }

  /** Failures counted since the last reset. */
  get failures(): number {
    return this.attempt;
  }
}

/** Subscribes a callback to change events; returns its unsubscribe. */
export type OnChange = (wake: () => void) => () => void;

/** Options of {@link until}. */
export interface UntilOptions {
  /** Give up after this many ms: `until` then resolves `false`. */
  timeoutMs: number;
  /**
   * Change events that may make the predicate true: it is checked again on each. Without
   * any, the predicate is polled every `pollMs`.
   */
  onChange?: OnChange | readonly OnChange[];
  /** Poll interval, in ms, when no change events are given (default 50), or beside them. */
  pollMs?: number;
  /** Stop waiting early: `until` resolves `false`. */
  signal?: AbortSignal;
}

/**
 * Resolves `true` once `predicate` holds, `false` when the timeout (or the signal) comes
 * first. A predicate that throws counts as "not yet". Checked at once, then on each change
 * event (or poll); never twice at the same time. Callers turn `false` into their own error.
 */
export async function until(
  predicate: () => boolean | Promise<boolean>,
  opts: UntilOptions,
): Promise<boolean> {
  const check = async (): Promise<boolean> => {
    try {
      return await predicate();
    } catch {
      return false;
    }
  };
  const events = opts.onChange === undefined ? [] : [opts.onChange].flat();
  const pollMs = opts.pollMs ?? (events.length === 0 ? 50 : undefined);
  const deadline = Date.now() + opts.timeoutMs;
  let changed: (() => void) | null = null;
  let dirty = false;
  const wake = (): void => {
    dirty = true;
    changed?.();
  };
  // Subscribed before the first check: a change while an async predicate runs is not lost.
  const offs = events.map((subscribe) => subscribe(wake));
  opts.signal?.addEventListener('abort', wake, { once: true });
  try {
    if (await check()) return true;
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0 || opts.signal?.aborted) return false;
      if (!dirty) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, Math.min(remaining, pollMs ?? remaining));
          function done(): void {
            clearTimeout(timer);
            changed = null;
            resolve();
          }
          changed = done;
        });
      }
      dirty = false;
      if (opts.signal?.aborted) return false;
      if (await check()) return true;
    }
  } finally {
    for (const off of offs) off();
    opts.signal?.removeEventListener('abort', wake);
  }
}
