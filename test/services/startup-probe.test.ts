import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../dev/cluster/launcher.ts';
import { TEST_KEYS, http } from '../../dev/harness/services.ts';
import { useServiceCluster } from '../harness/service-fixture.ts';

const STARTS = 20;
const fx = useServiceCluster(['us-east', 'eu-west'], []);

interface Answer {
  path: string;
  status: number;
  code: string | null;
  retryAfter: string | null;
}

/** One request; null while nothing listens on the port yet. */
function ask(port: number, method: string, path: string, body?: string): Promise<Answer | null> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: false,
        headers: {
          authorization: `Bearer ${TEST_KEYS.read}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => {
          let code: string | null = null;
          try {
            code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? null;
          } catch {
            code = null;
          }
          const retryAfter = res.headers['retry-after'];
          resolve({ path, status: res.statusCode!, code, retryAfter: retryAfter ?? null });
        });
      },
    );
    req.on('error', () => resolve(null));
    req.end(body);
  });
}

/**
 * Polls a port as fast as it can — readiness, then an API route, in turn — from before
 * the node starts until `/readyz` answers 200. Every answer before that must be the
 * gate's: 503 with `Retry-After` (never a 404, never a dropped connection once listening).
 */
function probe(port: number): { done: Promise<Answer[]>; stop: () => void } {
  let stopped = false;
  const done = (async () => {
    const seen: Answer[] = [];
    while (!stopped) {
      const ready = await ask(port, 'GET', '/readyz');
      if (ready) seen.push(ready);
      if (ready?.status === 200) break;
      const api = await ask(port, 'POST', '/v1/collections/docs/query', '{"vector":[1,0,0]}');
      if (api) seen.push(api);
      const other = await ask(port, 'GET', '/v1/collections');
      if (other) seen.push(other);
    }
    return seen;
  })();
  return { done, stop: () => (stopped = true) };
}

async function startUnderProbe(
  role: 'primary' | 'follower' | 'router',
  region: string,
  node: string,
): Promise<Answer[]> {
  const port = await freePort();
  const p = probe(port);
  try {
    await fx.cluster.start({
      role,
      region,
      node,
      overrides: { http: { host: '127.0.0.1', port } },
    });
  } catch (err) {
    p.stop();
    throw err;
  }
  const seen = await p.done;
  await fx.cluster.stop(node);
  return seen;
}

/** An answer of the gate: the node was not ready when it was asked. */
const gated = (a: Answer) => a.status === 503 && (a.path === '/readyz' || a.code === 'starting');

describe('a node starting under a readiness probe', () => {
  // Regression (issue 10): the node listened before registering its routes; the first
  // request built Hono's router and the next registration threw, killing the process.
  it(`answers 503 with Retry-After until ready, then serves; primary, follower and router, ${STARTS} starts each`, async () => {
    // Data to recover on every start: a collection with a sealed segment and a memtable.
    const primary = await fx.cluster.start({ role: 'primary', region: 'us-east', node: 'p1' });
    expect(
      (
        await http(`${primary.url}/v1/collections/docs`, 'PUT', {
          dim: 3,
          metric: 'l2',
          model: 'm@1',
        })
      ).status,
    ).toBe(201);
    const points = Array.from({ length: 200 }, (_, i) => ({ id: `d${i}`, vector: [i, 1, 2] }));
    await http(`${primary.url}/v1/collections/docs/points`, 'POST', { points });
    await primary.primary!.seal('docs');
    await http(`${primary.url}/v1/collections/docs/points`, 'POST', {
      points: points.slice(0, 20),
    });
    await fx.cluster.stop('p1');

    let gatedAnswers = 0;
    const roles = [
      ['primary', 'us-east', 'p1'],
      ['follower', 'eu-west', 'f1'],
      ['router', 'eu-west', 'r1'],
    ] as const;
    for (const [role, region, node] of roles) {
      for (let i = 0; i < STARTS; i++) {
        const seen = await startUnderProbe(role, region, node);
        const what = `${role} start ${i}`;
        expect(seen.at(-1), `${what} reached ready`).toMatchObject({ status: 200 });
        const early = seen.slice(
          0,
          seen.findIndex((a) => !gated(a)),
        );
        // Until the node is ready every answer is the gate's, with a retry hint; from the
        // first real answer on, never the gate's again; and never a 404 or a 5xx other
        // than the gate's 503.
        for (const a of early) expect(a.retryAfter, `${what}: ${a.path}`).toBe('1');
        expect(seen.slice(early.length).filter(gated), what).toEqual([]);
        for (const a of seen) {
          expect(a.status, `${what}: ${a.path} ${a.code}`).not.toBe(404);
          if (!gated(a)) expect(a.status, `${what}: ${a.path} ${a.code}`).toBeLessThan(500);
        }
        gatedAnswers += early.length;
      }
      // The primary stays up for the follower and router rounds.
      if (role === 'primary') await fx.cluster.start({ role, region, node });
    }
    // The probe did reach nodes while they were starting (the test can see the bug).
    expect(gatedAnswers).toBeGreaterThan(STARTS * roles.length);
  }, 300_000);
});
