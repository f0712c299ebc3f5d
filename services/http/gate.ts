import type { IncomingMessage, ServerResponse } from 'node:http';

/** Why a node does not serve its API yet, or any more. */
export type GateState = 'starting' | 'open' | 'stopping';

/**
 * The first thing every request meets. A node listens before it has opened its catalog,
 * connected to NATS and registered its routes (the URL it announces must be known first),
 * so until it is ready the gate answers every request itself — and the app, whose router
 * must not be built while routes are still being added, sees none (issue 10: a readiness
 * probe during start-up crashed the node). While starting or stopping:
 *
 * - `GET /healthz` → 200 `{ok: true, ready: false, state}`: the process is alive;
 * - `GET /readyz` → 503 `{ready: false, state, reason}`;
 * - `GET /metrics` → the metrics as usual;
 * - anything else → 503 `{error: {code: 'starting' | 'stopping', message}}` with
 *   `Retry-After: 1`, so clients retry instead of treating a 404 as final.
 */
export class ServiceGate {
  private state: GateState = 'starting';
  private reason = 'the node is starting: opening its catalog and following its streams';

  constructor(private readonly metrics: () => Promise<{ contentType: string; text: string }>) {}

  get current(): GateState {
    return this.state;
  }

  /** Routes every request to the app from now on. */
  open(): void {
    this.state = 'open';
  }

  /** Answers every request with 503 `starting` again: the node is changing role. */
  starting(reason: string): void {
    this.state = 'starting';
    this.reason = reason;
  }

  /** Answers every request with 503 `stopping` from now on (graceful shutdown). */
  stopping(): void {
    this.state = 'stopping';
    this.reason = 'the node is stopping';
  }

  /** Answers the request itself unless the gate is open; true when it did. */
  take(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.state === 'open') return false;
    const path = (req.url ?? '/').split('?')[0];
    const state = this.state;
    const close = state === 'stopping';
    if (req.method === 'GET' && path === '/healthz') {
      send(res, 200, { ok: true, ready: false, state }, false, close);
    } else if (req.method === 'GET' && path === '/readyz') {
      send(res, 503, { ready: false, state, reason: this.reason }, true, close);
    } else if (req.method === 'GET' && path === '/metrics') {
      this.metrics().then(
        (m) => {
          res.writeHead(200, {
            'content-type': m.contentType,
            ...(close ? { connection: 'close' } : {}),
          });
          res.end(m.text);
        },
        () => send(res, 503, { error: { code: state, message: this.reason } }, true, close),
      );
    } else {
      req.resume(); // drain any body, so the connection can be reused
      const message = `${this.reason}; retry shortly`;
      send(res, 503, { error: { code: state, message } }, true, close);
    }
    return true;
  }
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  retry = false,
  close = false,
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...(retry ? { 'retry-after': '1' } : {}),
    // While stopping: the client's keep-alive connection ends with this answer, so a
    // poller (a router's RTT probe every 200 ms) cannot hold the closing server open.
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(text);
}
