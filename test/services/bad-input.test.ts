/**
 * Every error a user can cause gets a clear message and the right status, and changes
 * nothing (DESIGN.md "HTTP API"). One table of malformed requests, sent to a real primary,
 * follower and router over HTTP. For each row: the status, a JSON `{error: {code,
 * message}}` body without a stack trace or a file path, every node still alive, and no
 * write reached the WAL. After the table, one snapshot comparison over the whole cluster.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePointColumns } from '../../index/index.ts';
import { Streams, connectNats } from '../../sync/index.ts';
import type { NatsLink } from '../../sync/index.ts';
import { startNatsServer } from '../../dev/harness/nats-server.ts';
import type { NatsServerHandle } from '../../dev/harness/nats-server.ts';
import { TEST_KEYS, http, startCluster } from '../../dev/harness/services.ts';
import type { TestCluster } from '../../dev/harness/services.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';

const MAX_BODY = 64 * 1024;
const DIM = 3;

type Target = 'primary' | 'router' | 'follower';
type Key = 'none' | 'wrong' | 'read' | 'write' | 'admin';

interface Row {
  name: string;
  target: Target;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  /** string: sent as raw text; Uint8Array: raw bytes; anything else: JSON.stringify. */
  body?: unknown;
  /** Content-Type; default application/json when there is a body; null sends none. */
  type?: string | null;
  key: Key;
  /** A raw Authorization header, instead of `Bearer <key>`. */
  auth?: string;
  /** Send the body as a chunked stream (no Content-Length). */
  chunked?: boolean;
  status: number;
  /** The error code, where it is stable. */
  code?: string;
  /**
   * A known bug: the row runs as `it.fails`, so it turns red (and the marker must go) the
   * day the bug is fixed.
   */
  bug?: string;
}

const C = '/v1/collections/docs';
const P = `${C}/points`;
const D = `${P}/delete`;
const Q = `${C}/query`;
const NEW = '/v1/collections/fresh';
const NOPE = '/v1/collections/nope';
const ARROW = 'application/vnd.apache.arrow.stream';

const keys: Record<Exclude<Key, 'none'>, string> = {
  wrong: 'not-a-key-0123456789abcdef',
  read: TEST_KEYS.read,
  write: TEST_KEYS.write,
  admin: TEST_KEYS.admin,
};

const goodCollection = { dim: DIM, metric: 'l2', model: 'm@1' };
const q = (over: Record<string, unknown> = {}) => ({ vector: [1, 0, 0], k: 2, ...over });
const up = (point: Record<string, unknown>, over: Record<string, unknown> = {}) => ({
  points: [{ id: 'x', vector: [0, 0, 1], ...point }],
  ...over,
});

// --- Arrow bodies, well-formed and deliberately broken -------------------------------

function arrowBody(
  ids: Array<string | null>,
  dim = DIM,
  opts: { vectors?: number[]; metadata?: unknown[]; seqs?: boolean } = {},
): Uint8Array {
  const vectors =
    opts.vectors ?? ids.flatMap((_, i) => Array.from({ length: dim }, (_, j) => (i + j) % 2));
  return encodePointColumns(
    {
      ids: ids as string[],
      vectors: Float32Array.from(vectors),
      metadata: (opts.metadata ?? ids.map(() => null)) as never,
      seqs: opts.seqs ? Float64Array.from(ids.map((_, i) => i + 1)) : null,
    },
    dim,
  );
}

/**
 * Renames a field of an Arrow IPC schema in place: finds the flatbuffer string (u32 length,
 * bytes) and rewrites it to a name no longer than the old one. The rest stays valid.
 */
function renameField(bytes: Uint8Array, from: string, to: string): Uint8Array {
  if (to.length > from.length) throw new Error('renameField: the new name must not be longer');
  const out = Uint8Array.from(bytes);
  const needle = Buffer.concat([u32(from.length), Buffer.from(from)]);
  const at = Buffer.from(out).indexOf(needle);
  if (at < 0) throw new Error(`renameField: no field ${from}`);
  out.set(Buffer.concat([u32(to.length), Buffer.from(to)]), at);
  return out;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/** Deterministic noise (an LCG), so a failure reproduces with the same bytes. */
function noise(n: number, seed = 42): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

const goodArrow = arrowBody(['ar1', 'ar2']);
const arrowIdNotUtf8 = renameField(
  renameField(arrowBody(['ar1', 'ar2'], DIM, { seqs: true }), 'id', 'ix'),
  'seq',
  'id',
);

// --- the table -----------------------------------------------------------------------

const big = 'x'.repeat(MAX_BODY + 4096);
const rows: Row[] = [];
const add = (r: Row) => rows.push(r);
const each = (targets: Target[], make: (t: Target) => Row) => targets.forEach((t) => add(make(t)));
const QT: Target[] = ['primary', 'follower', 'router'];
const WT: Target[] = ['primary', 'router'];

// Bad JSON: not parseable → 400 invalid_json; parseable but not an object → 400 bad_request.
const badJson: Array<[string, string, string]> = [
  ['truncated', '{"vector":[1,0', 'invalid_json'],
  ['trailing garbage', '{"vector":[1,0,0],"k":1} x', 'invalid_json'],
  ['empty body', '', 'invalid_json'],
  ['single quotes', "{'vector':[1,0,0]}", 'invalid_json'],
  ['raw NaN', '{"vector":[1,NaN,0],"k":1}', 'invalid_json'],
  ['raw Infinity', '{"vector":[1,Infinity,0],"k":1}', 'invalid_json'],
  ['raw -Infinity', '{"vector":[1,-Infinity,0],"k":1}', 'invalid_json'],
  ['a JSON array', '[{"vector":[1,0,0]}]', 'bad_request'],
  ['a JSON string', '"hello"', 'bad_request'],
  ['a JSON number', '42', 'bad_request'],
  ['JSON null', 'null', 'bad_request'],
];
for (const [what, text, code] of badJson) {
  each(QT, (t) => ({
    name: `query: ${what}`,
    target: t,
    method: 'POST',
    path: Q,
    body: text,
    key: 'read',
    status: 400,
    code,
  }));
}
for (const [what, text, code] of badJson.slice(0, 8)) {
  add({ name: `upsert: ${what}`, target: 'primary', method: 'POST', path: P, body: text, key: 'write', status: 400, code }); // prettier-ignore
}
add({ name: 'upsert: raw NaN in a point', target: 'router', method: 'POST', path: P, body: '{"points":[{"id":"x","vector":[NaN,0,0]}]}', key: 'write', status: 400, code: 'invalid_json' }); // prettier-ignore
add({ name: 'upsert: a JSON array', target: 'router', method: 'POST', path: P, body: '[]', key: 'write', status: 400, code: 'bad_request' }); // prettier-ignore
add({ name: 'delete: truncated', target: 'primary', method: 'POST', path: D, body: '{"ids":["a"', key: 'write', status: 400, code: 'invalid_json' }); // prettier-ignore
add({ name: 'delete: empty body', target: 'router', method: 'POST', path: D, body: '', key: 'write', status: 400, code: 'invalid_json' }); // prettier-ignore
add({ name: 'create: truncated', target: 'primary', method: 'PUT', path: NEW, body: '{"dim":3,', key: 'admin', status: 400, code: 'invalid_json' }); // prettier-ignore
add({ name: 'create: a JSON array', target: 'router', method: 'PUT', path: NEW, body: '[3]', key: 'admin', status: 400, code: 'bad_request' }); // prettier-ignore

// Wrong types and out-of-range values in a query.
const badQueries: Array<[string, unknown, string?]> = [
  ['k as a string', q({ k: '5' })],
  ['k as a float', q({ k: 1.5 })],
  ['k = 0', q({ k: 0 })],
  ['k negative', q({ k: -1 })],
  ['k = 10^6', q({ k: 1_000_000 })],
  ['ef = 0', q({ ef: 0 })],
  ['ef huge', q({ ef: 1_000_000 })],
  ['vector as an object', q({ vector: { 0: 1, 1: 0, 2: 0 } })],
  ['vector as a string', q({ vector: '1,0,0' })],
  ['vector missing', { k: 2 }],
  ['NaN as a string', q({ vector: [1, 'NaN', 0] })],
  ['Infinity as a string', q({ vector: [1, 'Infinity', 0] })],
  ['1e400 (parses to Infinity)', '{"vector":[1,1e400,0],"k":1}'],
  ['unknown consistency', q({ consistency: 'linearizable' })],
  ['maxStalenessMs negative', q({ maxStalenessMs: -1 })],
  ['waitMs negative', q({ waitMs: -5 })],
  ['unknown top-level field', q({ limit: 3 })],
  ['filter as a string', q({ filter: 'lang=en' })],
  ['filter as an array', q({ filter: [{ lang: 'en' }] })],
  ['filter operator $gt', q({ filter: { n: { $gt: 1 } } })],
  ['filter $in not an array', q({ filter: { lang: { $in: 'en' } } })],
  ['filter $in of objects', q({ filter: { lang: { $in: [{ a: 1 }] } } })],
  ['filter with two operators', q({ filter: { lang: { $in: ['en'], $nin: ['de'] } } })],
  ['filter with an empty operator object', q({ filter: { lang: {} } })],
  ['filter value an array', q({ filter: { lang: ['en', 'de'] } })],
  ['model empty', q({ model: '' })],
  ['token empty', q({ token: '' })],
  ['token too long', q({ token: 'm1.1.'.padEnd(600, 'a') })],
];
badQueries.forEach(([what, body], i) => {
  // Spread the rows over the three nodes that answer queries; a few go to all three.
  const targets = i % 4 === 0 ? QT : [QT[i % 3]!];
  each(targets, (t) => ({
    name: `query: ${what}`,
    target: t,
    method: 'POST',
    path: Q,
    body,
    key: 'read',
    status: 400,
    code: 'bad_request',
  }));
});

// Wrong dim and non-finite values the schema lets through: the index refuses them.
const dimQueries: Array<[string, unknown]> = [
  ['vector too short', q({ vector: [1, 0] })],
  ['vector too long', q({ vector: [1, 0, 0, 0] })],
  ['vector empty', q({ vector: [] })],
  ['1e39 overflows float32', '{"vector":[1,1e39,0],"k":1}'],
  ['-1e39 overflows float32', '{"vector":[-1e39,0,0],"k":1}'],
];
for (const [what, body] of dimQueries) {
  each(QT, (t) => ({
    name: `query: ${what}`,
    target: t,
    method: 'POST',
    path: Q,
    body,
    key: 'read',
    status: 400,
    // The router passes a replica's 4xx on; the local nodes keep the index's own code.
    code: t === 'router' ? undefined : 'invalid_query',
  }));
}

// Session tokens: malformed or forged → 400 invalid_token, never a wait.
const badTokens: Array<[string, string]> = [
  ['no dots', 'garbage'],
  ['two parts', 'm1.abc'],
  ['wrong version', 'm2.1.0123456789abcdef'],
  ['bad signature', 'm1.1.0123456789abcdef'],
  ['empty signature', 'm1.1.'],
  ['uppercase seq', 'm1.ABC.0123456789abcdef'],
  ['seq too long', 'm1.1234567890abc.0123456789abcdef'],
  ['four parts', 'm1.1.0123456789abcdef.x'],
];
badTokens.forEach(([what, token], i) => {
  const targets = i < 2 ? QT : [QT[i % 3]!];
  each(targets, (t) => ({
    name: `query: session token ${what}`,
    target: t,
    method: 'POST',
    path: Q,
    body: q({ consistency: 'session', token, waitMs: 5_000 }),
    key: 'read',
    status: 400,
    code: 'invalid_token',
  }));
});
add({ name: 'query: eventual read with a forged token', target: 'router', method: 'POST', path: Q, body: q({ token: 'm1.zz.0123456789abcdef' }), key: 'read', status: 400, code: 'invalid_token' }); // prettier-ignore

// Model mismatch: a query naming a model the collection does not have.
each(QT, (t) => ({
  name: 'query: a model the collection does not have',
  target: t,
  method: 'POST',
  path: Q,
  body: q({ model: 'nope@9', waitMs: 0 }),
  key: 'read',
  status: 409,
  code: 'model_mismatch',
}));

// Upserts with bad points or options.
const badUpserts: Array<[string, unknown, string]> = [
  ['empty points array', { points: [] }, 'bad_request'],
  ['points missing', { ack: 'sync' }, 'bad_request'],
  ['points as an object', { points: { id: 'x', vector: [0, 0, 1] } }, 'bad_request'],
  ['id as a number', up({ id: 7 }), 'bad_request'],
  ['vector as an object', up({ vector: { a: 1 } }), 'bad_request'],
  ['vector of strings', up({ vector: ['1', '0', '0'] }), 'bad_request'],
  ['NaN as a string', up({ vector: [0, 'NaN', 1] }), 'bad_request'],
  ['unknown field in a point', up({ score: 1 }), 'bad_request'],
  ['unknown top-level field', up({}, { upsert: true }), 'bad_request'],
  ['unknown ack', up({}, { ack: 'quorum' }), 'bad_request'],
  ['timeoutMs negative', up({}, { timeoutMs: -1 }), 'bad_request'],
  ['timeoutMs a float', up({}, { timeoutMs: 1.5 }), 'bad_request'],
  ['requestId empty', up({}, { requestId: '' }), 'bad_request'],
  ['metadata an array', up({ metadata: [1, 2] }), 'bad_request'],
  ['metadata a string', up({ metadata: 'tag' }), 'bad_request'],
  ['metadata a number', up({ metadata: 5 }), 'bad_request'],
  ['vector too short', up({ vector: [0, 1] }), 'invalid_point'],
  ['vector too long', up({ vector: [0, 1, 0, 0] }), 'invalid_point'],
  ['vector empty', up({ vector: [] }), 'invalid_point'],
  ['1e39 overflows float32', '{"points":[{"id":"x","vector":[0,1e39,0]}]}', 'invalid_point'],
  ['empty id', up({ id: '' }), 'invalid_point'],
  ['id longer than 256 bytes', up({ id: 'i'.repeat(257) }), 'invalid_point'],
  ['id of 129 two-byte chars (258 bytes)', up({ id: 'é'.repeat(129) }), 'invalid_point'],
  // Regression (issue 17): lone surrogates became U+FFFD when sealed; two ids collapsed.
  ['id with a lone high surrogate', up({ id: '\ud800a' }), 'invalid_point'],
  ['id with a lone low surrogate', up({ id: '\udc00a' }), 'invalid_point'],
  ['metadata larger than 16 KiB', up({ metadata: { text: 'm'.repeat(17 * 1024) } }), 'invalid_point'], // prettier-ignore
  [
    'one good point then one bad point',
    {
      points: [
        { id: 'ok', vector: [1, 1, 1] },
        { id: 'bad', vector: [1, 1] },
      ],
    },
    'invalid_point',
  ],
];
badUpserts.forEach(([what, body, code], i) => {
  const targets = i % 3 === 0 ? WT : [WT[i % 2]!];
  each(targets, (t) => ({
    name: `upsert: ${what}`,
    target: t,
    method: 'POST',
    path: P,
    body,
    key: 'write',
    status: 400,
    code,
  }));
});

// Regression (issue 17): a collection name reached a NATS subject (`>` crashed a router's
// lookup with a 500). Every route under a collection, on every service, with NATS's
// special characters in the name: 400 (or 404 where no route takes the path), never 5xx.
const specialNames = [
  '%3E',
  '*',
  'a.b',
  'a%20b',
  '%24SYS',
  'a%01b',
  '%3E.x',
  '_lead',
  'a'.repeat(129),
];
const underCollection: Array<[Row['method'], string, unknown, Key]> = [
  ['GET', '', undefined, 'read'],
  ['PUT', '', goodCollection, 'admin'],
  ['POST', '/points', up({}), 'write'],
  ['POST', '/points/delete', { ids: ['a'] }, 'write'],
  ['POST', '/points/get', { ids: ['a'] }, 'read'],
  ['POST', '/query', q(), 'read'],
];
for (const name of specialNames) {
  for (const [method, sub, body, key] of underCollection) {
    for (const target of QT) {
      add({
        name: `collection name ${JSON.stringify(name)}: ${method} ${sub || '/'} on the ${target}`,
        target,
        method,
        path: `/v1/collections/${name}${sub}`,
        ...(body !== undefined ? { body } : {}),
        key,
        status: 400,
        code: 'bad_request',
      });
    }
  }
}

// Regression (issue 17): a replica took the router-internal minSeq from any client.
each(QT, (t) => ({ name: 'query: a client-sent minSeq', target: t, method: 'POST', path: Q, body: q({ minSeq: 1e15 }), key: 'read', status: 400, code: 'bad_request' })); // prettier-ignore
each(['follower'], (t) => ({ name: 'query: a forged readIndex', target: t, method: 'POST', path: Q, body: q({ consistency: 'strong', readIndex: 'm1.zz.0123456789abcdef' }), key: 'read', status: 400, code: 'invalid_token' })); // prettier-ignore

// Deletes.
const badDeletes: Array<[string, unknown]> = [
  ['ids as a string', { ids: 'a' }],
  ['ids empty', { ids: [] }],
  ['ids of numbers', { ids: [1, 2] }],
  ['an empty id', { ids: [''] }],
  ['ids missing', {}],
  ['unknown field', { ids: ['a'], cascade: true }],
  ['unknown ack', { ids: ['a'], ack: 'all' }],
  ['an id longer than 256 bytes', { ids: ['i'.repeat(257)] }],
  ['an id with a lone surrogate', { ids: ['\ud800a'] }],
];
badDeletes.forEach(([what, body], i) =>
  add({
    name: `delete: ${what}`,
    target: WT[i % 2]!,
    method: 'POST',
    path: D,
    body,
    key: 'write',
    status: 400,
    code: 'bad_request',
  }),
);

// Writes naming a model the collection does not have: a model mismatch (409).
each(WT, (t) => ({ name: 'upsert: a model the collection does not have', target: t, method: 'POST', path: P, body: up({}, { model: 'nope@9' }), key: 'write', status: 409, code: 'model_mismatch' })); // prettier-ignore
add({ name: 'delete: a model the collection does not have', target: 'primary', method: 'POST', path: D, body: { ids: ['a'], model: 'nope@9' }, key: 'write', status: 409, code: 'model_mismatch' }); // prettier-ignore

// Creating a collection with bad settings (a new name, so only the body is wrong).
const badCreates: Array<[string, unknown]> = [
  ['dim negative', { ...goodCollection, dim: -3 }],
  ['dim zero', { ...goodCollection, dim: 0 }],
  ['dim a float', { ...goodCollection, dim: 2.5 }],
  ['dim huge', { ...goodCollection, dim: 1_000_000 }],
  ['dim as a string', { ...goodCollection, dim: '3' }],
  ['dim missing', { metric: 'l2', model: 'm@1' }],
  ['unknown metric', { ...goodCollection, metric: 'hamming' }],
  ['model empty', { ...goodCollection, model: '' }],
  ['model missing', { dim: 3, metric: 'l2' }],
  ['hnsw M too small', { ...goodCollection, hnsw: { M: 1 } }],
  ['hnsw efSearch 0', { ...goodCollection, hnsw: { efSearch: 0 } }],
  ['unknown field inside hnsw', { ...goodCollection, hnsw: { M: 16, ef: 64 } }],
  ['hnsw as an array', { ...goodCollection, hnsw: [16] }],
  ['placement empty', { ...goodCollection, placement: [] }],
  ['placement with a bad region', { ...goodCollection, placement: ['us east'] }],
  ['placement a string', { ...goodCollection, placement: 'us-east' }],
  ['maxStalenessMs negative', { ...goodCollection, maxStalenessMs: -1 }],
  ['unknown defaultAck', { ...goodCollection, defaultAck: 'maybe' }],
  ['unknown top-level field', { ...goodCollection, shards: 2 }],
];
badCreates.forEach(([what, body], i) =>
  add({
    name: `create: ${what}`,
    target: i % 3 === 2 ? 'router' : 'primary',
    method: 'PUT',
    path: NEW,
    body,
    key: 'admin',
    status: 400,
    code: 'bad_request',
  }),
);

// Illegal collection names (the body is fine).
const badNames: Array<[string, string]> = [
  ['a dot', 'bad.name'],
  ['a space', 'bad%20name'],
  ['a leading dash', '-dash'],
  ['a leading underscore', '_under'],
  ['a dollar sign', 'cost%24'],
  ['non-ASCII letters', 'caf%C3%A9'],
  ['129 characters', 'n'.repeat(129)],
];
badNames.forEach(([what, name], i) =>
  add({
    name: `create: collection name with ${what}`,
    target: i % 2 === 0 ? 'primary' : 'router',
    method: 'PUT',
    path: `/v1/collections/${name}`,
    body: goodCollection,
    key: 'admin',
    status: 400,
    code: 'bad_request',
  }),
);

// An existing name with different settings → 409.
const conflicts: Array<[string, unknown]> = [
  ['a different dim', { ...goodCollection, dim: 4 }],
  ['a different metric', { ...goodCollection, metric: 'cosine' }],
  ['a different model', { ...goodCollection, model: 'm@2' }],
  ['different hnsw settings', { ...goodCollection, hnsw: { M: 48 } }],
];
conflicts.forEach(([what, body], i) =>
  add({
    name: `create: existing collection with ${what}`,
    target: WT[i % 2]!,
    method: 'PUT',
    path: C,
    body,
    key: 'admin',
    status: 409,
    code: 'collection_exists',
  }),
);

// Unknown collection → 404 for every route that names one.
each(WT, (t) => ({ name: 'upsert: unknown collection', target: t, method: 'POST', path: `${NOPE}/points`, body: up({}), key: 'write', status: 404, code: 'not_found' })); // prettier-ignore
each(WT, (t) => ({ name: 'delete: unknown collection', target: t, method: 'POST', path: `${NOPE}/points/delete`, body: { ids: ['a'] }, key: 'write', status: 404, code: 'not_found' })); // prettier-ignore
each(QT, (t) => ({ name: 'query: unknown collection', target: t, method: 'POST', path: `${NOPE}/query`, body: q(), key: 'read', status: 404, code: 'not_found' })); // prettier-ignore
each(QT, (t) => ({ name: 'get: unknown collection', target: t, method: 'GET', path: NOPE, key: 'read', status: 404, code: 'not_found' })); // prettier-ignore
add({ name: 'upsert (Arrow): unknown collection', target: 'primary', method: 'POST', path: `${NOPE}/points`, body: goodArrow, type: ARROW, key: 'write', status: 404, code: 'not_found' }); // prettier-ignore

// Broken Arrow uploads → 400.
const badArrows: Array<[string, Uint8Array, string?]> = [
  ['random bytes', noise(512), 'invalid_point'],
  ['empty body', new Uint8Array(0), undefined],
  ['a truncated stream', goodArrow.subarray(0, Math.floor(goodArrow.length * 0.6)), undefined],
  ['vectors 4 wide for a dim-3 collection', arrowBody(['w1'], 4), 'invalid_point'],
  ['vectors 2 wide for a dim-3 collection', arrowBody(['w1', 'w2'], 2), 'invalid_point'],
  ['id column not utf8', arrowIdNotUtf8, 'invalid_point'],
  ['id column missing', renameField(goodArrow, 'id', 'ix'), 'invalid_point'],
  ['vector column missing', renameField(goodArrow, 'vector', 'vectox'), 'invalid_point'],
  ['a null id', arrowBody(['n1', null]), 'invalid_point'],
  ['no rows', arrowBody([]), 'bad_request'],
  ['metadata not an object', arrowBody(['md1'], DIM, { metadata: ['tag'] }), 'invalid_point'],
  ['a NaN component', arrowBody(['nan1'], DIM, { vectors: [0, NaN, 1] }), 'invalid_point'],
  ['an id longer than 256 bytes', arrowBody(['i'.repeat(300)]), 'invalid_point'],
  ['an empty id', arrowBody(['']), 'invalid_point'],
];
badArrows.forEach(([what, bytes, code], i) => {
  const targets = i < 2 ? WT : ['primary' as const];
  each(targets, (t) => ({
    name: `upsert (Arrow): ${what}`,
    target: t,
    method: 'POST',
    path: P,
    body: bytes,
    type: ARROW,
    key: 'write',
    status: 400,
    ...(code ? { code } : {}),
  }));
});
add({ name: 'upsert (Arrow): unknown ack in the query string', target: 'primary', method: 'POST', path: `${P}?ack=maybe`, body: goodArrow, type: ARROW, key: 'write', status: 400, code: 'bad_request' }); // prettier-ignore
add({ name: 'upsert (Arrow): negative timeoutMs in the query string', target: 'router', method: 'POST', path: `${P}?timeoutMs=-1`, body: goodArrow, type: ARROW, key: 'write', status: 400, code: 'bad_request' }); // prettier-ignore
add({ name: 'upsert (Arrow): a model the collection does not have', target: 'primary', method: 'POST', path: `${P}?model=nope%409`, body: goodArrow, type: ARROW, key: 'write', status: 409, code: 'model_mismatch' }); // prettier-ignore

// Too large → 413, before anything is parsed.
add({ name: 'upsert: body over the limit', target: 'primary', method: 'POST', path: P, body: up({ metadata: { big } }), key: 'write', status: 413, code: 'payload_too_large' }); // prettier-ignore
add({ name: 'upsert: body over the limit', target: 'router', method: 'POST', path: P, body: up({ metadata: { big } }), key: 'write', status: 413, code: 'payload_too_large' }); // prettier-ignore
add({ name: 'upsert: chunked body over the limit', target: 'primary', method: 'POST', path: P, body: up({ metadata: { big } }), chunked: true, key: 'write', status: 413, code: 'payload_too_large' }); // prettier-ignore
add({ name: 'upsert (Arrow): body over the limit', target: 'primary', method: 'POST', path: P, body: noise(MAX_BODY + 1), type: ARROW, key: 'write', status: 413, code: 'payload_too_large' }); // prettier-ignore
add({ name: 'query: body over the limit', target: 'follower', method: 'POST', path: Q, body: q({ filter: { big } }), key: 'read', status: 413, code: 'payload_too_large' }); // prettier-ignore
add({ name: 'query: chunked body over the limit', target: 'router', method: 'POST', path: Q, body: q({ filter: { big } }), chunked: true, key: 'read', status: 413, code: 'payload_too_large' }); // prettier-ignore
add({ name: 'create: body over the limit', target: 'primary', method: 'PUT', path: NEW, body: { ...goodCollection, big }, key: 'admin', status: 413, code: 'payload_too_large' }); // prettier-ignore

// Wrong or missing content type on JSON routes → 415.
const types: Array<[string, string | null]> = [
  ['text/plain', 'text/plain'],
  ['no content type', null],
  ['application/xml', 'application/xml'],
  ['form encoded', 'application/x-www-form-urlencoded'],
];
types.forEach(([what, type], i) => {
  add({ name: `query: ${what}`, target: QT[i % 3]!, method: 'POST', path: Q, body: JSON.stringify(q()), type, key: 'read', status: 415, code: 'unsupported_media_type' }); // prettier-ignore
  add({ name: `upsert: ${what}`, target: WT[i % 2]!, method: 'POST', path: P, body: JSON.stringify(up({})), type, key: 'write', status: 415, code: 'unsupported_media_type' }); // prettier-ignore
});
add({ name: 'delete: text/plain', target: 'primary', method: 'POST', path: D, body: '{"ids":["a"]}', type: 'text/plain', key: 'write', status: 415, code: 'unsupported_media_type' }); // prettier-ignore
add({ name: 'create: text/plain', target: 'router', method: 'PUT', path: NEW, body: JSON.stringify(goodCollection), type: 'text/plain', key: 'admin', status: 415, code: 'unsupported_media_type' }); // prettier-ignore

// Authentication (401) and roles (403).
const routes: Array<[string, Row['method'], string, unknown, Key]> = [
  ['query', 'POST', Q, q(), 'read'],
  ['upsert', 'POST', P, up({}), 'write'],
  ['delete', 'POST', D, { ids: ['a'] }, 'write'],
  ['create', 'PUT', NEW, goodCollection, 'admin'],
  ['get', 'GET', C, undefined, 'read'],
];
for (const [what, method, path, body] of routes) {
  each(WT, (t) => ({ name: `${what}: no API key`, target: t, method, path, body, key: 'none', status: 401, code: 'unauthorized' })); // prettier-ignore
  each(WT, (t) => ({ name: `${what}: unknown API key`, target: t, method, path, body, key: 'wrong', status: 401, code: 'unauthorized' })); // prettier-ignore
}
add({ name: 'query: no API key', target: 'follower', method: 'POST', path: Q, body: q(), key: 'none', status: 401, code: 'unauthorized' }); // prettier-ignore
add({ name: 'query: unknown API key', target: 'follower', method: 'POST', path: Q, body: q(), key: 'wrong', status: 401, code: 'unauthorized' }); // prettier-ignore
add({ name: 'get: Basic instead of Bearer', target: 'primary', method: 'GET', path: C, key: 'none', auth: `Basic ${Buffer.from(`u:${TEST_KEYS.admin}`).toString('base64')}`, status: 401, code: 'unauthorized' }); // prettier-ignore
add({ name: 'get: Bearer without a key', target: 'router', method: 'GET', path: C, key: 'none', auth: 'Bearer', status: 401, code: 'unauthorized' }); // prettier-ignore
add({ name: 'get: two tokens after Bearer', target: 'follower', method: 'GET', path: C, key: 'none', auth: `Bearer ${TEST_KEYS.read} ${TEST_KEYS.read}`, status: 401, code: 'unauthorized' }); // prettier-ignore
add({ name: 'upsert: the key without Bearer', target: 'primary', method: 'POST', path: P, body: up({}), key: 'none', auth: TEST_KEYS.write, status: 401, code: 'unauthorized' }); // prettier-ignore
for (const t of WT) {
  add({ name: 'upsert: read key', target: t, method: 'POST', path: P, body: up({}), key: 'read', status: 403, code: 'forbidden' }); // prettier-ignore
  add({ name: 'upsert (Arrow): read key', target: t, method: 'POST', path: P, body: goodArrow, type: ARROW, key: 'read', status: 403, code: 'forbidden' }); // prettier-ignore
  add({ name: 'delete: read key', target: t, method: 'POST', path: D, body: { ids: ['a'] }, key: 'read', status: 403, code: 'forbidden' }); // prettier-ignore
  add({ name: 'create: read key', target: t, method: 'PUT', path: NEW, body: goodCollection, key: 'read', status: 403, code: 'forbidden' }); // prettier-ignore
  add({ name: 'create: write key', target: t, method: 'PUT', path: NEW, body: goodCollection, key: 'write', status: 403, code: 'forbidden' }); // prettier-ignore
}

// A follower has no write routes; unknown routes anywhere are a JSON 404.
add({ name: 'upsert on a follower', target: 'follower', method: 'POST', path: P, body: up({}), key: 'admin', status: 404, code: 'not_found' }); // prettier-ignore
add({ name: 'upsert (Arrow) on a follower', target: 'follower', method: 'POST', path: P, body: goodArrow, type: ARROW, key: 'write', status: 404, code: 'not_found' }); // prettier-ignore
add({ name: 'delete on a follower', target: 'follower', method: 'POST', path: D, body: { ids: ['a'] }, key: 'write', status: 404, code: 'not_found' }); // prettier-ignore
add({ name: 'create on a follower', target: 'follower', method: 'PUT', path: NEW, body: goodCollection, key: 'admin', status: 404, code: 'not_found' }); // prettier-ignore
add({ name: 'regions on a follower', target: 'follower', method: 'GET', path: '/v1/regions', key: 'read', status: 404, code: 'not_found' }); // prettier-ignore
add({ name: 'DELETE on a collection', target: 'primary', method: 'DELETE', path: C, key: 'admin', status: 404, code: 'not_found' }); // prettier-ignore
add({ name: 'an unknown route', target: 'router', method: 'GET', path: '/v1/nothing-here', key: 'read', status: 404, code: 'not_found' }); // prettier-ignore
add({ name: 'POST on the collection list', target: 'primary', method: 'POST', path: '/v1/collections', body: goodCollection, key: 'admin', status: 404, code: 'not_found' }); // prettier-ignore

// --- the cluster -----------------------------------------------------------------------

let nats: NatsServerHandle;
let cluster: TestCluster;
let link: NatsLink;
let seedToken = '';
const ran = new Set<string>();

const nodeName: Record<Target, string> = { primary: 'p1', follower: 'f1', router: 'r1' };
const urlOf = (t: Target) => cluster.node(nodeName[t]).url;
const primary = () => cluster.node('p1').primary!;

interface Snapshot {
  walSeq: number;
  catalogSeq: number;
  commitSeq: number;
  collections: unknown;
  followerCollections: unknown;
  primaryQuery: unknown;
  routerQuery: unknown;
}

/** What a state change would show: WAL and catalog stream positions, point counts, answers. */
async function snapshot(): Promise<Snapshot> {
  const listing = async (t: Target) => {
    const r = await http(`${urlOf(t)}/v1/collections`, 'GET', undefined, TEST_KEYS.read);
    expect(r.status).toBe(200);
    return r.body.collections.map((c: any) => ({
      name: c.name,
      dim: c.dim,
      metric: c.metric,
      hnsw: c.hnsw,
      generations: c.generations,
    }));
  };
  const query = async (t: Target) => {
    const r = await http(`${urlOf(t)}${Q}`, 'POST', { vector: [1, 0.5, 0], k: 10 }, TEST_KEYS.read);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.results;
  };
  return {
    walSeq: (await link.jsm.streams.info(Streams.wal)).state.last_seq,
    catalogSeq: (await link.jsm.streams.info(Streams.catalog)).state.last_seq,
    commitSeq: primary().commitPosition.seq,
    collections: await listing('primary'),
    followerCollections: await listing('follower'),
    primaryQuery: await query('primary'),
    routerQuery: await query('router'),
  };
}

let before: Snapshot;

beforeAll(async () => {
  nats = await startNatsServer();
  const limits = { maxBodyBytes: MAX_BODY };
  cluster = await startCluster(
    nats.url,
    ['us-east', 'eu-west'],
    [
      { role: 'primary', region: 'us-east', node: 'p1', overrides: { limits } },
      { role: 'follower', region: 'eu-west', node: 'f1', overrides: { limits } },
      {
        role: 'router',
        region: 'eu-west',
        node: 'r1',
        overrides: {
          limits,
          router: { hostReplica: false, probeIntervalMs: 200, hedgeAfterMs: 0 },
        },
      },
    ],
  );
  link = await connectNats({ servers: nats.url, name: 'bad-input-test' });
  const p = urlOf('primary');
  const put = await http(`${p}${C}`, 'PUT', goodCollection);
  expect(put.status, JSON.stringify(put.body)).toBe(201);
  const w = await http(
    `${p}${P}`,
    'POST',
    {
      points: [
        { id: 'a', vector: [1, 0, 0], metadata: { lang: 'en' } },
        { id: 'b', vector: [0, 1, 0], metadata: { lang: 'de' } },
        { id: 'c', vector: [0, 0, 1], metadata: null },
      ],
      ack: 'sync',
      timeoutMs: 10_000,
    },
    TEST_KEYS.write,
  );
  expect(w.status, JSON.stringify(w.body)).toBe(200);
  seedToken = w.body.token;
  // The router must know the follower holds the collection before the table starts.
  await waitFor(
    async () => {
      const { body } = await http(`${urlOf('router')}/v1/regions`, 'GET', undefined, TEST_KEYS.read); // prettier-ignore
      return body.replicas.some(
        (r: any) =>
          r.node === 'f1' &&
          r.rttMs !== null &&
          r.appliedSeq >= w.body.seq &&
          r.versions.some((v: any) => v.collection === 'docs'),
      );
    },
    { timeoutMs: 10_000, message: 'the router to see the follower holding docs' },
  );
  before = await snapshot();
});

afterAll(async () => {
  await link?.close();
  await cluster?.close();
  await nats?.stop();
});

/** The body as bytes (so fetch never adds a Content-Type of its own). */
function bytesOf(body: unknown): Uint8Array | undefined {
  if (body === undefined) return undefined;
  if (body instanceof Uint8Array) return body;
  return new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body));
}

async function send(row: Row): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = {};
  if (row.auth !== undefined) headers.authorization = row.auth;
  else if (row.key !== 'none') headers.authorization = `Bearer ${keys[row.key]}`;
  const bytes = bytesOf(row.body);
  const type = row.type === undefined ? (bytes ? 'application/json' : null) : row.type;
  if (type) headers['content-type'] = type;
  const init: RequestInit & { duplex?: 'half' } = { method: row.method, headers };
  if (bytes && row.chunked) {
    init.body = new ReadableStream({
      start(ctrl) {
        for (let i = 0; i < bytes.length; i += 8192) ctrl.enqueue(bytes.subarray(i, i + 8192));
        ctrl.close();
      },
    });
    init.duplex = 'half';
  } else if (bytes) {
    init.body = bytes;
  }
  const res = await fetch(`${urlOf(row.target)}${row.path}`, init);
  return { status: res.status, text: await res.text() };
}

/** Anything that looks like a stack frame or a server-side file path. */
const LEAK =
  /\n\s+at |\bat \S+ \(|\(\/[^)]*:\d+:\d+\)|\/work\/|\/home\/|node_modules|\.[cm]?[jt]s:\d+|file:\/\//;

describe('services: malformed requests', () => {
  it('has at least 100 rows, each named uniquely', () => {
    expect(rows.length).toBeGreaterThanOrEqual(100);
    const names = rows.map((r) => `${r.target} ${r.name}`);
    expect(new Set(names).size, 'duplicate row names').toBe(names.length);
  });

  const label = (r: Row) => [`${r.target}: ${r.name} → ${r.status}`, r] as const;
  const checkRow = async (_label: string, row: Row) => {
    const seq = primary().commitPosition.seq;
    const res = await send(row);
    let body: any;
    try {
      body = JSON.parse(res.text);
    } catch {
      throw new Error(`not JSON (status ${res.status}): ${res.text.slice(0, 200)}`);
    }
    expect(res.status, res.text).toBe(row.status);
    expect(body, res.text).toEqual(
      expect.objectContaining({
        error: expect.objectContaining({ code: expect.any(String), message: expect.any(String) }),
      }),
    );
    expect(Object.keys(body)).toEqual(['error']);
    expect(body.error.message.trim().length).toBeGreaterThan(0);
    if (row.code) expect(body.error.code, res.text).toBe(row.code);
    expect(res.text).not.toMatch(LEAK);
    // Every node is still alive, and nothing reached the WAL.
    for (const t of QT) {
      const h = await fetch(`${urlOf(t)}/healthz`);
      expect(h.status, `${t} /healthz after the row`).toBe(200);
    }
    expect(primary().commitPosition.seq, 'the WAL moved').toBe(seq);
    ran.add(row.name + row.target);
  };
  it.each(rows.filter((r) => !r.bug).map(label))('%s', checkRow);
  // Known bugs (see each row's `bug`): expected to fail until fixed.
  it.fails.each(rows.filter((r) => r.bug).map(label))('known bug: %s', checkRow);

  it('changed nothing over the whole table', async () => {
    expect(ran.size, 'rows that passed').toBeGreaterThan(0);
    const after = await snapshot();
    expect(after).toEqual(before);
    expect(after.primaryQuery).toHaveLength(3);
  });

  // Legitimate writes run after the no-change check.
  it('accepts duplicate ids in one batch, and the last occurrence wins', async () => {
    const seq = primary().commitPosition.seq;
    const count = async () =>
      (await http(`${urlOf('primary')}${C}`, 'GET', undefined, TEST_KEYS.read)).body.generations[0]
        .points;
    const pointsBefore = await count();
    const res = await http(
      `${urlOf('router')}${P}`,
      'POST',
      {
        points: [
          { id: 'dup', vector: [0, 0, 1], metadata: { v: 1 } },
          { id: 'dup', vector: [0, 1, 1], metadata: { v: 2 } },
        ],
        ack: 'sync',
        timeoutMs: 10_000,
      },
      TEST_KEYS.write,
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.seq, 'one WAL entry for the batch').toBe(seq + 1);
    expect(await count(), 'one new point, not two').toBe(pointsBefore + 1);
    for (const t of QT) {
      const r = await http(
        `${urlOf(t)}${Q}`,
        'POST',
        { vector: [0, 1, 1], k: 10, consistency: 'session', token: res.body.token },
        TEST_KEYS.read,
      );
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const dups = r.body.results.filter((h: any) => h.id === 'dup');
      expect(dups, t).toHaveLength(1);
      expect(dups[0].metadata).toEqual({ v: 2 });
      expect(r.body.results[0].id).toBe('dup');
      expect(r.body.results[0].score).toBeCloseTo(0);
    }
  });

  it('reads its own earlier write with the seed token (a well-formed token is not refused)', async () => {
    const r = await http(
      `${urlOf('router')}${Q}`,
      'POST',
      q({ consistency: 'session', token: seedToken }),
      TEST_KEYS.read,
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  });
});
