/**
 * hnswlib-node's asynchronous calls (`readIndex`, `writeIndex`) finish on the thread that
 * started them by resolving a promise from native code. If that thread is being torn down
 * when one finishes (a worker terminated, or a process exiting while a worker runs), the
 * addon cannot throw into the dying environment and the **whole process aborts** (SIGABRT,
 * issue 10). So every such call goes through {@link trackNative}, and a thread that is
 * about to end first calls {@link quiesceNative}: from then on no new call starts, and it
 * returns once every call in flight has settled. An ESLint rule keeps the asynchronous
 * calls inside this folder's loader.
 */

const inFlight = new Set<Promise<unknown>>();
let closing = false;

/**
 * Starts an asynchronous native call and remembers it until it settles. Refused (the
 * returned promise rejects, nothing starts) once this thread is ending.
 */
export function trackNative<T>(start: () => Promise<T>): Promise<T> {
  if (closing) return Promise.reject(new Error('this thread is ending: no native call starts'));
  const call = start();
  inFlight.add(call);
  const forget = () => inFlight.delete(call);
  call.then(forget, forget);
  return call;
}

/** How many asynchronous native calls this thread has in flight. */
export function nativeInFlight(): number {
  return inFlight.size;
}

/** Resolves once no asynchronous native call of this thread is in flight (never rejects). */
export async function nativeIdle(): Promise<void> {
  while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
}

/**
 * For a thread about to end: refuses every new native call from now on, then waits for
 * those in flight. Afterwards the thread may end (or be ended) safely.
 */
export async function quiesceNative(): Promise<void> {
  closing = true;
  await nativeIdle();
}
