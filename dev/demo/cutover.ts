/**
 * `npm run demo -- --cutover`: an embedding-model rollout across the three regions, with
 * queries running from every region's router the whole time (issue 14).
 *
 * The "new model" is the old one followed by a fixed isometry (a seeded permutation and
 * sign flip of the 384 dimensions): the demo has no second real embedder, and with an
 * isometry a query embedded by either model must find the same passages, which the demo
 * checks. Steps: stage it, backfill it (with `sourceSeq`), show its coverage, activate it
 * with policy `all` while printing each region's progress, show every region answering
 * with it, roll back, and print what the queries saw.
 */
import { until } from '../../lib/wait.ts';
import type { LaunchedCluster } from '../cluster/launcher.ts';
import { seededRandom } from '../harness/datasets.ts';
import type { FioriRecord } from './fiori.ts';

export const OLD_MODEL = 'minilm-l6@1';
export const NEW_MODEL = 'minilm-l6-rot@2';
const LEVELS = ['eventual', 'bounded', 'session', 'strong'] as const;

/** The fields of the API's answers this demo reads (services/api.ts has the whole shapes). */
interface Answer {
  token?: string;
  generation?: string;
  results?: Array<{ id: string }>;
  appliedSeq?: number;
  skipped?: { count: number };
  href?: string;
  state?: string;
  regions?: Array<{ region: string; percent: number }>;
  error?: unknown;
  result?: { seq: number };
  generations?: Array<{ model: string; coverage: { ratio: number; missing: number } | null }>;
}

/** What the queries of the rollout saw. */
export interface CutoverReport {
  queries: number;
  failed: number;
  /** Answers from a generation other than the one the query named. */
  wrongGeneration: number;
  /** Queries that named a model and got another passage than the old model's top-1. */
  differentTop1: number;
  /** Each region's flip after the activation and the rollback was answered (ms). */
  flipMs: Record<string, number>;
  rollbackMs: Record<string, number>;
  /** The first few failed queries, as answered. */
  failures: string[];
}

/** The new model's embedding of an old-model vector: a seeded permutation with sign flips. */
export function newModelOf(dim: number): (v: ArrayLike<number>) => number[] {
  const rand = seededRandom(384);
  const perm = Array.from({ length: dim }, (_, i) => i);
  for (let i = dim - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  const sign = Array.from({ length: dim }, () => (rand() < 0.5 ? -1 : 1));
  return (v) => perm.map((p, i) => v[p]! * sign[i]!);
}

export async function runCutoverDemo(o: {
  cluster: LaunchedCluster;
  apiKey: string;
  fiori: { dim: number; records: FioriRecord[] };
  say: (line: string) => void;
}): Promise<CutoverReport> {
  const primary = o.cluster.regions.find((r) => r.primary)!;
  const api = async (base: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${o.apiKey}`, 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Answer };
  };
  const must = async (method: string, path: string, body?: unknown) => {
    const r = await api(primary.routerUrl, method, path, body);
    if (r.status >= 300)
      throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const embed = newModelOf(o.fiori.dim);
  const records = o.fiori.records;

  o.say(`cutover: staging ${NEW_MODEL} beside ${OLD_MODEL}`);
  await must('POST', '/v1/collections/fiori/generations', { model: NEW_MODEL, dim: o.fiori.dim });

  // Queries from every region's router, at every level, naming a model or not.
  const report: CutoverReport = {
    queries: 0,
    failed: 0,
    wrongGeneration: 0,
    differentTop1: 0,
    flipMs: {},
    rollbackMs: {},
    failures: [],
  };
  let running = true;
  const client = async (routerUrl: string, seed: number) => {
    const rand = seededRandom(seed);
    let token: string | undefined;
    while (running) {
      const rec = records[Math.floor(rand() * records.length)]!;
      const level = LEVELS[Math.floor(rand() * LEVELS.length)]!;
      const model = rand() < 0.5 ? OLD_MODEL : NEW_MODEL;
      // Until the new model holds the passages, the clients ask the old one by name.
      const ask = backfilled ? model : OLD_MODEL;
      const r = await api(routerUrl, 'POST', '/v1/collections/fiori/query', {
        vector: ask === NEW_MODEL ? embed(rec.vector) : Array.from(rec.vector),
        k: 1,
        model: ask,
        consistency: level,
        ...(level === 'bounded' ? { maxStalenessMs: 2_000 } : {}),
        ...(token ? { token } : {}),
      });
      report.queries++;
      if (r.status !== 200) {
        report.failed++;
        if (report.failures.length < 5) {
          report.failures.push(
            `${level} ${ask}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`,
          );
        }
        continue;
      }
      token = r.body.token;
      if (r.body.generation !== ask) report.wrongGeneration++;
      if (r.body.results?.[0]?.id !== rec.id) report.differentTop1++;
    }
  };
  let backfilled = false;
  const clients = o.cluster.regions.map((r, i) => client(r.routerUrl, 7 + i));

  try {
    const source = await must('POST', '/v1/collections/fiori/points/get', {
      ids: [records[0]!.id],
      consistency: 'strong',
    });
    o.say(`cutover: backfilling ${records.length} passages (sourceSeq ${source.appliedSeq})`);
    let skipped = 0;
    for (let i = 0; i < records.length; i += 200) {
      const points = records.slice(i, i + 200).map((r) => ({ id: r.id, vector: embed(r.vector) }));
      const w = await must('POST', '/v1/collections/fiori/points', {
        points,
        model: NEW_MODEL,
        sourceSeq: source.appliedSeq,
      });
      skipped += w.skipped?.count ?? 0;
    }
    const gens = (await must('GET', '/v1/collections/fiori')).generations as Array<{
      model: string;
      coverage: { ratio: number; missing: number } | null;
    }>;
    const cov = gens.find((g) => g.model === NEW_MODEL)?.coverage;
    o.say(
      `cutover: ${NEW_MODEL} covers ${((cov?.ratio ?? 0) * 100).toFixed(1)} % of ${OLD_MODEL} (${cov?.missing ?? '?'} missing, ${skipped} skipped as changed since)`,
    );
    backfilled = true;

    report.flipMs = await flip(NEW_MODEL, 'activating');
    report.rollbackMs = await flip(OLD_MODEL, 'rolling back to');
  } finally {
    running = false;
    await Promise.all(clients);
  }
  o.say(
    `cutover: ${report.queries} queries from every region during the rollout: ${report.failed} failed, ${report.wrongGeneration} answered by another generation than named, ${report.differentTop1} with another top-1 passage than the old model's`,
  );
  for (const f of report.failures) o.say(`cutover:   failed: ${f}`);
  return report;

  /** Activates `model` (policy all) following its progress; returns each region's flip time. */
  async function flip(model: string, verb: string): Promise<Record<string, number>> {
    o.say(`cutover: ${verb} ${model} (policy all)`);
    const started = await must('POST', `/v1/collections/fiori/generations/${model}/activate`, {
      policy: 'all',
      timeoutMs: 60_000,
      async: true,
    });
    let status: Answer;
    let lastLine = '';
    for (;;) {
      status = await must('GET', started.href!);
      if (status.state !== 'waiting') break;
      const line = (status.regions ?? [])
        .map((r) => `${r.region} ${r.percent} % applied`)
        .join(', ');
      if (line && line !== lastLine) o.say(`cutover:   ${line}`);
      lastLine = line;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (status.state !== 'committed')
      throw new Error(`activation ${status.state}: ${JSON.stringify(status.error)}`);
    const committedAt = performance.now();
    const flips: Record<string, number> = {};
    await Promise.all(
      o.cluster.regions.map(async (r) => {
        const ok = await until(
          async () => {
            const q = await api(r.routerUrl, 'POST', '/v1/collections/fiori/query', {
              vector: Array.from(
                model === NEW_MODEL ? embed(records[0]!.vector) : records[0]!.vector,
              ),
              k: 1,
              consistency: 'eventual',
            });
            return q.status === 200 && q.body.generation === model;
          },
          { timeoutMs: 30_000, pollMs: 10 },
        );
        if (!ok) throw new Error(`region ${r.name} did not flip to ${model}`);
        flips[r.name] = Math.round(performance.now() - committedAt);
      }),
    );
    o.say(
      `cutover: ${model} is active at WAL seq ${status.result?.seq}; every region answers with it (${Object.entries(
        flips,
      )
        .map(([r, ms]) => `${r} +${ms} ms`)
        .join(', ')})`,
    );
    return flips;
  }
}
