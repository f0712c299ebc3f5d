import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | null = null;

/**
 * A full garbage collection of this thread's heap, now. A segment fetch streams hundreds
 * of MB through 1 MiB message buffers that are garbage as soon as they are written; on a
 * follower that does little else the heap never grows enough to collect them, and they
 * stayed resident: 169 MB after a 126 MB fetch, still there a minute later (decision
 * 0013). Called after large transfers only: a full collection of a small heap takes
 * ~10–30 ms. `gc` is exposed once through V8's flags, as `--expose-gc` would.
 */
export function collectGarbage(): void {
  if (!gc) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (exposed) gc = exposed;
    else {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
    }
  }
  gc();
}
