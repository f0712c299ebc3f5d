import { nativeIdle } from './native-calls.ts';
import { ViewHandle } from './view-handle.ts';
import type { ViewChannel, ViewHost } from './view-handle.ts';
import { ViewStore, resetScratchDir } from './view-store.ts';
import type { ViewAnswers, ViewCall } from './view-protocol.ts';
import type { Metric } from './types.ts';

/**
 * Views held on the calling thread (`query.searchThreads: 0`): the same {@link ViewStore}
 * a view thread runs, called directly. Each operation runs when it is asked, so the order
 * of a handle's calls is the order they take effect. Searches block the event loop for
 * their duration; segment loads do not (they verify in the index workers and read the
 * graph asynchronously).
 */
export class InlineViewHost implements ViewHost {
  readonly threads = 0;
  readonly serving = 0;
  private readonly store: ViewStore;
  private nextView = 1;

  /** @param opts.scratchDir where loads extract graphs; emptied now and on close. */
  constructor(private readonly opts: { scratchDir?: string } = {}) {
    resetScratchDir(opts.scratchDir);
    this.store = new ViewStore(opts.scratchDir);
  }

  private readonly channel: ViewChannel = {
    post: (msg) => this.store.post(msg),
    call: <C extends ViewCall>(msg: C) => {
      try {
        return Promise.resolve(this.store.call(msg)) as Promise<ViewAnswers[C['op']]>;
      } catch (err) {
        return Promise.reject(err);
      }
    },
  };

  open(dim: number, metric: Metric): ViewHandle {
    const id = this.nextView++;
    this.store.post({ op: 'open', view: id, dim, metric });
    return new ViewHandle({ dim, metric, channel: this.channel, id });
  }

  segmentLoads(): Promise<number> {
    return this.channel.call({ op: 'loads' });
  }

  drop(view: ViewHandle): void {
    this.store.post({ op: 'drop', view: view.id });
  }

  async close(): Promise<void> {
    await nativeIdle(); // a load in flight on this thread finishes before its scratch goes
    resetScratchDir(this.opts.scratchDir, false);
  }
}
