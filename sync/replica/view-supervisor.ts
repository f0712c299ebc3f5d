import { join } from 'node:path';
import { InlineViewHost, ThreadViewHost } from '../../index/index.ts';
import type { ViewHandle, ViewHost } from '../../index/index.ts';
import { Backoff } from '../../lib/wait.ts';
import { errorMessage } from '../errors.ts';
import type { ServedViews } from './views.ts';

export interface ViewSupervisorOptions {
  dataDir: string;
  /** View threads (decision 0013); 0 keeps the views on the event loop. */
  searchThreads: number;
  views: ServedViews;
  /**
   * Rebuilds a view whose thread was lost from what the node has durably applied, and
   * resolves once it may answer again (see Replica). Retried with backoff until it succeeds.
   */
  rebuild(view: ViewHandle): Promise<void>;
  signal: AbortSignal;
  log(msg: string, fields?: Record<string, unknown>): void;
}

/**
 * Where a replica's views live — its view threads, or its event loop (decision 0013) —
 * and what happens when a view thread is lost: its views refuse searches until a new
 * thread has rebuilt them.
 */
export class ViewSupervisor {
  readonly host: ViewHost;

  constructor(private readonly o: ViewSupervisorOptions) {
    const scratchDir = join(o.dataDir, 'view-scratch');
    this.host =
      o.searchThreads > 0
        ? new ThreadViewHost(o.searchThreads, {
            scratchDir,
            onLost: (err, restartInMs) =>
              o.log('view thread lost; its views refuse searches until rebuilt', {
                error: err.message,
                restartInMs,
              }),
            onRebound: (views) => {
              for (const v of views) void this.rebuild(v);
            },
          })
        : new InlineViewHost({ scratchDir });
    o.views.useHost(this.host);
  }

  private async rebuild(view: ViewHandle): Promise<void> {
    const served = this.o.views.byView(view);
    if (!served) return;
    const fields = { collection: served.settings.name, generation: served.generation.model };
    const backoff = new Backoff({ firstMs: 200, maxMs: 5_000 });
    while (!this.o.signal.aborted) {
      try {
        await this.o.rebuild(view);
        view.markAvailable();
        this.o.log('view rebuilt', fields);
        return;
      } catch (err) {
        this.o.log('view rebuild failed; retrying', { ...fields, err: errorMessage(err) });
        await backoff.wait(this.o.signal);
      }
    }
  }

  /** Stops the views, then the host (its threads end once their loads in flight are done). */
  async close(): Promise<void> {
    this.o.views.stop();
    await this.host.close();
  }
}
