/**
 * The cutover suite's query load and its checks. Closed-loop workers send k-NN queries to
 * a region's router at one consistency level, each naming a generation or not; every
 * answer is recorded with when it was sent and received, the generation it names, the
 * applied seq it was served at and the `gen` tags of its results. Once the activations'
 * seqs are known, `checkQueries` says which answers were wrong.
 */
import type { QueryResponse } from '../../../services/api.ts';
import type { JsonClient } from '../regions/http-client.ts';
import { MODEL_A, MODEL_B, TAG } from './data.ts';

export const LEVELS = ['eventual', 'bounded', 'session', 'strong'] as const;
export type Level = (typeof LEVELS)[number];

export interface QueryRecord {
  phase: string;
  /** The region whose router was asked. */
  via: string;
  level: Level;
  /** The generation the query named (null: the active one). */
  model: string | null;
  /** performance.now() ms. */
  start: number;
  end: number;
  status: number;
  code?: string;
  generation?: string;
  appliedSeq?: number;
  servedBy?: string;
  /** The distinct `gen` tags of its results. */
  tags?: string[];
}

export interface WorkerSpec {
  via: string;
  client: JsonClient;
  level: Level;
  /** The generation query `i` of this worker names (null: none). */
  model: (i: number) => string | null;
  /** A session token (from a write of this worker's own). */
  token?: string;
}

export class QueryLoad {
  readonly records: QueryRecord[] = [];
  phase = 'init';
  private stopped = true;
  private workers: Promise<void>[] = [];
  private next = 0;

  constructor(
    private readonly o: {
      collection: string;
      k: number;
      boundMs: number;
      /** Query vectors per generation (index i of each is the same item). */
      pools: Record<string, number[][]>;
    },
  ) {}

  start(specs: WorkerSpec[]): void {
    this.stopped = false;
    for (const spec of specs) this.workers.push(this.worker(spec));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.workers);
    this.workers = [];
  }

  /** Answered (2xx) queries that completed in [t0, t1] (performance.now ms). */
  answeredBetween(t0: number, t1: number): number {
    return this.latenciesBetween(t0, t1).length;
  }

  /** The latency (ms) of each answered query that completed in [t0, t1]. */
  latenciesBetween(t0: number, t1: number): number[] {
    return this.records
      .filter((r) => r.status === 200 && r.end >= t0 && r.end <= t1)
      .map((r) => r.end - r.start);
  }

  private async worker(spec: WorkerSpec): Promise<void> {
    let token = spec.token;
    const path = `/v1/collections/${this.o.collection}/query`;
    for (let i = 0; !this.stopped; i++) {
      const model = spec.model(i);
      const pool = this.o.pools[model ?? MODEL_A]!;
      const vector = pool[this.next++ % pool.length]!;
      const body = {
        vector,
        k: this.o.k,
        consistency: spec.level,
        ...(model ? { model } : {}),
        ...(spec.level === 'bounded' ? { maxStalenessMs: this.o.boundMs } : {}),
        ...(spec.level === 'session' && token ? { token } : {}),
      };
      const phase = this.phase;
      const start = performance.now();
      let status = 0;
      let res: unknown = null;
      try {
        const r = await spec.client.send<unknown>('POST', path, body);
        status = r.status;
        res = r.body;
      } catch (err) {
        res = { error: { code: 'client', message: (err as Error).message } };
      }
      const end = performance.now();
      const rec: QueryRecord = {
        phase,
        via: spec.via,
        level: spec.level,
        model,
        start,
        end,
        status,
      };
      if (status === 200) {
        const q = res as QueryResponse;
        rec.generation = q.generation;
        rec.appliedSeq = q.appliedSeq;
        rec.servedBy = `${q.region}/${q.node}`;
        rec.tags = [
          ...new Set(q.results.map((h) => String((h.metadata as { gen?: unknown })?.gen))),
        ];
        if (spec.level === 'session') token = q.token;
      } else {
        const e = (res as { error?: { code?: string } } | null)?.error;
        rec.code = `${status} ${e?.code ?? 'unknown'}`;
      }
      this.records.push(rec);
    }
  }
}

/** One activation as the checks need it. */
export interface ActivationEvent {
  model: string;
  /** The WAL seq of the activation entry. */
  seq: number;
  /** performance.now() ms: the activate request sent, and its answer received. */
  sentAt: number;
  answeredAt: number;
}

export interface QueryChecks {
  total: number;
  failed: number;
  wrong_generation: number;
  mixed: number;
  b_before_commit: number;
  failed_by_code: Record<string, number>;
  wrong_by_reason: Record<string, number>;
  by_phase: Record<string, { total: number; failed: number; wrong: number; mixed: number }>;
  by_level: Record<string, { total: number; failed: number; wrong: number }>;
  served_by: Record<string, number>;
  first_wrong: QueryRecord[];
}

/**
 * Checks every answer against the activations (in order; A active before the first):
 *
 * - failed: not a 200;
 * - wrong_generation: a query that named a model answered by another; one that named none
 *   answered by a generation other than the one active at the seq it was served at (the
 *   last activation with seq ≤ appliedSeq); a strong query answered by a generation that
 *   was not active at any moment between its start and its end (as the activate requests
 *   and answers bound the commits); or results whose `gen` tag is not the generation the answer names;
 * - b_before_commit: named none, answered by B at an applied seq below the first
 *   activation's seq, or received before that activation was even asked;
 * - mixed: results tagged with both generations.
 */
export function checkQueries(records: QueryRecord[], events: ActivationEvent[]): QueryChecks {
  const out: QueryChecks = {
    total: records.length,
    failed: 0,
    wrong_generation: 0,
    mixed: 0,
    b_before_commit: 0,
    failed_by_code: {},
    wrong_by_reason: {},
    by_phase: {},
    by_level: {},
    served_by: {},
    first_wrong: [],
  };
  const first = events.find((e) => e.model === MODEL_B);
  const activeAtSeq = (seq: number): string => {
    let m = MODEL_A;
    for (const e of events) if (e.seq <= seq) m = e.model;
    return m;
  };
  // Which generation is active when, as the client sees it: the previous one until the
  // activate answer arrived, the new one from the moment the request was sent.
  const spans: Array<{ model: string; from: number; to: number }> = [];
  let prev = { model: MODEL_A, from: -Infinity };
  for (const e of events) {
    spans.push({ ...prev, to: e.answeredAt });
    prev = { model: e.model, from: e.sentAt };
  }
  spans.push({ ...prev, to: Infinity });
  /** A strong read may see any generation active at some moment between its start and end. */
  const strongMay = (r: QueryRecord): Set<string> =>
    new Set(spans.filter((s) => s.from <= r.end && s.to >= r.start).map((s) => s.model));
  const bump = (o: Record<string, number>, key: string) => (o[key] = (o[key] ?? 0) + 1);
  for (const r of records) {
    const phase = (out.by_phase[r.phase] ??= { total: 0, failed: 0, wrong: 0, mixed: 0 });
    const level = (out.by_level[r.level] ??= { total: 0, failed: 0, wrong: 0 });
    phase.total++;
    level.total++;
    if (r.status !== 200) {
      out.failed++;
      phase.failed++;
      level.failed++;
      bump(out.failed_by_code, r.code ?? String(r.status));
      continue;
    }
    bump(out.served_by, r.servedBy ?? '?');
    const reasons: string[] = [];
    const gen = r.generation!;
    const seq = r.appliedSeq ?? 0;
    if (r.model) {
      if (gen !== r.model) reasons.push('named another model');
    } else {
      if (gen !== activeAtSeq(seq)) reasons.push('not the generation active at its appliedSeq');
      if (r.level === 'strong') {
        if (!strongMay(r).has(gen))
          reasons.push('strong read of a generation not active during it');
      }
      if (gen === MODEL_B && first && (seq < first.seq || r.end < first.sentAt)) {
        out.b_before_commit++;
      }
    }
    const tags = r.tags ?? [];
    if (tags.length > 1) {
      out.mixed++;
      phase.mixed++;
    }
    if (tags.length === 1 && tags[0] !== TAG[gen]) reasons.push('results of another generation');
    if (reasons.length > 0) {
      out.wrong_generation++;
      phase.wrong++;
      level.wrong++;
      for (const why of reasons) bump(out.wrong_by_reason, why);
      if (out.first_wrong.length < 5) out.first_wrong.push(r);
    }
  }
  return out;
}

/** Query `i` of a worker: a sixth name A, a sixth B, the rest none (staggered per worker). */
export function mixedModels(offset: number): (i: number) => string | null {
  const cycle = [null, MODEL_A, null, MODEL_B, null, null];
  return (i) => cycle[(i + offset) % cycle.length]!;
}
