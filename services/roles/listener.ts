import { createServer } from 'node:http';
import type { RequestListener, Server, ServerOptions } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import type { FastQueryPath } from '../http/fast-query.ts';
import type { ServiceGate } from '../http/gate.ts';

/**
 * The node's HTTP listener, which outlives its roles: every request meets the
 * {@link ServiceGate} first (503 while the node starts, stops or changes role), then the
 * current role's query fast path (decision 0010), then its Hono app. `use(app)` swaps the
 * role's app in; requests already handed to the old app finish there.
 */
export class Listener {
  private app: Hono | null = null;
  private fast: FastQueryPath | null = null;
  private constructor(
    readonly server: ServerType,
    readonly port: number,
  ) {}

  static async open(host: string, port: number, gate: ServiceGate): Promise<Listener> {
    let self: Listener | null = null;
    const fetch = (req: Request): Response | Promise<Response> =>
      self?.app ? self.app.fetch(req) : new Response(null, { status: 503 });
    const create = (options: ServerOptions, hono?: RequestListener): Server =>
      createServer(options, (req, res) => {
        if (gate.take(req, res)) return;
        if (!self?.fast?.take(req, res)) hono?.(req, res);
      });
    const server = await new Promise<ServerType>((resolve, reject) => {
      const s = serve(
        { fetch, hostname: host, port, createServer: create as typeof createServer },
        () => resolve(s),
      );
      s.once('error', reject);
    });
    self = new Listener(server, (server.address() as AddressInfo).port);
    return self;
  }

  /** Serves a role's API from now on (once the gate opens): its fast query path, then its app. */
  use(role: { app: Hono; fast: FastQueryPath }): void {
    this.app = role.app;
    this.fast = role.fast;
  }

  /**
   * Stops accepting connections and resolves once the open ones are done: idle keep-alive
   * connections are closed at once, the gate's answers close theirs (it says `stopping`),
   * and whatever is still open after `graceMs` (a request that outlives the grace) is cut.
   */
  close(graceMs = 10_000): Promise<void> {
    const http = this.server as Server;
    return new Promise<void>((resolve) => {
      const cut = setTimeout(() => http.closeAllConnections(), graceMs);
      cut.unref();
      http.close(() => {
        clearTimeout(cut);
        resolve();
      });
      http.closeIdleConnections();
    });
  }
}
