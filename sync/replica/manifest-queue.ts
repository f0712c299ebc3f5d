import type { Manifest } from '../../catalog/index.ts';
import { Backoff } from '../../lib/wait.ts';
import type { BackoffOptions } from '../../lib/wait.ts';

export interface ManifestQueueOptions {
  /**
   * Applies one manifest; resolves `false` when it is not for this node after all (its
   * collection is placed elsewhere): it is dropped then. A rejection is retried.
   */
  apply(m: Manifest): Promise<boolean>;
  /** After each success. */
  onApplied(m: Manifest): void;
  /** After each failure, before the retry's pause. */
  onFailed(m: Manifest, err: unknown): void;
  /** The pause between retries of one collection generation. */
  retry: BackoffOptions;
  /** Aborted when the replica stops: no retry outlives it. */
  signal: AbortSignal;
}

/**
 * The manifests waiting to be applied, one lane per collection generation: a lane applies
 * its newest pending manifest (a newer one that arrives meanwhile replaces an older one
 * not yet started), retrying a failure with backoff; lanes run side by side.
 */
export class ManifestQueue {
  private readonly pending = new Map<string, Manifest>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly tried = new Map<string, Promise<void>>();

  constructor(private readonly o: ManifestQueueOptions) {}

  enqueue(m: Manifest): void {
    const key = laneKey(m.collection, m.generation);
    const cur = this.pending.get(key);
    if (!cur || cur.version < m.version) this.pending.set(key, m);
    if (this.running.has(key)) return;
    let triedOnce: () => void = () => undefined;
    this.tried.set(key, new Promise<void>((r) => (triedOnce = r)));
    const run = this.drain(key, triedOnce).finally(() => {
      triedOnce();
      this.running.delete(key);
    });
    this.running.set(key, run);
  }

  /** Resolves once every lane started so far (of one collection) has tried its manifest once. */
  async firstTries(collection?: string): Promise<void> {
    const prefix = collection === undefined ? '' : laneKey(collection, '');
    await Promise.all([...this.tried].filter(([k]) => k.startsWith(prefix)).map(([, p]) => p));
  }

  /** Resolves once no lane is running (call after aborting the signal). */
  async settled(): Promise<void> {
    await Promise.allSettled(this.running.values());
  }

  private async drain(key: string, triedOnce: () => void): Promise<void> {
    const backoff = new Backoff(this.o.retry);
    while (!this.o.signal.aborted) {
      const m = this.pending.get(key);
      if (!m) return;
      try {
        if (!(await this.o.apply(m))) {
          this.pending.delete(key);
          return;
        }
        if (this.pending.get(key) === m) this.pending.delete(key);
        backoff.reset();
        triedOnce();
        this.o.onApplied(m);
      } catch (err) {
        this.o.onFailed(m, err);
        triedOnce();
        await backoff.wait(this.o.signal);
      }
    }
  }
}

function laneKey(collection: string, generation: string): string {
  return `${collection}\u0000${generation}`;
}
