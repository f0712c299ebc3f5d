import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodePointColumns } from '../index/index.ts';
import { ARROW_STREAM, ConsistencyLevels } from '../services/index.ts';
import { PRIMARY_FOLLOWER_ROUTER, TEST_KEYS } from '../dev/harness/services.ts';
import { useServiceCluster } from '../test/harness/service-fixture.ts';
import { MeridianClient, MeridianError, isMeridianError, isNotFound } from './index.ts';
import * as wire from './media-types.ts';

const fx = useServiceCluster(['us-east', 'eu-west'], PRIMARY_FOLLOWER_ROUTER);
let router: string;

beforeAll(async () => {
  router = fx.cluster.node('r1').url;
  await admin().createCollection('docs', { dim: 3, metric: 'l2', model: 'm@1' });
});

function admin(url = router): MeridianClient {
  return new MeridianClient({ url, apiKey: TEST_KEYS.admin, backoffMs: 10 });
}

/** A fetch that delegates to the real one and counts the calls. */
function countingFetch(): { fetch: typeof fetch; calls: () => number } {
  let n = 0;
  return {
    fetch: (input, init) => {
      n++;
      return fetch(input, init);
    },
    calls: () => n,
  };
}

async function expectRejection(p: Promise<unknown>): Promise<MeridianError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MeridianError);
  return err as MeridianError;
}

describe('MeridianClient', () => {
  it('keeps its copies of the wire constants equal to the services', () => {
    expect(wire.ARROW_STREAM).toBe(ARROW_STREAM);
    expect([...wire.CONSISTENCY_LEVELS].sort()).toEqual([...ConsistencyLevels].sort());
  });

  it('creates collections idempotently and describes them', async () => {
    const c = admin();
    const again = await c.createCollection('docs', { dim: 3, metric: 'l2', model: 'm@1' });
    expect(again).toMatchObject({ name: 'docs', dim: 3, metric: 'l2' });
    const info = await c.getCollection('docs');
    expect(info?.generations.map((g) => g.model)).toEqual(['m@1']);
    expect((await c.listCollections()).map((x) => x.name)).toContain('docs');
    expect(await c.getCollection('nope')).toBeNull();
  });

  it('reads its own JSON write at once: the session token makes the query wait for it', async () => {
    const c = admin();
    expect(c.sessionToken).toBeNull();
    const w = await c.upsert('docs', [{ id: 'json-1', vector: [0, 1, 0], metadata: { t: 'j' } }]);
    expect(w.duplicate).toBe(false);
    expect(c.sessionToken).toBe(w.token);
    const q = await c.query('docs', { vector: [0, 1, 0], k: 1 });
    expect(q.consistency).toBe('session');
    expect(q.appliedSeq).toBeGreaterThanOrEqual(w.seq);
    expect(q.results[0]).toMatchObject({ id: 'json-1', metadata: { t: 'j' } });
  });

  it('queries eventually when it holds no token yet', async () => {
    const q = await admin().query('docs', { vector: [1, 1, 1], k: 1 });
    expect(q.consistency).toBe('eventual');
  });

  it('upserts an Arrow IPC stream and deletes by id', async () => {
    const c = admin();
    const bytes = encodePointColumns(
      {
        ids: ['arrow-1', 'arrow-2'],
        vectors: new Float32Array([5, 5, 5, 6, 6, 6]),
        metadata: [{ src: 'arrow' }, null],
        seqs: null,
      },
      3,
    );
    const w = await c.upsertArrow('docs', bytes, { ack: 'semi-sync', timeoutMs: 5_000 });
    expect(w.ack.mode).toBe('semi-sync');
    let q = await c.query('docs', { vector: [5, 5, 5], k: 2 });
    expect(q.results.map((h) => h.id)).toEqual(['arrow-1', 'arrow-2']);
    expect(q.results[0]?.metadata).toEqual({ src: 'arrow' });

    const d = await c.delete('docs', ['arrow-1']);
    expect(d.seq).toBeGreaterThan(w.seq);
    q = await c.query('docs', { vector: [5, 5, 5], k: 2 });
    expect(q.results.map((h) => h.id)).not.toContain('arrow-1');
  });

  it('throws typed errors on 404, 400 and 401 without retrying them', async () => {
    const counter = countingFetch();
    const c = new MeridianClient({
      url: router,
      apiKey: TEST_KEYS.admin,
      fetch: counter.fetch,
      backoffMs: 10,
    });
    const notFound = await expectRejection(c.query('missing', { vector: [1, 2, 3] }));
    expect(notFound.status).toBe(404);
    expect(isNotFound(notFound)).toBe(true);
    expect(isMeridianError(notFound, 'not_found')).toBe(true);
    expect(counter.calls()).toBe(1);

    const bad = await expectRejection(c.upsert('docs', [{ id: 'x', vector: [1, 2] }]));
    expect(bad.status).toBe(400);
    expect(bad.code).toBe('invalid_point');
    expect(bad.transient).toBe(false);
    expect(counter.calls()).toBe(2);

    const anon = new MeridianClient({
      url: router,
      apiKey: 'wrong-key-0123456789abcdef',
      fetch: counter.fetch,
    });
    const unauthorized = await expectRejection(anon.regions());
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.code).toBe('unauthorized');
    expect(counter.calls()).toBe(3);
  });

  it('retries a 503 with backoff until the server answers', async () => {
    let seen = 0;
    const proxy = await startProxy(async (req, res, body) => {
      seen++;
      if (seen <= 2) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'no_replica', message: 'try later' } }));
        return;
      }
      await relay(req, res, body);
    });
    try {
      const q = await admin(proxy.url).query('docs', { vector: [0, 1, 0], k: 1 });
      expect(q.results[0]?.id).toBe('json-1');
      expect(seen).toBe(3);

      seen = -10; // every answer a 503 from now on
      const c = new MeridianClient({
        url: proxy.url,
        apiKey: TEST_KEYS.admin,
        retries: 2,
        backoffMs: 5,
      });
      const err = await expectRejection(c.regions());
      expect(err.status).toBe(503);
      expect(err.transient).toBe(true);
      expect(seen).toBe(-7);
    } finally {
      await proxy.close();
    }
  });

  it('stores a write whose answer was lost once: the retry reuses its requestId', async () => {
    const forwarded: Array<{ requestId: string; answer: any }> = [];
    const proxy = await startProxy(async (req, res, body) => {
      const upstream = await forwardTo(req, body);
      forwarded.push({
        requestId: JSON.parse(body.toString('utf8')).requestId,
        answer: JSON.parse(upstream.text),
      });
      // The write reached the primary; lose its answer the first time.
      if (forwarded.length === 1) {
        res.socket?.destroy();
        return;
      }
      res.writeHead(upstream.status, { 'content-type': 'application/json' });
      res.end(upstream.text);
    });
    try {
      const c = admin(proxy.url);
      const w = await c.upsert('docs', [{ id: 'retried', vector: [9, 9, 9] }]);
      expect(forwarded).toHaveLength(2);
      expect(forwarded[1]?.requestId).toBe(forwarded[0]?.requestId);
      expect(forwarded[0]?.answer.duplicate).toBe(false);
      expect(w.duplicate).toBe(true);
      expect(w.seq).toBe(forwarded[0]?.answer.seq);
    } finally {
      await proxy.close();
    }
  });

  it('returns a write whose ack timed out (202) as a result, not an error', async () => {
    await fx.cluster.stop('f1'); // eu-west can no longer apply anything
    const w = await admin().upsert('docs', [{ id: 'late', vector: [2, 2, 2] }], {
      ack: 'sync',
      timeoutMs: 200,
    });
    expect(w.ack.timedOut).toBe(true);
    expect(w.ack.pendingRegions).toContain('eu-west');
  });
});

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => Promise<void>;

/** A real HTTP server in front of the router whose behaviour each test scripts. */
async function startProxy(handle: Handler): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks)).catch((err: unknown) => {
        res.writeHead(500);
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function forwardTo(
  req: IncomingMessage,
  body: Buffer,
): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = {};
  for (const h of ['authorization', 'content-type']) {
    const v = req.headers[h];
    if (typeof v === 'string') headers[h] = v;
  }
  const res = await fetch(`${router}${req.url}`, {
    method: req.method!,
    headers,
    ...(req.method === 'GET' ? {} : { body }),
  });
  return { status: res.status, text: await res.text() };
}

async function relay(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
  const upstream = await forwardTo(req, body);
  res.writeHead(upstream.status, { 'content-type': 'application/json' });
  res.end(upstream.text);
}
