import { connect } from 'nats';
import type { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import { fromNatsError } from './errors.ts';

/** How a node reaches its region's NATS server. Credentials come from configuration. */
export interface NatsOptions {
  servers: string | string[];
  /** Connection name shown in the server's monitoring. */
  name?: string;
  user?: string;
  pass?: string;
  token?: string;
  /** JetStream domain of this region's server (leaf regions); undefined for the hub. */
  domain?: string;
}

/** An open connection with its JetStream contexts. */
export interface NatsLink {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  close(): Promise<void>;
}

/**
 * Connects and opens JetStream. Reconnects forever in the background once connected
 * (a restarted server is picked up again); the first connect fails fast with a typed,
 * transient error.
 */
export async function connectNats(opts: NatsOptions): Promise<NatsLink> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: opts.servers,
      name: opts.name,
      user: opts.user,
      pass: opts.pass,
      token: opts.token,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: 5_000,
    });
  } catch (err) {
    throw fromNatsError(err, `cannot connect to NATS at ${String(opts.servers)}`);
  }
  const jsOpts = opts.domain ? { domain: opts.domain } : {};
  const js = nc.jetstream(jsOpts);
  const jsm = await nc.jetstreamManager(jsOpts);
  return {
    nc,
    js,
    jsm,
    async close() {
      if (nc.isClosed()) return;
      // Drain lets in-flight messages finish; a consumer iterator that never ends must not
      // hold shutdown hostage, so drain gets a bounded time before a hard close.
      let timer: NodeJS.Timeout | undefined;
      const bounded = new Promise<void>((r) => (timer = setTimeout(r, 2_000)));
      await Promise.race([nc.drain().catch(() => undefined), bounded]);
      clearTimeout(timer);
      if (!nc.isClosed()) await nc.close();
    },
  };
}
