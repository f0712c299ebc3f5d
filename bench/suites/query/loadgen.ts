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
 * (keep-alive sockets, one per worker; no pipelining). Each request (headers and body) is
 * built as one Buffer before the clock starts. Answers during the warm-up are not counted.
 * Prints one JSON line: {@link LoadResult}.
 *
 * The HTTP client is a small one on `node:net` ({@link Connection}), because every
 * microsecond it spends is taken from the server it measures. Its CPU per request against
 * `bare-server.ts` serving a fake 10-hit search, 2 cores shared with that server, runs
 * alternated, median (and range) of 5 runs of 5 s at 32 connections and 3 runs of 4 s at 1:
 *
 * | client                                                  | µs/req, 32 conns | µs/req, 1 conn |
 * | ------------------------------------------------------- | ---------------- | -------------- |
 * | node:http `request`, keep-alive Agent (the old client)  | 82 (74–87)       | 185 (118–200)  |
 * | autocannon 9 (its own loop and histogram)               | 63 (57–79)       | 92 (55–93)     |
 * | undici 7.30 `Pool.request`, pipelining 1                | 57 (51–64)       | 118 (98–140)   |
 * | undici 7.30 `Client.request`, one client per connection | 53 (49–61)       | 126 (116–166)  |
 * | undici 7.30 `Client.dispatch`, raw handler              | 52 (47–54)       | 108 (90–114)   |
 * | this client                                             | 37 (32–39)       | 67 (59–79)     |
 *
 * The cheapest library use (undici's low-level `dispatch`) costs 1.4× (32 conns) and 1.6×
 * (1 conn) this client, so the load generator carries its own. What makes it cheap: each
 * request is one pre-built Buffer and one `write`; the socket reads into one reused buffer
 * (`onread`); the answer is framed by scanning bytes, and its body becomes a string only
 * when it is checked (every 50th) or is an error. In `npm run bench -- query --quick`
 * against the router it used 18% of a core at 4,383 req/s (41 µs/req; the old client:
 * about 120 µs/req).
 *
 * The router always frames answers with `Content-Length` (its query fast path and Hono
 * alike); `bare-server.ts` answers with `Transfer-Encoding: chunked` (its `writeHead`
 * fixes the headers before the body is known), so both framings are read. Anything
 * else (no framing, a 1xx, bytes after the answer) fails the request loudly.
 */
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
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
if (url.protocol !== 'http:') throw new Error(`loadgen: only http:// URLs, got ${values.url}`);
const concurrency = Number(values.concurrency);
const k = Number(values.k);
const durationMs = values['duration-ms'] ? Number(values['duration-ms']) : Infinity;
const maxRequests = values.requests ? Number(values.requests) : Infinity;
const warmupMs = Number(values['warmup-ms']);

/** An answer: its status, and its body text only when the caller asked for it. */
interface Answer {
  status: number;
  text: string | null;
}

/** Upper bound on a response head; a longer one is a protocol error, not a wait. */
const MAX_HEAD = 16 * 1024;

/**
 * One keep-alive HTTP/1.1 connection carrying one request at a time. It connects on the
 * first `send` and again after the server closed it. The answer is read straight off the
 * socket's chunks: head up to CRLFCRLF, then exactly `Content-Length` bytes or the
 * chunks of a chunked body. The body is decoded to text only when asked (or on a
 * non-200), so a plain 200 costs no string at all.
 */
class Connection {
  private socket: Socket | null = null;
  /** Bytes of the answer so far, when it came in more than one chunk. */
  private pending: Buffer | null = null;
  private wantText = false;
  private resolve: ((a: Answer) => void) | null = null;
  private reject: ((e: Error) => void) | null = null;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  /** Writes `request` (head and body, one Buffer) and resolves with its answer. */
  send(request: Buffer, wantText: boolean): Promise<Answer> {
    this.socket ??= this.open();
    this.pending = null;
    this.wantText = wantText;
    return new Promise<Answer>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      this.socket!.write(request);
    });
  }

  close(): void {
    this.socket?.destroy();
  }

  private open(): Socket {
    // `onread`: the socket reads into this one buffer instead of a new Buffer per read
    // (about 12% less CPU per request here). A chunk is only valid during the callback:
    // onData consumes it there, copying only an incomplete answer.
    const readBuffer = Buffer.allocUnsafe(64 * 1024);
    const socket: Socket = connect({
      host: this.host,
      port: this.port,
      noDelay: true,
      onread: {
        buffer: readBuffer,
        callback: (n: number) => {
          // Events of a socket this connection already dropped are ignored.
          if (this.socket === socket) this.onData(readBuffer.subarray(0, n));
          return true;
        },
      },
    });
    socket.on('error', (err) => {
      if (this.socket === socket) this.fail(err);
    });
    socket.on('close', () => {
      if (this.socket === socket) this.fail(new Error('connection closed before the whole answer'));
    });
    return socket;
  }

  /** Drops the socket (the next send opens a new one); rejects the request in flight, if any. */
  private fail(err: Error): void {
    const reject = this.reject;
    this.resolve = this.reject = null;
    this.drop();
    reject?.(err);
  }

  private drop(): void {
    this.pending = null;
    this.socket?.destroy();
    this.socket = null;
  }

  private onData(chunk: Buffer): void {
    if (this.resolve === null) return this.drop(); // bytes with no request in flight
    const buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    let answer: { status: number; body: Buffer; close: boolean } | null;
    try {
      answer = parseAnswer(buf);
    } catch (err) {
      return this.fail(err as Error);
    }
    if (answer === null) {
      // Incomplete: keep the bytes (a copy when they are still the shared read buffer).
      this.pending = buf === chunk ? Buffer.from(chunk) : buf;
      return;
    }
    const resolve = this.resolve;
    this.resolve = this.reject = null;
    this.pending = null;
    if (answer.close) this.drop(); // the server said so: the next send opens a new connection
    const text = this.wantText || answer.status !== 200 ? answer.body.toString('utf8') : null;
    resolve({ status: answer.status, text });
  }
}

/**
 * Parses one whole HTTP/1.1 answer from `buf`: null while incomplete, throws on anything
 * it does not handle rather than guess. Re-parses from the start on each chunk: answers
 * here are a few KB at most and nearly always arrive in one chunk.
 */
function parseAnswer(buf: Buffer): { status: number; body: Buffer; close: boolean } | null {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) {
    if (buf.length > MAX_HEAD) throw new Error('response head too long');
    return null;
  }
  const raw = buf.toString('latin1', 0, headEnd);
  const head = raw.toLowerCase();
  if (!head.startsWith('http/1.1 ')) throw new Error(`not an HTTP/1.1 answer: ${raw.slice(0, 40)}`);
  const status = Number(head.slice(9, 12));
  if (!(status >= 200)) throw new Error(`unexpected status line: ${raw.slice(0, 40)}`);
  const close = /\r\nconnection:[ \t]*close/.test(head);
  const start = headEnd + 4;
  let body: Buffer;
  let end: number;
  const length = /\r\ncontent-length:[ \t]*(\d+)[ \t]*(?:\r|$)/.exec(head);
  if (length !== null) {
    end = start + Number(length[1]);
    if (buf.length < end) return null;
    body = buf.subarray(start, end);
  } else if (/\r\ntransfer-encoding:[ \t]*chunked[ \t]*(?:\r|$)/.test(head)) {
    // chunk = hex size [;ext] CRLF data CRLF; the last is size 0, then trailers and CRLF.
    const parts: Buffer[] = [];
    let at = start;
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', at);
      if (lineEnd < 0) return null;
      const size = parseInt(buf.toString('latin1', at, lineEnd), 16);
      if (Number.isNaN(size)) throw new Error('bad chunk size line');
      if (size === 0) {
        const trailersEnd = buf.indexOf('\r\n\r\n', at);
        if (trailersEnd < 0) return null;
        end = trailersEnd + 4;
        break;
      }
      if (buf.length < lineEnd + 2 + size + 2) return null;
      parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
    body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  } else {
    throw new Error(
      `answer has neither Content-Length nor chunked encoding: ${head.slice(0, 200)}`,
    );
  }
  if (buf.length > end) throw new Error('bytes after the answer (no request was pipelined)');
  return { status, body, close };
}

const vectors = JSON.parse(await readFile(values.queries, 'utf8')) as number[][];
const requests = vectors.map((vector) => {
  const body = Buffer.from(
    JSON.stringify({
      vector,
      k,
      ef: Number(values.ef),
      consistency: values.consistency,
      ...(values.token ? { token: values.token } : {}),
    }),
  );
  const head =
    `POST ${url.pathname} HTTP/1.1\r\n` +
    `Host: ${url.host}\r\n` +
    `Authorization: Bearer ${values.key}\r\n` +
    'Content-Type: application/json\r\n' +
    `Content-Length: ${body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
});
const host = url.hostname.replace(/^\[(.*)\]$/, '$1'); // an IPv6 literal without brackets
const port = Number(url.port || 80);

const samples: number[] = [];
let errors = 0;
let firstError: string | null = null;
let checked = 0;
let next = 0;
let measuring = warmupMs <= 0;
let t0 = performance.now();
let cpu0 = process.cpuUsage();
const started = performance.now();

async function worker(conn: Connection): Promise<void> {
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
    const check = i % CHECK_EVERY === 0;
    const s = performance.now();
    let ok = false;
    try {
      const res = await conn.send(requests[i % requests.length]!, check);
      ok = res.status === 200;
      if (!ok) firstError ??= `HTTP ${res.status}: ${res.text!.slice(0, 300)}`;
      else if (check) {
        const n = (JSON.parse(res.text!) as { results: unknown[] }).results.length;
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

const connections = Array.from({ length: concurrency }, () => new Connection(host, port));
await Promise.all(connections.map((conn) => worker(conn)));
const elapsed = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
for (const conn of connections) conn.close();
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
