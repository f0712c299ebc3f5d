import { createServer, connect } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';

/** What a simulated WAN link does to the bytes that cross it. */
export interface LinkShape {
  /** One-way delay (ms) added to every chunk in each direction. */
  delayMs: number;
  /** Uniform extra delay in [0, jitterMs) per chunk; order is kept (TCP never reorders). */
  jitterMs?: number;
  /** Bandwidth cap per direction (bytes/s); 0 or absent = unlimited. */
  bytesPerSecond?: number;
}

export interface LinkCounters {
  /** Bytes from the client side to the target. */
  forward: number;
  /** Bytes from the target back to the client side. */
  backward: number;
  connections: number;
}

/**
 * A TCP proxy that simulates a WAN link: one-way delay, jitter and a bandwidth cap in
 * each direction, a cut that drops every connection and refuses new ones until healed,
 * and byte counters. It sits between two regions' NATS servers (leaf connections) and
 * between a router and a remote replica.
 */
export class LinkProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private cutNow = false;
  readonly counters: LinkCounters = { forward: 0, backward: 0, connections: 0 };

  constructor(
    readonly name: string,
    private readonly target: { host: string; port: number },
    private shape: LinkShape,
  ) {}

  /** Starts listening (port 0 = any free port); resolves with the port. */
  async start(port = 0, host = '127.0.0.1'): Promise<number> {
    this.server = createServer({ allowHalfOpen: true }, (client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  setShape(shape: LinkShape): void {
    this.shape = shape;
  }

  /** Cuts the link: every open connection is dropped, new ones are refused. */
  cut(): void {
    this.cutNow = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  heal(): void {
    this.cutNow = false;
  }

  get isCut(): boolean {
    return this.cutNow;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server = null;
  }

  private accept(client: Socket): void {
    if (this.cutNow) {
      client.destroy();
      return;
    }
    this.counters.connections++;
    const upstream = connect({
      port: this.target.port,
      host: this.target.host,
      allowHalfOpen: true,
    });
    this.track(client);
    this.track(upstream);
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    // An error on either side ends the connection; a clean end is passed on after the
    // bytes still in flight on the link (see pipe).
    client.on('error', kill);
    upstream.on('error', kill);
    this.pipe(client, upstream, 'forward');
    this.pipe(upstream, client, 'backward');
  }

  private track(s: Socket): void {
    s.setNoDelay(true);
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
  }

  /**
   * Moves bytes from `from` to `to` after the link's delay, in order, within its bandwidth.
   *
   * One FIFO queue and one timer per direction: chunks leave strictly in arrival order.
   * Regression: each chunk used to get its own setTimeout, and timers of different
   * lengths (jitter) or a chunk sent at once while an earlier one still waited could
   * reorder bytes — garbling NATS leaf traffic (parser errors, reconnect stalls, and
   * payloads stored with swapped chunks).
   */
  private pipe(from: Socket, to: Socket, dir: 'forward' | 'backward'): void {
    const queue: Array<{ due: number; chunk: Buffer }> = [];
    let timer: NodeJS.Timeout | null = null;
    let lastDue = 0;
    let wireFreeAt = 0;
    let ended = false;
    const drain = () => {
      timer = null;
      const now = performance.now();
      while (queue.length > 0 && queue[0]!.due <= now + 0.5) {
        const { chunk } = queue.shift()!;
        if (!to.destroyed) to.write(chunk);
      }
      if (queue.length > 0) timer = setTimeout(drain, queue[0]!.due - now);
      else if (ended && !to.destroyed) to.end();
    };
    from.on('data', (chunk: Buffer) => {
      this.counters[dir] += chunk.length;
      const now = performance.now();
      const { delayMs, jitterMs = 0, bytesPerSecond = 0 } = this.shape;
      // Serialisation on a capped wire: the chunk leaves once the wire is free.
      const start = Math.max(now, wireFreeAt);
      const wireMs = bytesPerSecond > 0 ? (chunk.length / bytesPerSecond) * 1000 : 0;
      wireFreeAt = start + wireMs;
      const due = Math.max(lastDue, start + wireMs + delayMs + Math.random() * jitterMs);
      lastDue = due;
      queue.push({ due, chunk });
      if (timer === null) timer = setTimeout(drain, Math.max(0, queue[0]!.due - now));
    });
    from.on('end', () => {
      ended = true;
      if (queue.length === 0 && !to.destroyed) to.end();
    });
    from.on('close', () => {
      // Closed without a clean end (destroyed, reset): the link goes down at once.
      if (!ended) {
        if (timer) clearTimeout(timer);
        to.destroy();
      }
    });
  }
}
