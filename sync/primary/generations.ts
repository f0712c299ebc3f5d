import { randomUUID } from 'node:crypto';
import type { Catalog, Generation } from '../../catalog/index.ts';
import { publishCollectionDef } from '../catalog-stream.ts';
import type { NatsLink } from '../connection.ts';
import { SyncError } from '../errors.ts';
import { applyCollectionDef } from '../replica/collection-def.ts';
import type { Replica } from '../replica/replica.ts';
import type { WalEntry } from '../wal-codec.ts';
import type { AckTracker } from './ack-tracker.ts';
import { ActivationTasks } from './activation-tasks.ts';
import { coverageOf } from '../replica/coverage.ts';
import type { Coverage } from '../replica/coverage.ts';

/** Which regions must have applied the staging generation before an activation commits. */
export type ActivationPolicy = 'all' | 'quorum' | 'primary';

export interface ActivateOptions {
  policy?: ActivationPolicy;
  /** How long to wait for the regions to reach the fence (ms); 0 checks once. */
  timeoutMs?: number;
  /**
   * The share of the active generation's ids the new one must hold (0–1; default 1),
   * measured on the primary just before the commit, for a rollback too.
   */
  minCoverage?: number;
  /** Told the fence and the regions once they are taken (an activation followed in the background). */
  onFence?: (fence: number, regions: readonly string[]) => void;
}

/** One region of the gate, as it stood when the activation committed or was refused. */
export interface RegionProgress {
  region: string;
  appliedSeq: number;
  /** WAL entries it still lacked of the fence (0 when it had reached it). */
  behind: number;
}

/** A generation an activation makes active, with what it replaces and where it lives. */
interface ActivationTarget {
  collection: string;
  generation: Generation;
  previous: string | null;
  regions: readonly string[];
}

/** A commit group as committed: every member flipped with the group's last entry. */
export interface GroupActivation {
  group: string;
  /** The seq of the group's last entry: a replica that applied it shows every member flipped. */
  seq: number;
  fence: number;
  policy: ActivationPolicy;
  regions: RegionProgress[];
  members: Array<{
    collection: string;
    activated: string;
    retired: string | null;
    /** This member's entry (the group flips with the last one, `seq`). */
    seq: number;
    coverage: Coverage | null;
  }>;
}

export interface Activation {
  collection: string;
  /** The generation active from `seq` on. */
  activated: string;
  /** The generation it replaced (retired, still queryable by name), if any. */
  retired: string | null;
  /** The WAL seq of the activation entry: a replica that applied it serves `activated`. */
  seq: number;
  /** The WAL position every gated region had applied before the commit. */
  fence: number;
  policy: ActivationPolicy;
  regions: RegionProgress[];
  /** The coverage measured before the commit (null on a rollback, not measured). */
  coverage: Coverage | null;
}

/**
 * The primary's side of embedding-model generations (issue 14): stage a generation
 * beside the active one, activate one behind a gate on the regions' applied positions,
 * drop one that is not active. A definition change (stage, drop) is published on CATALOG;
 * an activation is a WAL entry, committed at a known seq, and published on CATALOG once
 * the primary's own catalog has it.
 */
export class GenerationLifecycle {
  /** Activations that answered 202 and run on; followed by id. */
  readonly tasks: ActivationTasks;
  /** Generations an activation is under way for (collection\0model → how many): not droppable. */
  private readonly activating = new Map<string, number>();
  /** Generations a drop is under way for: no activation may start on them. */
  private readonly dropping = new Set<string>();

  constructor(
    private readonly o: {
      link: NatsLink;
      catalog: Catalog;
      replica: Replica;
      acks: AckTracker;
      region: string;
      regions: readonly string[];
      /** The last committed WAL seq. */
      committedSeq: () => number;
      /** Appends a control entry through the write path (lease checked); resolves with its seq. */
      commit: (entry: WalEntry) => Promise<number>;
      /**
       * Refuses new writes to a generation (with `why`), waits for those in flight to be
       * appended, then runs `then`.
       */
      quiesce: (
        collection: string,
        model: string,
        why: () => SyncError,
        then: () => Promise<void>,
      ) => Promise<void>;
    },
  ) {
    this.tasks = new ActivationTasks(o.acks);
  }

  /**
   * Checks that each member can be activated (it exists and is not active), as an
   * activation would first: an activation followed in the background is refused at once.
   */
  preflight(members: ReadonlyArray<{ collection: string; model: string }>): void {
    for (const m of members) this.resolve(m.collection, m.model);
  }

  /**
   * Adds a staging generation beside the active one and publishes the definition. At most
   * one staging generation: a second, or a model the collection has, is `generation_conflict`.
   */
  async stage(collection: string, model: string, dim: number): Promise<Generation> {
    const { catalog } = this.o;
    const gens = this.generations(collection);
    const same = gens.find((g) => g.model === model);
    if (same) {
      throw new SyncError(
        'generation_conflict',
        `collection ${collection} already has generation ${model} (${same.state})`,
        {
          details: { collection, model, state: same.state },
        },
      );
    }
    const staging = gens.find((g) => g.state === 'staging');
    if (staging) {
      throw new SyncError(
        'generation_conflict',
        `collection ${collection} already has a staging generation (${staging.model}): activate or drop it first`,
        { details: { collection, staging: staging.model } },
      );
    }
    const added = catalog.addGeneration(collection, model, dim, 'staging');
    await this.publish(collection);
    return added;
  }

  /**
   * Makes `model` the active generation once the regions the policy names have applied
   * the WAL up to the fence (the last commit when it was asked: every write to the staging
   * generation made before the request). The commit is a WAL entry; the primary serves the
   * new generation as active from it on, each replica from the moment it applies it. The
   * previous active generation is retired and stays queryable by name: activating it again
   * is the rollback. Refused with `activation_blocked` (409, naming each region behind)
   * when the gate is not met within `timeoutMs`.
   */
  async activate(
    collection: string,
    model: string,
    opts: ActivateOptions = {},
  ): Promise<Activation> {
    const policy = opts.policy ?? 'all';
    const target = this.resolve(collection, model);
    return this.holding([target], () => this.activateOne(target, policy, opts));
  }

  private async activateOne(
    target: ActivationTarget,
    policy: ActivationPolicy,
    opts: ActivateOptions,
  ): Promise<Activation> {
    const { collection } = target;
    const model = target.generation.model;
    const { fence, progress } = await this.gate([target], policy, opts);
    let coverage: Coverage | null = null;
    let seq = 0;
    await this.switching([target], async () => {
      coverage = await this.checkCoverage(collection, target.generation, opts.minCoverage ?? 1);
      seq = await this.o.commit({ op: 'activate', collection, generation: model });
    });
    // The primary's catalog records the switch when its own WAL follower stores the entry;
    // the definition published after that carries the new states (for new replicas).
    await this.o.replica.waitUntil(
      () => this.o.replica.appliedSeq >= seq,
      30_000,
      'the activation',
    );
    await this.publish(collection);
    return {
      collection,
      activated: model,
      retired: target.previous,
      seq,
      fence,
      policy,
      regions: progress,
      coverage,
    };
  }

  /**
   * A commit group (issue 14): activates several collections' generations so that every
   * region shows all of them flipped or none. One gate over every region that holds a
   * member, one coverage check per member, then one activation entry per member, each
   * naming the whole group; a replica flips the members it holds with the last of their
   * entries (see `CommitGroup`). The primary flips its own views once every entry is
   * appended. A primary lost between the entries leaves a group no replica ever flips;
   * the request failed, and retrying it is a new group.
   */
  async activateGroup(
    members: ReadonlyArray<{ collection: string; model: string }>,
    opts: ActivateOptions = {},
  ): Promise<GroupActivation> {
    const policy = opts.policy ?? 'all';
    const targets = members.map((m) => this.resolve(m.collection, m.model));
    return this.holding(targets, () => this.activateAll(targets, policy, opts));
  }

  private async activateAll(
    targets: readonly ActivationTarget[],
    policy: ActivationPolicy,
    opts: ActivateOptions,
  ): Promise<GroupActivation> {
    const { fence, progress } = await this.gate(targets, policy, opts);
    const coverage: Array<Coverage | null> = [];
    const group = {
      id: randomUUID(),
      members: targets.map((t) => ({ collection: t.collection, generation: t.generation.model })),
    };
    const seqs: number[] = [];
    await this.switching(targets, async () => {
      for (const t of targets) {
        coverage.push(await this.checkCoverage(t.collection, t.generation, opts.minCoverage ?? 1));
      }
      for (const m of group.members) {
        seqs.push(await this.o.commit({ op: 'activate', ...m, group }));
      }
      for (const m of group.members) this.o.replica.views.activate(m.collection, m.generation);
    });
    const last = seqs[seqs.length - 1]!;
    await this.o.replica.waitUntil(
      () => this.o.replica.appliedSeq >= last,
      30_000,
      'the commit group',
    );
    for (const t of targets) await this.publish(t.collection);
    return {
      group: group.id,
      seq: last,
      fence,
      policy,
      regions: progress,
      members: targets.map((t, i) => ({
        collection: t.collection,
        activated: t.generation.model,
        retired: t.previous,
        seq: seqs[i]!,
        coverage: coverage[i] ?? null,
      })),
    };
  }

  /**
   * Runs an activation with its targets marked as under way: a drop of one of them is
   * refused meanwhile. An activation entry of a generation dropped before it would name a
   * generation no replica can ever learn (its WAL followers would wait for its definition).
   */
  private async holding<R>(
    targets: readonly ActivationTarget[],
    run: () => Promise<R>,
  ): Promise<R> {
    const keys = targets.map((t) => `${t.collection}\u0000${t.generation.model}`);
    const dropped = targets.find((_, i) => this.dropping.has(keys[i]!));
    if (dropped) {
      throw new SyncError(
        'generation_conflict',
        `generation ${dropped.generation.model} of ${dropped.collection} is being dropped`,
        { details: { collection: dropped.collection, model: dropped.generation.model } },
      );
    }
    for (const k of keys) this.activating.set(k, (this.activating.get(k) ?? 0) + 1);
    try {
      return await run();
    } finally {
      for (const k of keys) {
        const n = (this.activating.get(k) ?? 1) - 1;
        if (n <= 0) this.activating.delete(k);
        else this.activating.set(k, n);
      }
    }
  }

  /**
   * Runs an activation's coverage check and commit with no write in flight to the
   * generations it retires, and none let in meanwhile (503 `write_stalled`, retry): the
   * coverage measured is what the new generation has when it takes over, and no write
   * acknowledged to the old active generation lands after the switch.
   */
  private async switching(
    targets: readonly ActivationTarget[],
    commit: () => Promise<void>,
  ): Promise<void> {
    const outgoing = targets.filter((t) => t.previous !== null);
    const step = async (i: number): Promise<void> => {
      if (i === outgoing.length) return commit();
      const t = outgoing[i]!;
      const why = () =>
        new SyncError(
          'write_stalled',
          `the active generation of ${t.collection} is switching to ${t.generation.model}: retry in a moment`,
          { transient: true, details: { collection: t.collection, model: t.previous } },
        );
      return this.o.quiesce(t.collection, t.previous!, why, () => step(i + 1));
    };
    return step(0);
  }

  /** The generation to activate, checked: it exists and is not active already. */
  private resolve(collection: string, model: string): ActivationTarget {
    const gens = this.generations(collection);
    const generation = gens.find((g) => g.model === model);
    if (!generation) {
      throw new SyncError(
        'unknown_collection',
        `collection ${collection} has no generation ${model}`,
        {
          details: { collection, model, models: gens.map((g) => g.model) },
        },
      );
    }
    if (generation.state === 'active') {
      throw new SyncError(
        'generation_conflict',
        `generation ${model} of ${collection} is already active`,
        {
          details: { collection, model },
        },
      );
    }
    const settings = this.o.catalog.getCollection(collection)!;
    return {
      collection,
      generation,
      previous: gens.find((g) => g.state === 'active')?.model ?? null,
      regions: settings.placement ?? this.o.regions,
    };
  }

  /**
   * Waits until the regions the policy names (among every region holding a target) have
   * applied the WAL up to the fence: the last commit when it was asked, so every write to
   * the new generations made before the request. Refused with `activation_blocked` (409,
   * naming each region behind) when that is not so within `timeoutMs`.
   */
  private async gate(
    targets: readonly ActivationTarget[],
    policy: ActivationPolicy,
    opts: ActivateOptions,
  ): Promise<{ fence: number; progress: RegionProgress[] }> {
    const fence = this.o.committedSeq();
    const regions = [...new Set(targets.flatMap((t) => t.regions))];
    opts.onFence?.(fence, regions);
    const timeoutMs = opts.timeoutMs ?? 0;
    const needed =
      policy === 'all'
        ? regions.length
        : policy === 'quorum'
          ? Math.floor(regions.length / 2) + 1
          : 1;
    const gate = await this.o.acks.gate(fence, regions, needed, timeoutMs);
    const progress = regions.map((region) => {
      const appliedSeq = region === this.o.region ? fence : (gate.applied.get(region) ?? 0);
      return { region, appliedSeq, behind: Math.max(0, fence - appliedSeq) };
    });
    if (!gate.met) {
      const behind = progress.filter((p) => p.behind > 0);
      const what = targets.map((t) => `${t.collection}/${t.generation.model}`).join(', ');
      throw new SyncError(
        'activation_blocked',
        `activation of ${what} (policy ${policy}) needs ${needed} of ${regions.length} regions at WAL seq ${fence}; behind: ${behind.map((p) => `${p.region} by ${p.behind}`).join(', ')}`,
        {
          details: {
            ...(targets.length === 1
              ? { collection: targets[0]!.collection, model: targets[0]!.generation.model }
              : {
                  members: targets.map((t) => ({
                    collection: t.collection,
                    model: t.generation.model,
                  })),
                }),
            policy,
            fence,
            needed,
            regions: progress,
          },
        },
      );
    }
    return { fence, progress };
  }

  /**
   * Refuses an activation whose generation holds less than `min` of the active one's ids
   * (409 `activation_blocked` with the figures). A rollback is measured too: points
   * written since the cutover went to the active generation only, and a rollback that
   * would lose them says so (pass a lower `minCoverage` to roll back anyway).
   */
  private async checkCoverage(
    collection: string,
    target: Generation,
    min: number,
  ): Promise<Coverage | null> {
    const coverage = await coverageOf((m) => this.o.replica.served(collection, m), target.model);
    if (coverage && coverage.ratio < min) {
      throw new SyncError(
        'activation_blocked',
        `generation ${target.model} of ${collection} holds ${coverage.covered} of the ${coverage.reference} ids of ${coverage.of} (coverage ${coverage.ratio.toFixed(4)} < minCoverage ${min}); missing e.g. ${coverage.missingSample.slice(0, 3).join(', ')}`,
        { details: { collection, model: target.model, minCoverage: min, coverage } },
      );
    }
    return coverage;
  }

  /** Drops a staging or retired generation; the active one is `generation_conflict`. */
  async drop(collection: string, model: string): Promise<void> {
    const gens = this.generations(collection);
    const g = gens.find((x) => x.model === model);
    if (!g) {
      throw new SyncError(
        'unknown_collection',
        `collection ${collection} has no generation ${model}`,
        {
          details: { collection, model },
        },
      );
    }
    if (this.activating.has(`${collection}\u0000${model}`)) {
      throw new SyncError(
        'generation_conflict',
        `an activation of ${collection}/${model} is under way: wait for it (GET /v1/activations/:id) before dropping the generation`,
        { details: { collection, model } },
      );
    }
    if (g.state === 'active') {
      throw new SyncError(
        'generation_conflict',
        `generation ${model} of ${collection} is active: activate another one before dropping it`,
        {
          details: { collection, model },
        },
      );
    }
    // Writes to it already validated must land before the definition that drops it names
    // its walSeq: an entry of a dropped generation above that seq would keep every WAL
    // follower waiting for a definition that never comes. No activation starts meanwhile,
    // and one that started before the wait ended is checked for again.
    const key = `${collection}\u0000${model}`;
    this.dropping.add(key);
    try {
      const why = () =>
        new SyncError(
          'generation_conflict',
          `generation ${model} of ${collection} is being dropped`,
          {
            details: { collection, model },
          },
        );
      await this.o.quiesce(collection, model, why, async () => {
        const now = this.generations(collection).find((x) => x.model === model);
        if (this.activating.has(key) || now?.state === 'active') {
          throw new SyncError(
            'generation_conflict',
            `generation ${model} of ${collection} was activated while the drop waited: not dropped`,
            { details: { collection, model } },
          );
        }
        if (!now) return;
        this.o.catalog.dropGeneration(collection, model);
        this.o.replica.views.drop(collection, model);
        await this.publish(collection);
      });
    } finally {
      this.dropping.delete(key);
    }
  }

  /**
   * The generations a delete without a model reaches: every one this collection keeps —
   * the active one, a staging one being backfilled, and a retired one, so a rollback
   * never brings back what was deleted after the cutover.
   */
  live(collection: string): Generation[] {
    return this.generations(collection);
  }

  private generations(collection: string): Generation[] {
    if (!this.o.catalog.getCollection(collection)) {
      throw new SyncError('unknown_collection', `no collection named ${collection}`, {
        details: { collection },
      });
    }
    return this.o.catalog.listGenerations(collection);
  }

  private async publish(collection: string): Promise<void> {
    const settings = this.o.catalog.getCollection(collection)!;
    const def = {
      settings,
      generations: this.o.catalog.listGenerations(collection),
      walSeq: this.o.committedSeq(),
    };
    applyCollectionDef(this.o.catalog, this.o.replica.views, def);
    await publishCollectionDef(this.o.link.js, def);
  }
}
