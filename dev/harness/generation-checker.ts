/**
 * Generation checks for recorded query histories (issue 14), beside the consistency
 * checker's read levels: which embedding-model generation answered each query, against
 * what the query named and what was active at the position the answer reported.
 * Pure: no I/O, no clocks.
 *
 * The contract it checks (decision 0019): an activation is a WAL entry at seq S; a
 * replica at applied position P serves, for a query that names no model, the generation
 * of the last activation at or below P (the collection's first generation before any).
 * A query that names a model is answered by that generation, and no answer mixes two.
 */

/** One answered query. */
export interface GenerationRead {
  client: string;
  /** The model the query named, or null (the active generation answers). */
  model: string | null;
  /** The generation the answer named. */
  generation: string;
  /** The position the answer reported (`appliedSeq`). */
  appliedSeq: number;
  /** The generation of each result, when the workload can tell (e.g. from an id prefix). */
  resultGenerations?: readonly string[];
}

/** An activation as committed: from `seq` on, `model` is the active generation. */
export interface ActivationRecord {
  model: string;
  seq: number;
}

export const GENERATION_RULES = ['named', 'active-at-position', 'mixed'] as const;
export type GenerationRule = (typeof GENERATION_RULES)[number];

export interface GenerationViolation {
  rule: GenerationRule;
  read: GenerationRead;
  expected: string;
}

export interface GenerationReport {
  reads: number;
  checked: Record<GenerationRule, number>;
  violations: GenerationViolation[];
}

/**
 * Checks every read against the three rules. `initial` is the generation active before
 * the first activation of `activations` (in any order; seqs distinct).
 */
export function checkGenerations(
  reads: readonly GenerationRead[],
  activations: readonly ActivationRecord[],
  initial: string,
): GenerationReport {
  const sorted = [...activations].sort((a, b) => a.seq - b.seq);
  const activeAt = (seq: number): string => {
    let model = initial;
    for (const a of sorted) {
      if (a.seq > seq) break;
      model = a.model;
    }
    return model;
  };
  const checked: Record<GenerationRule, number> = {
    named: 0,
    'active-at-position': 0,
    mixed: 0,
  };
  const violations: GenerationViolation[] = [];
  for (const read of reads) {
    if (read.model !== null) {
      checked.named++;
      if (read.generation !== read.model) {
        violations.push({ rule: 'named', read, expected: read.model });
      }
    } else {
      checked['active-at-position']++;
      const expected = activeAt(read.appliedSeq);
      if (read.generation !== expected) {
        violations.push({ rule: 'active-at-position', read, expected });
      }
    }
    if (read.resultGenerations && read.resultGenerations.length > 0) {
      checked.mixed++;
      const other = read.resultGenerations.find((g) => g !== read.generation);
      if (other !== undefined) violations.push({ rule: 'mixed', read, expected: read.generation });
    }
  }
  return { reads: reads.length, checked, violations };
}

/** A short account of a report's violations, for an assertion message. */
export function formatGenerationReport(r: GenerationReport, limit = 5): string {
  if (r.violations.length === 0) return `${r.reads} reads, no generation violation`;
  return r.violations
    .slice(0, limit)
    .map(
      (v) =>
        `${v.rule}: client ${v.read.client} named ${v.read.model ?? 'none'}, answered by ${v.read.generation} at appliedSeq ${v.read.appliedSeq}, expected ${v.expected}`,
    )
    .join('\n');
}
