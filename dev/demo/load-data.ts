import { until } from '../../lib/wait.ts';
import type { LaunchedCluster } from '../cluster/launcher.ts';
import type { FioriRecord } from './fiori.ts';

/**
 * Loads the demo's data through the primary region's router: the Fiori passages (with
 * their text as metadata) and, with `--synthetic N`, N seeded generated points; then
 * waits until every region's follower serves them.
 */
export async function loadDemoData(o: {
  cluster: LaunchedCluster;
  apiKey: string;
  fiori: { dim: number; model: string; records: FioriRecord[] };
  synthetic: number;
  say: (line: string) => void;
}): Promise<{ collections: Array<{ name: string; dim: number }> }> {
  const primary = o.cluster.regions.find((r) => r.primary)!;
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${primary.routerUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${o.apiKey}`, 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  await waitForPrimary(primary.routerUrl, o.apiKey);
  const collections = [{ name: 'fiori', dim: o.fiori.dim }];
  o.say(`loading ${o.fiori.records.length} Fiori documentation passages (${o.fiori.dim} dims)`);
  await api('PUT', '/v1/collections/fiori', {
    dim: o.fiori.dim,
    metric: 'cosine',
    model: 'minilm-l6@1',
  });
  let seq = 0;
  for (let i = 0; i < o.fiori.records.length; i += 200) {
    const points = o.fiori.records.slice(i, i + 200).map((r) => ({
      id: r.id,
      vector: Array.from(r.vector),
      metadata: { text: r.text.slice(0, 2_000), title: titleOf(r.text) },
    }));
    seq = (await api('POST', '/v1/collections/fiori/points', { points })).seq as number;
  }
  if (o.synthetic > 0) {
    const dim = 128;
    collections.push({ name: 'synthetic', dim });
    o.say(`loading ${o.synthetic} synthetic points (${dim} dims, seeded)`);
    await api('PUT', '/v1/collections/synthetic', { dim, metric: 'l2', model: 'synthetic@1' });
    let state = 42;
    const rand = () => {
      state = (state * 1664525 + 1013904223) >>> 0;
      return state / 2 ** 32;
    };
    for (let i = 0; i < o.synthetic; i += 1_000) {
      const n = Math.min(1_000, o.synthetic - i);
      const points = Array.from({ length: n }, (_, j) => ({
        id: `s${i + j}`,
        vector: Array.from({ length: dim }, () => Math.round(rand() * 1000) / 10),
        metadata: { cluster: (i + j) % 16 },
      }));
      seq = (await api('POST', '/v1/collections/synthetic/points', { points })).seq as number;
    }
  }
  o.say('waiting for every region to apply the data');
  for (const r of o.cluster.regions) {
    await waitUntil(
      async () => {
        const res = await fetch(`${r.routerUrl}/v1/regions`, {
          headers: { authorization: `Bearer ${o.apiKey}` },
        });
        const body = (await res.json()) as {
          replicas: Array<{ region: string; appliedSeq: number }>;
        };
        const mine = body.replicas.filter((x) => x.region === r.name);
        return mine.length > 0 && mine.every((x) => x.appliedSeq >= seq);
      },
      120_000,
      `region ${r.name} to apply the data`,
    );
  }
  return { collections };
}

function titleOf(text: string): string {
  const m = /\*\*TITLE\*\*:\s*(.+)/.exec(text);
  return (m?.[1] ?? text.split('\n')[0] ?? '').slice(0, 200);
}

async function waitForPrimary(routerUrl: string, apiKey: string): Promise<void> {
  await waitUntil(
    async () => {
      const res = await fetch(`${routerUrl}/v1/regions`, {
        headers: { authorization: `Bearer ${apiKey}` },
      });
      const body = (await res.json()) as { primary: unknown };
      return body.primary !== null;
    },
    60_000,
    'the router to hear the primary',
  );
}

async function waitUntil(
  ok: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  if (!(await until(ok, { timeoutMs, pollMs: 200 })))
    throw new Error(`timed out waiting for ${what}`);
}
