/**
 * Polling helper for tests: the one sanctioned way to wait for something to become true
 * (HOUSE_STYLE.md forbids sleeps). It retries until the predicate holds, so a test waits only
 * as long as the system under test needs, and fails with a message that names what it was
 * waiting for.
 */

/** Options for {@link waitFor}. */
export interface WaitForOptions {
  /** Give up after this many milliseconds. Default 10 000. */
  timeoutMs?: number;
  /** Pause between attempts, in milliseconds. Default 50. */
  intervalMs?: number;
  /** What is being waited for; used in the timeout error ("<message> within 10000 ms"). */
  message?: string;
  /** Stop waiting early: the returned promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Resolves once `predicate` returns (or resolves to) `true`; rejects with an Error naming
 * `message` when `timeoutMs` passes first. A predicate that throws counts as "not yet" (so
 * "connection refused" can be polled), and the last such error becomes the timeout error's
 * `cause`. The predicate is never called concurrently with itself.
 */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  opts: WaitForOptions = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      if (await predicate()) return;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    opts.signal?.throwIfAborted();
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      const what = opts.message ?? 'condition';
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out waiting for ${what} within ${timeoutMs} ms${why}`, {
        cause: lastError,
      });
    }
    await pause(Math.min(intervalMs, remaining), opts.signal);
  }
}

/** A pause between polls that an abort cuts short. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
