import { randomUUID } from 'node:crypto';
import { MeridianError, isNotFound } from './errors.ts';
import { ARROW_STREAM } from './media-types.ts';
import { SessionToken } from './session.ts';
import { request } from './transport.ts';
import type { RequestSpec, TransportOptions } from './transport.ts';
import type {
  Activation,
  ActivationOptions,
  ActivationStatus,
  GroupActivation,
  CollectionInfo,
  CollectionSettings,
  CreateCollectionInput,
  MeridianClientOptions,
  PointInput,
  QueryOptions,
  QueryResponse,
  RegionsResponse,
  UpsertOptions,
  WriteOptions,
  WriteResponse,
} from './types.ts';

/**
 * A Meridian client over fetch. Point it at a router: writes are forwarded to the primary,
 * queries go to the nearest replica fresh enough for their consistency level.
 *
 * Read-your-writes by default: the client keeps the session token of its writes and reads
 * (see {@link SessionToken} for which one wins) and sends it with every query; a query
 * without an explicit `consistency` is `session` once the client holds a token, `eventual`
 * before. Transient failures (no answer, 502/503/504) are retried with jittered exponential
 * backoff; reads always, writes because each logical write carries a `requestId` (a UUID
 * unless given) that its retries reuse, so the primary stores it once. A 4xx is never
 * retried. Failures throw {@link MeridianError}. A write whose ack mode timed out (202) is
 * not an error: it resolves with `ack.timedOut: true` (durable on the primary).
 */
export class MeridianClient {
  private readonly transport: TransportOptions;
  private readonly session = new SessionToken();

  constructor(o: MeridianClientOptions) {
    if (!o.url) throw new TypeError('MeridianClient: url is required');
    if (!o.apiKey) throw new TypeError('MeridianClient: apiKey is required');
    this.transport = {
      url: o.url,
      apiKey: o.apiKey,
      retries: o.retries ?? 3,
      backoffMs: o.backoffMs ?? 100,
      timeoutMs: o.timeoutMs ?? 30_000,
      fetch: o.fetch ?? globalThis.fetch,
    };
  }

  /** The session token the client holds (null before its first write or read). */
  get sessionToken(): string | null {
    return this.session.current;
  }

  /** Adopts a session token, e.g. one another process wrote with; null forgets it. */
  setSessionToken(token: string | null): void {
    this.session.set(token);
  }

  /**
   * `PUT /v1/collections/:name`. Idempotent: identical settings answer the existing
   * collection; different ones are a 409 `collection_exists`.
   */
  async createCollection(name: string, body: CreateCollectionInput): Promise<CollectionSettings> {
    return this.send<CollectionSettings>({
      method: 'PUT',
      path: `/v1/collections/${enc(name)}`,
      body: { json: body },
      retry: true,
    });
  }

  /** `GET /v1/collections`: every collection the answering node knows. */
  async listCollections(): Promise<CollectionInfo[]> {
    const r = await this.send<{ collections: CollectionInfo[] }>({
      method: 'GET',
      path: '/v1/collections',
      retry: true,
    });
    return r.collections;
  }

  /** `GET /v1/collections/:name`; null when the answering node does not know it. */
  async getCollection(name: string): Promise<CollectionInfo | null> {
    try {
      return await this.send<CollectionInfo>({
        method: 'GET',
        path: `/v1/collections/${enc(name)}`,
        retry: true,
      });
    } catch (err) {
      if (isNotFound(err) && err.code === 'not_found') return null;
      throw err;
    }
  }

  /**
   * Upserts points as JSON and keeps the answer's session token. Idempotent per
   * `requestId` within the primary's duplicate window (2 min): a retry, ours or the
   * caller's with the same id, is stored once and answers `duplicate: true` with the first
   * `seq`. Safe to abort: the write may or may not be stored; resend it with the same
   * `requestId` to be sure it is, once.
   */
  async upsert(
    collection: string,
    points: PointInput[],
    opts: UpsertOptions = {},
  ): Promise<WriteResponse> {
    const json = {
      points: points.map((p) => ({
        id: p.id,
        vector: Array.from(p.vector),
        ...(p.metadata !== undefined ? { metadata: p.metadata } : {}),
      })),
      ...writeFields(opts),
      ...(opts.sourceSeq !== undefined ? { sourceSeq: opts.sourceSeq } : {}),
    };
    return this.write({
      method: 'POST',
      path: `/v1/collections/${enc(collection)}/points`,
      body: { json },
      retry: true,
    });
  }

  /**
   * Upserts an Arrow IPC stream (`id` utf8, `vector` FixedSizeList<Float32>[dim], optional
   * `metadata` utf8 JSON); options travel as query parameters. Same retry and session rules
   * as {@link upsert}.
   */
  async upsertArrow(
    collection: string,
    bytes: Uint8Array,
    opts: UpsertOptions = {},
  ): Promise<WriteResponse> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(writeFields(opts))) q.set(k, String(v));
    if (opts.sourceSeq !== undefined) q.set('sourceSeq', String(opts.sourceSeq));
    return this.write({
      method: 'POST',
      path: `/v1/collections/${enc(collection)}/points?${q.toString()}`,
      body: { bytes, contentType: ARROW_STREAM },
      retry: true,
    });
  }

  /** Deletes points by id. Same retry and session rules as {@link upsert}. */
  async delete(collection: string, ids: string[], opts: WriteOptions = {}): Promise<WriteResponse> {
    return this.write({
      method: 'POST',
      path: `/v1/collections/${enc(collection)}/points/delete`,
      body: { json: { ids, ...writeFields(opts) } },
      retry: true,
    });
  }

  /**
   * Nearest neighbours of `q.vector`. Consistency defaults to `session` while the client
   * holds a token (it reads its own writes), else `eventual`; the held token is sent unless
   * `q.token` is given. Retried on transient failures (a query changes nothing).
   */
  async query(collection: string, q: QueryOptions): Promise<QueryResponse> {
    const sent = this.session.snapshot();
    const token = q.token ?? sent.token;
    const body = {
      vector: Array.from(q.vector),
      k: q.k ?? 10,
      consistency: q.consistency ?? (token ? 'session' : 'eventual'),
      ...(q.ef !== undefined ? { ef: q.ef } : {}),
      ...(q.filter !== undefined ? { filter: q.filter } : {}),
      ...(q.model !== undefined ? { model: q.model } : {}),
      ...(q.maxStalenessMs !== undefined ? { maxStalenessMs: q.maxStalenessMs } : {}),
      ...(q.waitMs !== undefined ? { waitMs: q.waitMs } : {}),
      ...(token ? { token } : {}),
    };
    const res = await this.send<QueryResponse>({
      method: 'POST',
      path: `/v1/collections/${enc(collection)}/query`,
      body: { json: body },
      retry: true,
    });
    this.session.fromRead(res.token, sent, token === sent.token);
    return res;
  }

  /**
   * `POST /v1/collections/:name/generations` (admin): stages a new embedding model beside
   * the active one. A second staging generation, or a model the collection has, is a 409.
   */
  async stageGeneration(
    collection: string,
    model: string,
    dim: number,
  ): Promise<{ collection: string; model: string; dim: number; state: string }> {
    return this.send({
      method: 'POST',
      path: `/v1/collections/${enc(collection)}/generations`,
      body: { json: { model, dim } },
      retry: false,
    });
  }

  /**
   * `POST /v1/collections/:name/generations/:model/activate` (admin): makes `model` the
   * active generation once the regions `policy` names have applied everything written
   * before the call (409 `activation_blocked` naming each region behind, after
   * `timeoutMs`), and once it holds `minCoverage` (default 1) of the active generation's
   * ids. Activating a retired generation is the rollback.
   */
  async activateGeneration(
    collection: string,
    model: string,
    opts: ActivationOptions = {},
  ): Promise<Activation> {
    return this.send<Activation>({
      method: 'POST',
      path: `/v1/collections/${enc(collection)}/generations/${enc(model)}/activate`,
      body: { json: opts },
      retry: false,
    });
  }

  /**
   * `POST /v1/cutovers` (admin): a commit group — activates a generation in each of several
   * collections so that every region shows all of them flipped or none (the image and text
   * embeddings of the same assets). Same gate and `minCoverage` as {@link activateGeneration}.
   */
  async cutover(
    activate: Array<{ collection: string; model: string }>,
    opts: ActivationOptions = {},
  ): Promise<GroupActivation> {
    return this.send<GroupActivation>({
      method: 'POST',
      path: '/v1/cutovers',
      body: { json: { activate, ...opts } },
      retry: false,
    });
  }

  /**
   * Starts {@link activateGeneration} so that it answers 202 at once and runs on the
   * primary for up to `timeoutMs`; returns its id for {@link activationStatus} and
   * {@link followActivation}. Bad input (an unknown or already active generation) is
   * refused at once, as with the waiting call.
   */
  async startActivation(
    collection: string,
    model: string,
    opts: ActivationOptions = {},
  ): Promise<string> {
    const res = await this.send<{ activation: string }>({
      method: 'POST',
      path: `/v1/collections/${enc(collection)}/generations/${enc(model)}/activate`,
      body: { json: { ...opts, async: true } },
      retry: false,
    });
    return res.activation;
  }

  /** {@link cutover} answering 202 at once; see {@link startActivation}. */
  async startCutover(
    activate: Array<{ collection: string; model: string }>,
    opts: ActivationOptions = {},
  ): Promise<string> {
    const res = await this.send<{ activation: string }>({
      method: 'POST',
      path: '/v1/cutovers',
      body: { json: { activate, ...opts, async: true } },
      retry: false,
    });
    return res.activation;
  }

  /** `GET /v1/activations/:id` (admin): each region's way to the fence, then the outcome. */
  async activationStatus(id: string): Promise<ActivationStatus> {
    return this.send<ActivationStatus>({
      method: 'GET',
      path: `/v1/activations/${enc(id)}`,
      retry: true,
    });
  }

  /**
   * Polls an activation until it commits (resolves with its status, `result` set) or is
   * refused or fails (rejects with a {@link MeridianError} carrying the server's code and
   * details); `onProgress` sees each status while it waits.
   */
  async followActivation(
    id: string,
    onProgress: (s: ActivationStatus) => void = () => {},
    pollMs = 250,
  ): Promise<ActivationStatus> {
    for (;;) {
      const s = await this.activationStatus(id);
      if (s.state === 'committed') return s;
      if (s.state !== 'waiting') {
        const e = s.error ?? { code: 'internal', message: `activation ${id} ${s.state}` };
        throw new MeridianError({
          status: s.state === 'refused' ? 409 : 500,
          code: e.code,
          message: e.message,
          details: e.details,
        });
      }
      onProgress(s);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /** `DELETE /v1/collections/:name/generations/:model` (admin): drops a generation that is not active. */
  async dropGeneration(collection: string, model: string): Promise<void> {
    await this.send({
      method: 'DELETE',
      path: `/v1/collections/${enc(collection)}/generations/${enc(model)}`,
      retry: true,
    });
  }

  /** `GET /v1/regions` (routers only): every replica the router knows, with health, RTT and lag. */
  async regions(): Promise<RegionsResponse> {
    return this.send<RegionsResponse>({ method: 'GET', path: '/v1/regions', retry: true });
  }

  /** Sends a write; `retry` is safe because every write body carries a requestId ({@link writeFields}). */
  private async write(spec: RequestSpec): Promise<WriteResponse> {
    const res = await this.send<WriteResponse>(spec);
    this.session.fromWrite(res.token);
    return res;
  }

  private async send<T>(spec: RequestSpec): Promise<T> {
    return (await request<T>(this.transport, spec)).body;
  }
}

/** The write options as the server names them, with a requestId always set. */
function writeFields(o: WriteOptions): Record<string, string | number> {
  return {
    ...(o.ack !== undefined ? { ack: o.ack } : {}),
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.model !== undefined ? { model: o.model } : {}),
    requestId: o.requestId ?? randomUUID(),
  };
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}
