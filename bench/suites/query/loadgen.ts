/**
 * Closed-loop HTTP load generator for the `query` suite, run as its OWN process so that
 * its CPU is not charged to the router being measured (on a 2-core machine it still
 * competes for the cores: the suite reports its CPU time so that can be read).
 *
 * `node --import tsx bench/suites/query/loadgen.ts --url U --key K --queries FILE
 *   --concurrency N (--duration-ms MS | --requests N) [--warmup-ms MS] [--consistency L]
 *   [--token T] [--k 10] [--ef 64]`
 *
 * `concurrency` workers each send one POST, wait for the whole answer, then send the next
 * (keep-alive sockets, one per worker). Request bodies are serialised before the clock
 * starts. Answers during the warm-up are not counted. Prints one JSON line: {@link LoadResult}.
 */
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import { percentile, round } from '../../lib.ts';

/** What the load generator prints (one JSON line on stdout). */
export interface LoadResult {
  concurrency: number;
  count: number;
  errors: number;
  first_error: string | null;
  /** Answers checked by parsing (every 50th): each must hold exactly `k` results. */
  checked: number;
  duration_s: number;
  qps: number;
  p50_ms: number;
  p99_ms: number;
  mean_ms: number;
  /** CPU the load generator itself used while measuring, in % of one core. */
  cpu_pct: number;
}

const CHECK_EVERY = 50;

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    key: { type: 'string' },
    queries: { type: 'string' },
    concurrency: { type: 'string', default: '1' },
    'duration-ms': { type: 'string' },
    requests: { type: 'string' },
    'warmup-ms': { type: 'string', default: '0' },
    consistency: { type: 'string', default: 'eventual' },
    token: { type: 'string' },
    k: { type: 'string', default: '10' },
    ef: { type: 'string', default: '64' },
  },
  strict: true,
});
if (!values.url || !values.key || !values.queries)
  throw new Error('loadgen: --url, --key and --queries are required');
if (!values['duration-ms'] && !values.requests)
  throw new Error('loadgen: give --duration-ms or --requests');

const url = new URL(values.url);
const concurrency = Number(values.concurrency);
const k = Number(values.k);
const durationMs = values['duration-ms'] ? Number(values['duration-ms']) : Infinity;
const maxRequests = values.requests ? Number(values.requests) : Infinity;
const warmupMs = Number(values['warmup-ms']);

const vectors = JSON.parse(await readFile(values.queries, 'utf8')) as number[][];
const bodies = vectors.map((vector) =>
  Buffer.from(
    JSON.stringify({
      vector,
      k,
      ef: Number(values.ef),
      consistency: values.consistency,
      ...(values.token ? { token: values.token } : {}),
    }),
  ),
);
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
const headers = {
  authorization: `Bearer ${values.key}`,
  'content-type': 'application/json',
};

function post(body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent,
        headers: { ...headers, 'content-length': body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const samples: number[] = [];
let errors = 0;
let firstError: string | null = null;
let checked = 0;
let next = 0;
let measuring = warmupMs <= 0;
let t0 = performance.now();
let cpu0 = process.cpuUsage();
const started = performance.now();

async function worker(): Promise<void> {
  for (;;) {
    const now = performance.now();
    if (!measuring && now - started >= warmupMs) {
      measuring = true;
      t0 = now;
      cpu0 = process.cpuUsage();
    }
    if (measuring && (now - t0 >= durationMs || samples.length + errors >= maxRequests)) return;
    const i = next++;
    const counted = measuring; // a request sent during the warm-up never counts
    const s = performance.now();
    let ok = false;
    try {
      const res = await post(bodies[i % bodies.length]!);
      ok = res.status === 200;
      if (!ok) firstError ??= `HTTP ${res.status}: ${res.text.slice(0, 300)}`;
      else if (i % CHECK_EVERY === 0) {
        const n = (JSON.parse(res.text) as { results: unknown[] }).results.length;
        if (n !== k) {
          ok = false;
          firstError ??= `answer held ${n} results, wanted ${k}`;
        }
        checked++;
      }
    } catch (err) {
      firstError ??= (err as Error).message;
    }
    if (!counted) continue;
    if (ok) samples.push(performance.now() - s);
    else errors++;
  }
}

await Promise.all(Array.from({ length: concurrency }, () => worker()));
const elapsed = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
agent.destroy();
samples.sort((a, b) => a - b);
const result: LoadResult = {
  concurrency,
  count: samples.length,
  errors,
  first_error: firstError,
  checked,
  duration_s: round(elapsed / 1000, 2),
  qps: Math.round(samples.length / (elapsed / 1000)),
  p50_ms: round(percentile(samples, 50), 3),
  p99_ms: round(percentile(samples, 99), 3),
  mean_ms: round(samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length), 3),
  cpu_pct: round(((cpu.user + cpu.system) / 1000 / elapsed) * 100, 1),
};
process.stdout.write(JSON.stringify(result) + '\n');
