import { until } from '../../lib/wait.ts';
import type { ClusterState } from '../../sync/index.ts';
import type { QueryBody, QueryResponse, RefusedReplica } from '../api.ts';
import { ApiError, UpstreamError } from '../http/errors.ts';
import { assertPlacedIn } from '../query/answers.ts';
import { serveLocal } from '../query/serve-local.ts';
import type { LocalQueryContext } from '../query/serve-local.ts';
import type { TokenCodec } from '../tokens.ts';
import { selectReplicas } from './replica-selector.ts';
import type { Candidate, Requirement } from './replica-selector.ts';
import type { RttProber } from './rtt-prober.ts';

/**
 * Marks a query one router forwarded to a replica. A router that hosts a replica answers
 * such a query from it (never routes it again, so there are no loops or double hops).
 */
export const FORWARDED_HEADER = 'x-meridian-forwarded';

/** Where a node answers queries. */
interface Endpoint {
  region: string;
  node: string;
  url?: string;
}

/** What the router needs to know of a collection to route its queries. */
export interface CollectionRouting {
  placement: string[] | null;
  maxStalenessMs: number;
  /** Every generation (model) the collection has. */
  models: string[];
}

export interface QueryRouterOptions {
  state: ClusterState;
  prober: RttProber;
  tokens: TokenCodec;
  /** This region's replica when the router hosts it (no network hop for local reads). */
  local: LocalQueryContext | null;
  /** Read-index: the primary's last committed seq. */
  commitSeq: () => Promise<number>;
  /** The collection's placement and default staleness bound; null when unknown. */
  /** `fresh`: read the published definition now (a model the cached one does not list). */
  collectionRouting: (name: string, fresh?: boolean) => Promise<CollectionRouting | null>;
  region: string;
  /** Also ask the second-best replica when the best has not answered after this many ms (0 = off). */
  hedgeAfterMs?: number;
  /** Where to reach a replica (its announced URL unless overridden). */
  urlOf: (hb: { region: string; node: string; url?: string }) => string | undefined;
  defaultWaitMs: number;
  forwardTimeoutMs: number;
}

/**
 * Routes a query to the nearest replica fresh enough for its consistency level:
 * qualify by what the router has heard (heartbeats, applied notices, the primary's
 * beacons), wait up to `waitMs` for one to qualify when the level needs a position, try
 * them nearest first (each replica re-checks freshness itself before answering), fall
 * back to the primary, and only then answer 503 naming every replica considered and why
 * each was refused.
 */
export class QueryRouter {
  constructor(private readonly o: QueryRouterOptions) {}

  async route(collection: string, q: QueryBody, authorization: string): Promise<QueryResponse> {
    const tokenSeq = q.token ? this.o.tokens.decode(q.token) : 0;
    let info = await this.o.collectionRouting(collection);
    // A generation staged a moment ago may not be in what this router has cached yet.
    if (info && q.model && !info.models.includes(q.model)) {
      info = await this.o.collectionRouting(collection, true);
    }
    if (!info) throw new ApiError('not_found', `no collection named ${collection}`);
    assertPlacedIn(collection, info.placement, this.o.region);
    if (q.model && !info.models.includes(q.model)) {
      throw new ApiError(
        'model_mismatch',
        `collection ${collection} has no generation ${q.model} (has: ${info.models.join(', ')})`,
        { models: info.models },
      );
    }
    const waitMs = q.waitMs ?? this.o.defaultWaitMs;
    let commit = 0;
    if (q.consistency === 'strong') {
      try {
        commit = await this.o.commitSeq();
      } catch (err) {
        // The read-index round trip failed (a slow or cut link): the primary itself can
        // still answer a strong read, resolving its own commit position.
        const res = await this.tryPrimary(collection, q, authorization, [], tokenSeq);
        if (res) return res;
        throw new ApiError(
          'no_replica',
          `no replica can serve a strong read of ${collection} now: ${(err as Error).message}`,
        );
      }
    }
    const req: Requirement = {
      level: q.consistency,
      minSeq: q.consistency === 'strong' ? commit : q.consistency === 'session' ? tokenSeq : 0,
      maxStalenessMs: q.maxStalenessMs ?? info.maxStalenessMs,
      collection,
      placement: info.placement,
      ...(q.model ? { model: q.model } : {}),
    };
    let pick = selectReplicas(this.o.state, this.o.prober, req);
    if (pick.qualified.length === 0 && waitMs > 0) {
      await this.waitForCandidate(req, waitMs);
      pick = selectReplicas(this.o.state, this.o.prober, req);
    }
    const refused: RefusedReplica[] = [...pick.refused];
    const serve = async (c: Candidate): Promise<QueryResponse | null> => {
      try {
        // The replica got the client's token and answers with the merged position.
        return await this.serveOn(c.replica.heartbeat, collection, q, req, authorization, tokenSeq);
      } catch (err) {
        // Only "this replica cannot serve it" moves on to the next; anything about the
        // request itself (or a bug) goes back to the client.
        const refusal =
          err instanceof ApiError &&
          (err.code === 'no_replica' || err.code === 'primary_unavailable');
        if (!refusal) throw err;
        refused.push({
          region: c.replica.heartbeat.region,
          node: c.replica.heartbeat.node,
          reason: (err as Error).message,
        });
        return null;
      }
    };
    const order = [...pick.qualified];
    const hedge = this.o.hedgeAfterMs ?? 0;
    if (
      hedge > 0 &&
      (q.consistency === 'eventual' || q.consistency === 'bounded') &&
      order.length >= 2
    ) {
      const res = await hedged(serve, order.shift()!, order.shift()!, hedge);
      if (res) return res;
    }
    for (const c of order) {
      const res = await serve(c);
      if (res) return res;
    }
    // Last resort before a 503: the primary, even if its heartbeats reached this router
    // late (it answers every level itself, resolving strong against its own commit seq).
    const tried = [...pick.qualified].some((c) => c.replica.heartbeat.role === 'primary');
    if (!tried) {
      const res = await this.tryPrimary(collection, q, authorization, refused, tokenSeq);
      if (res) return res;
    }
    throw new ApiError(
      'no_replica',
      `no replica can serve a ${q.consistency} read of ${collection} now (${refused.length} considered)`,
      { considered: refused },
    );
  }

  private async serveOn(
    r: Endpoint,
    collection: string,
    q: QueryBody,
    req: Requirement,
    authorization: string,
    tokenSeq: number,
  ): Promise<QueryResponse> {
    const local = this.o.local;
    if (local && local.replica.region === r.region && local.replica.node === r.node) {
      // route() verified the token already: one HMAC, not two.
      const here = { ...q, ...(req.minSeq > 0 ? { minSeq: req.minSeq } : {}), waitMs: 0 };
      return serveLocal(local, collection, here, tokenSeq);
    }
    // Signed, so a replica takes a position to wait for only from a router.
    const readIndex = req.minSeq > 0 ? { readIndex: this.o.tokens.encode(req.minSeq) } : {};
    const body = { ...q, ...readIndex, waitMs: 0 };
    let res: Response;
    try {
      res = await fetch(
        `${this.o.urlOf(r)}/v1/collections/${encodeURIComponent(collection)}/query`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization, [FORWARDED_HEADER]: '1' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(this.o.forwardTimeoutMs),
        },
      );
    } catch (err) {
      throw new ApiError('no_replica', `unreachable: ${(err as Error).message}`);
    }
    const json = (await res.json().catch(() => null)) as
      (QueryResponse & { error?: { code: string; message: string; details?: unknown } }) | null;
    if (res.ok && json) return json;
    const e = json?.error;
    if (res.status === 503 || res.status >= 500 || !e) {
      throw new ApiError('no_replica', e?.message ?? `answered ${res.status}`);
    }
    // A 4xx from a replica is about the request itself (bad filter, wrong dim): pass it on as is.
    throw new UpstreamError(res.status, e.code, e.message, e.details);
  }

  /** Sends the query to the primary at the URL its beacons announce; null when it cannot answer. */
  private async tryPrimary(
    collection: string,
    q: QueryBody,
    authorization: string,
    refused: RefusedReplica[],
    tokenSeq: number,
  ): Promise<QueryResponse | null> {
    const b = this.o.state.staleness.lastBeacon;
    if (!b?.url) return null;
    const endpoint: Endpoint = { region: b.region, node: b.node, url: b.url };
    const none: Requirement = {
      level: q.consistency,
      minSeq: 0,
      maxStalenessMs: 0,
      collection,
      placement: null,
    };
    try {
      return await this.serveOn(endpoint, collection, q, none, authorization, tokenSeq);
    } catch (err) {
      if (
        err instanceof ApiError &&
        (err.code === 'no_replica' || err.code === 'primary_unavailable')
      ) {
        refused.push({ region: b.region, node: b.node, reason: `primary: ${err.message}` });
        return null;
      }
      throw err;
    }
  }

  private async waitForCandidate(req: Requirement, waitMs: number): Promise<void> {
    await until(() => selectReplicas(this.o.state, this.o.prober, req).qualified.length > 0, {
      timeoutMs: waitMs,
      onChange: (wake) => this.o.state.onChange(wake),
    });
  }
}

/**
 * Sends to `first`; if it has not answered after `afterMs`, also to `second`; the first
 * success wins (a slow replica does not hold the query hostage). Null when both refused.
 */
async function hedged<T>(
  serve: (c: Candidate) => Promise<T | null>,
  first: Candidate,
  second: Candidate,
  afterMs: number,
): Promise<T | null> {
  return new Promise<T | null>((resolve, reject) => {
    let pending = 2;
    let done = false;
    const settle = (p: Promise<T | null>) =>
      p.then(
        (res) => {
          pending--;
          if (done) return;
          if (res !== null) {
            done = true;
            clearTimeout(timer);
            resolve(res);
          } else if (pending === 0 || !started) {
            if (!started) launchSecond();
            else resolve(null);
          }
        },
        (err) => {
          if (!done) {
            done = true;
            clearTimeout(timer);
            reject(err);
          }
        },
      );
    let started = false;
    const launchSecond = () => {
      if (started || done) return;
      started = true;
      settle(serve(second));
    };
    const timer = setTimeout(launchSecond, afterMs);
    settle(serve(first));
  });
}
