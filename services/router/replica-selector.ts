import type { ClusterState, KnownReplica } from '../../sync/index.ts';
import type { ConsistencyLevel, RefusedReplica } from '../api.ts';
import type { RttProber } from './rtt-prober.ts';

export interface Requirement {
  level: ConsistencyLevel;
  /** strong: the primary's commit seq; session: the token's seq; else 0. */
  minSeq: number;
  /** bounded: the staleness bound. */
  maxStalenessMs: number;
  collection: string;
  model?: string;
  /** Regions the collection is placed in (null = all). */
  placement: readonly string[] | null;
}

export interface Candidate {
  replica: KnownReplica;
  rttMs: number;
}

/**
 * Orders the replicas that may serve a query, nearest first, and says for every other
 * replica why it was refused. A replica qualifies when it is live (heartbeats), reachable
 * (probes), holds the collection (and the model, when one is named), is in the
 * collection's placement, and is fresh enough for the level by what the router has heard.
 * The primary is ordered last: it is the fallback, not the first choice.
 */
export function selectReplicas(
  state: ClusterState,
  prober: RttProber,
  req: Requirement,
  now = Date.now(),
): { qualified: Candidate[]; refused: RefusedReplica[] } {
  const qualified: Candidate[] = [];
  const refused: RefusedReplica[] = [];
  for (const r of state.all()) {
    const { region, node } = r.heartbeat;
    const reason = refusal(state, prober, r, req, now);
    if (reason) refused.push({ region, node, reason });
    else qualified.push({ replica: r, rttMs: prober.rtt(region, node) ?? 1e6 });
  }
  qualified.sort(
    (a, b) =>
      Number(a.replica.heartbeat.role === 'primary') -
        Number(b.replica.heartbeat.role === 'primary') || a.rttMs - b.rttMs,
  );
  return { qualified, refused };
}

function refusal(
  state: ClusterState,
  prober: RttProber,
  r: KnownReplica,
  req: Requirement,
  now: number,
): string | null {
  const hb = r.heartbeat;
  if (!state.isLive(r, now))
    return `missed heartbeats (last ${Math.round(now - r.heardAt)} ms ago)`;
  if (!hb.url) return 'announces no query URL';
  // It may not be storing what it receives: fine for eventual reads, not for fresh ones.
  if (hb.storageError && req.level !== 'eventual') return `storage error: ${hb.storageError}`;
  if (!prober.reachable(hb.region, hb.node)) return 'unreachable (probes failed)';
  if (req.placement && !req.placement.includes(hb.region))
    return `region ${hb.region} is outside the collection's placement`;
  const cols = hb.collections.filter((c) => c.collection === req.collection);
  if (cols.length === 0) return `does not hold collection ${req.collection}`;
  if (req.model && !cols.some((c) => c.generation === req.model))
    return `does not hold generation ${req.model}`;
  if ((req.level === 'strong' || req.level === 'session') && r.appliedSeq < req.minSeq) {
    return `applied seq ${r.appliedSeq} < required ${req.minSeq}`;
  }
  if (req.level === 'bounded') {
    const s = state.staleness.stalenessMs(r.appliedSeq, now);
    if (s > req.maxStalenessMs) {
      return `staleness ${Number.isFinite(s) ? Math.round(s) : 'unknown'} ms > bound ${req.maxStalenessMs} ms`;
    }
  }
  return null;
}
