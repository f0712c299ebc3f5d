/**
 * The query fast path (services/http/fast-query.ts, decision 0010) answers exactly as the
 * Hono route does. A query string keeps a request off the fast path (Hono ignores it when
 * routing), so each request below is sent twice — plain (fast path) and with `?via=hono`
 * — and both answers must match: status, content type and length, body; and
 * `meridian_http_requests_total` must count both the same way.
 */
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { TokenCodec } from '../../services/index.ts';
import { TEST_KEYS, TEST_TOKEN_SECRET, http } from '../../dev/harness/services.ts';
import { useServiceCluster } from '../harness/service-fixture.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';

const MAX_BODY = 16 * 1024;
const limits = { maxBodyBytes: MAX_BODY };
const fx = useServiceCluster(
  ['us-east'],
  [
    { role: 'primary', region: 'us-east', node: 'p1', overrides: { limits } },
    { role: 'router', region: 'us-east', node: 'r1', overrides: { limits } },
  ],
);

interface Case {
  name: string;
  body: string;
  key?: string | null;
  type?: string | null;
  headers?: Record<string, string>;
  collection?: string;
}

const vec = (over: Record<string, unknown> = {}) =>
  JSON.stringify({ vector: [1, 0, 0], k: 2, ...over });

const cases: Case[] = [
  { name: 'a plain eventual query', body: vec() },
  { name: 'a bounded query', body: vec({ consistency: 'bounded', maxStalenessMs: 60_000 }) },
  { name: 'a strong query', body: vec({ consistency: 'strong' }) },
  { name: 'a filtered query', body: vec({ filter: { lang: 'en' } }) },
  { name: 'a BOM before the JSON', body: `\uFEFF${vec()}` },
  { name: 'no API key', body: vec(), key: null },
  { name: 'an unknown API key', body: vec(), key: 'nope-0123456789abcdef' },
  { name: 'a write key (allowed: admin ⊇ write ⊇ read)', body: vec(), key: TEST_KEYS.write },
  { name: 'text/plain', body: vec(), type: 'text/plain' },
  { name: 'no content type', body: vec(), type: null },
  { name: 'truncated JSON', body: '{"vector":[1,0' },
  { name: 'an empty body', body: '' },
  { name: 'a JSON array', body: '[1]' },
  { name: 'k = 0', body: vec({ k: 0 }) },
  { name: 'an unknown field', body: vec({ limit: 3 }) },
  { name: 'a wrong dimension', body: vec({ vector: [1, 0] }) },
  { name: 'a forged token', body: vec({ token: 'm1.zz.0123456789abcdef' }) },
  { name: 'a session token that is garbage', body: vec({ consistency: 'session', token: 'x' }) },
  { name: 'an unknown model', body: vec({ model: 'nope@9', waitMs: 0 }) },
  { name: 'an unknown collection', body: vec(), collection: 'nope' },
  { name: 'a body over the limit', body: vec({ filter: { big: 'x'.repeat(MAX_BODY) } }) },
  {
    name: 'a forwarded query',
    body: vec({ consistency: 'strong', readIndex: new TokenCodec(TEST_TOKEN_SECRET).encode(1) }),
    headers: { 'x-meridian-forwarded': '1' },
  },
  {
    name: 'a forwarded query with a forged read index',
    body: vec({ consistency: 'strong', readIndex: 'm1.zz.0123456789abcdef' }),
    headers: { 'x-meridian-forwarded': '1' },
  },
  {
    name: 'a client sending minSeq',
    body: vec({ minSeq: 1 }),
    headers: { 'x-meridian-forwarded': '1' },
  },
];

async function send(c: Case, suffix: string) {
  const headers: Record<string, string> = { ...c.headers };
  if (c.key !== null) headers.authorization = `Bearer ${c.key ?? TEST_KEYS.read}`;
  if (c.type !== null) headers['content-type'] = c.type ?? 'application/json';
  const url = `${fx.cluster.node('r1').url}/v1/collections/${c.collection ?? 'docs'}/query${suffix}`;
  const res = await fetch(url, { method: 'POST', headers, body: new TextEncoder().encode(c.body) });
  const text = await res.text();
  const body = JSON.parse(text) as Record<string, unknown>;
  // Where the answer reflects the clock, not the path.
  if ('stalenessMs' in body) body.stalenessMs = 'n';
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    // Sent with its length (not chunked), and the right one.
    lengthOk: res.headers.get('content-length') === String(Buffer.byteLength(text)),
    chunked: res.headers.get('transfer-encoding'),
    body,
  };
}

async function requestCounts(): Promise<string[]> {
  const text = await (await fetch(`${fx.cluster.node('r1').url}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith('meridian_http_requests_total{'));
}

describe('query fast path', () => {
  it('answers every case exactly as the Hono route does, and counts it the same', async () => {
    const r1 = fx.cluster.node('r1');
    const p = fx.cluster.node('p1').url;
    const created = await http(`${p}/v1/collections/docs`, 'PUT', {
      dim: 3,
      metric: 'l2',
      model: 'm@1',
    });
    expect(created.status).toBe(201);
    const w = await http(
      `${p}/v1/collections/docs/points`,
      'POST',
      {
        points: [
          { id: 'a', vector: [1, 0, 0], metadata: { lang: 'en' } },
          { id: 'b', vector: [0, 1, 0], metadata: { lang: 'de' } },
        ],
        ack: 'sync',
        timeoutMs: 10_000,
      },
      TEST_KEYS.write,
    );
    expect(w.status, JSON.stringify(w.body)).toBe(200);
    // Routing depends on what the router has heard: wait until it knows its own replica
    // holds the points, so both paths of each pair see the same state.
    await waitFor(
      async () => {
        const { body } = await http(`${r1.url}/v1/regions`, 'GET', undefined, TEST_KEYS.read);
        return body.replicas.some(
          (r: any) =>
            r.node === 'r1' &&
            r.healthy &&
            r.appliedSeq >= w.body.seq &&
            r.versions.some((v: any) => v.collection === 'docs'),
        );
      },
      { message: 'the router seeing its replica hold the points' },
    );

    const statuses = new Set<number>();
    for (const c of cases) {
      const before = await requestCounts();
      const fast = await send(c, '');
      const afterFast = await requestCounts();
      const hono = await send(c, '?via=hono');
      const afterHono = await requestCounts();
      expect(fast, c.name).toEqual(hono);
      expect(fast.chunked, c.name).toBeNull();
      expect(fast.lengthOk, c.name).toBe(true);
      statuses.add(fast.status);
      // The same counter line moved by one on each path.
      const moved = (a: string[], b: string[]) => b.filter((l) => !a.includes(l));
      expect(moved(before, afterFast).map(labels), c.name).toEqual(
        moved(afterFast, afterHono).map(labels),
      );
    }
    // The cases reach every kind of answer the route gives.
    expect([...statuses].sort()).toEqual([200, 400, 401, 404, 409, 413, 415]);
  });

  it('leaves a request that repeats a header it reads to Hono, which joins the values', async () => {
    const path = '/v1/collections/docs/query';
    const json = ['Content-Type: application/json'];
    const once = await raw(path, [...json, `Authorization: Bearer ${TEST_KEYS.read}`], vec());
    expect(once.status, once.body).toBe(200);
    // Node keeps the first Authorization of two; Hono joins both ("Bearer a, Bearer b"),
    // which is no key: the fast path must not answer this one with the first.
    const twice = [
      ...json,
      `Authorization: Bearer ${TEST_KEYS.read}`,
      'Authorization: Bearer not-a-key-0123456789',
    ];
    const fast = await raw(path, twice, vec());
    const hono = await raw(`${path}?via=hono`, twice, vec());
    expect(fast.status, fast.body).toBe(401);
    expect(fast).toEqual(hono);
  });
});

/** Sends raw HTTP/1.1 (fetch cannot repeat a header); returns the status line's code and the body. */
function raw(
  path: string,
  headerLines: string[],
  body: string,
): Promise<{ status: number; body: string }> {
  const u = new URL(fx.cluster.node('r1').url);
  const head = [`POST ${path} HTTP/1.1`, `Host: ${u.host}`, ...headerLines];
  head.push(`Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close', '', '');
  return new Promise((resolve, reject) => {
    // write, not end: a client that half-closes has its in-flight request aborted by
    // node:http (httpAllowHalfOpen is off), and a query answers after a search-thread hop.
    const socket = connect(Number(u.port), u.hostname, () =>
      socket.write(head.join('\r\n') + body),
    );
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('utf8')));
    socket.on('error', reject);
    socket.on('close', () => {
      const [status, rest] = [Number(text.split(' ')[1]), text.slice(text.indexOf('\r\n\r\n') + 4)];
      resolve({ status, body: rest });
    });
  });
}

/** The labels of a counter line (without its value). */
function labels(line: string): string {
  return line.slice(0, line.lastIndexOf('}') + 1);
}
