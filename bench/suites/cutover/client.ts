/**
 * Arrow uploads for the cutover suite (the JSON requests go through the regions suite's
 * JsonClient): one keep-alive agent, a body of raw bytes, the parsed JSON answer.
 */
import { Agent, request } from 'node:http';
import type { JsonAnswer } from '../regions/http-client.ts';

export const ARROW_STREAM = 'application/vnd.apache.arrow.stream';

export class ArrowUploader {
  private readonly agent: Agent;

  constructor(
    readonly baseUrl: string,
    private readonly apiKey: string,
    maxSockets = 4,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets });
  }

  post<T = unknown>(path: string, bytes: Uint8Array): Promise<JsonAnswer<T>> {
    const url = new URL(path, this.baseUrl);
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          agent: this.agent,
          headers: {
            authorization: `Bearer ${this.apiKey}`,
            'content-type': ARROW_STREAM,
            'content-length': bytes.byteLength,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown = text;
            try {
              body = JSON.parse(text);
            } catch {
              // not JSON: keep the text
            }
            resolve({ status: res.statusCode ?? 0, body: body as T });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.setTimeout(120_000, () => req.destroy(new Error(`POST ${url.href} timed out`)));
      req.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * Uploads `batches` (lazily made) with `inFlight` requests at a time; a 503
 * (`write_stalled`: seals behind the writes) is retried after a pause, as a client should.
 * Resolves with the highest seq acknowledged, the retries and the points skipped.
 */
export async function uploadAll(
  up: ArrowUploader,
  path: string,
  batches: Array<() => Uint8Array>,
  inFlight: number,
): Promise<{ seq: number; retries: number; skipped: number }> {
  let next = 0;
  let seq = 0;
  let retries = 0;
  let skipped = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      for (let i = next++; i < batches.length; i = next++) {
        const bytes = batches[i]!();
        for (let attempt = 0; ; attempt++) {
          const r = await up.post<{ seq: number; skipped?: { count: number } }>(path, bytes);
          if (r.status === 200 || r.status === 202) {
            seq = Math.max(seq, r.body.seq);
            skipped += r.body.skipped?.count ?? 0;
            break;
          }
          if (r.status !== 503 || attempt > 600) {
            throw new Error(`upload ${path}: ${r.status} ${JSON.stringify(r.body).slice(0, 400)}`);
          }
          retries++;
          await new Promise((res) => setTimeout(res, 250));
        }
      }
    }),
  );
  return { seq, retries, skipped };
}
