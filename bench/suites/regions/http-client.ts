/**
 * A small keep-alive JSON client on `node:http` for the regions suite. Every timed request
 * (queries, writes and the `/healthz` probe that gives the local round trip) goes through
 * the same client, so the client's own cost is the same on both sides of a comparison.
 */
import { Agent, request } from 'node:http';

export interface JsonAnswer<T> {
  status: number;
  body: T;
}

export class JsonClient {
  private readonly agent: Agent;

  constructor(
    readonly baseUrl: string,
    private readonly apiKey: string,
    maxSockets = 8,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets });
  }

  /** Sends one request; resolves with the status and the parsed body (text when not JSON). */
  send<T = unknown>(method: string, path: string, body?: unknown): Promise<JsonAnswer<T>> {
    const url = new URL(path, this.baseUrl);
    const payload = body === undefined ? null : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            authorization: `Bearer ${this.apiKey}`,
            ...(payload
              ? { 'content-type': 'application/json', 'content-length': payload.length }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // not JSON: keep the text
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${url.href} timed out`)));
      req.end(payload ?? undefined);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
