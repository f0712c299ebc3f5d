import { randomUUID } from 'node:crypto';
import { isSyncError } from '../errors.ts';
import type { AckTracker } from './ack-tracker.ts';
import type { ActivateOptions } from './generations.ts';

/** Where one region stands on an activation's fence while it waits. */
export interface RegionWait {
  region: string;
  appliedSeq: number;
  /** WAL entries it still lacks of the fence. */
  behind: number;
  /** Share of the way from where it stood when the activation began to the fence (0–100). */
  percent: number;
}

/** An activation followed in the background (`async: true`; `GET /v1/activations/:id`). */
export interface ActivationStatus<R = unknown> {
  id: string;
  /** waiting for the gate; committed; refused (activation_blocked, a conflict); failed (anything else). */
  state: 'waiting' | 'committed' | 'refused' | 'failed';
  startedAt: string;
  /** The fence once taken, and each region's way to it (live while waiting). */
  fence: number | null;
  regions: RegionWait[];
  result: R | null;
  error: { code: string; message: string; details?: unknown } | null;
}

interface Task {
  status: ActivationStatus;
  baseline: Map<string, number>;
  regions: readonly string[];
  finishedAt: number | null;
}

/** How many finished activations are kept for their status, and for how long. */
const KEEP = 64;
const KEEP_MS = 15 * 60_000;

/**
 * Activations that answer 202 at once and run on (issue 14): the caller follows each by
 * id and sees every region's progress to the fence ("eu-west 62 % applied"), then the
 * commit or the refusal. Kept in the primary's memory: a primary that restarts forgets
 * them (the activation itself is then either in the WAL or not; `GET /v1/collections`
 * says which generation is active).
 */
export class ActivationTasks {
  private readonly tasks = new Map<string, Task>();

  constructor(private readonly acks: AckTracker) {}

  /** Starts `run` (an activation) in the background; returns its id. */
  start<R>(run: (opts: Pick<ActivateOptions, 'onFence'>) => Promise<R>): string {
    this.prune();
    const id = randomUUID();
    const task: Task = {
      status: {
        id,
        state: 'waiting',
        startedAt: new Date().toISOString(),
        fence: null,
        regions: [],
        result: null,
        error: null,
      },
      baseline: new Map(),
      regions: [],
      finishedAt: null,
    };
    this.tasks.set(id, task);
    const onFence = (fence: number, regions: readonly string[]) => {
      task.status.fence = fence;
      task.regions = regions;
      for (const r of regions) task.baseline.set(r, Math.min(fence, this.acks.position(r)));
    };
    run({ onFence }).then(
      (result) => this.finish(task, 'committed', result, null),
      (err: unknown) =>
        this.finish(
          task,
          isSyncError(err) &&
            (err.code === 'activation_blocked' ||
              err.code === 'generation_conflict' ||
              err.code === 'unknown_collection')
            ? 'refused'
            : 'failed',
          null,
          {
            code: isSyncError(err) ? err.code : 'internal',
            message: err instanceof Error ? err.message : String(err),
            ...(isSyncError(err) && err.details !== undefined ? { details: err.details } : {}),
          },
        ),
    );
    return id;
  }

  /** The status of an activation, with live region progress while it waits; null when unknown. */
  status(id: string): ActivationStatus | null {
    const task = this.tasks.get(id);
    if (!task) return null;
    if (task.status.state === 'waiting') task.status.regions = this.progress(task);
    return task.status;
  }

  private progress(task: Task): RegionWait[] {
    const fence = task.status.fence;
    if (fence === null) return [];
    return task.regions.map((region) => {
      const appliedSeq = Math.min(fence, this.acks.position(region));
      const base = task.baseline.get(region) ?? 0;
      const percent =
        fence <= base ? 100 : Math.floor(((appliedSeq - base) / (fence - base)) * 100);
      return { region, appliedSeq, behind: fence - appliedSeq, percent };
    });
  }

  private finish(
    task: Task,
    state: ActivationStatus['state'],
    result: unknown,
    error: ActivationStatus['error'],
  ): void {
    task.status.regions = this.progress(task);
    task.status.state = state;
    task.status.result = result;
    task.status.error = error;
    task.finishedAt = Date.now();
  }

  private prune(): void {
    const now = Date.now();
    const finished = [...this.tasks.values()].filter((t) => t.finishedAt !== null);
    for (const t of finished) {
      if (now - t.finishedAt! > KEEP_MS) this.tasks.delete(t.status.id);
    }
    const left = finished.filter((t) => this.tasks.has(t.status.id));
    for (const t of left.slice(0, Math.max(0, left.length - KEEP))) this.tasks.delete(t.status.id);
  }
}
