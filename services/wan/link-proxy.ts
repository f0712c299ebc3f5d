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
    this.server = createServer((client) => this.accept(client));
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
    const upstream = connect(this.target.port, this.target.host);
    this.track(client);
    this.track(upstream);
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', kill);
    upstream.on('error', kill);
    client.on('close', kill);
    upstream.on('close', kill);
    this.pipe(client, upstream, 'forward');
    this.pipe(upstream, client, 'backward');
  }

  private track(s: Socket): void {
    s.setNoDelay(true);
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
  }

  /** Moves bytes from `from` to `to` after the link's delay, in order, within its bandwidth. */
  private pipe(from: Socket, to: Socket, dir: 'forward' | 'backward'): void {
    let lastDue = 0;
    let wireFreeAt = 0;
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
      const wait = due - now;
      const send = () => {
        if (!to.destroyed) to.write(chunk);
      };
      if (wait <= 0.5) send();
      else setTimeout(send, wait);
    });
  }
}
