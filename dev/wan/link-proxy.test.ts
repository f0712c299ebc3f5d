import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LinkProxy } from './link-proxy.ts';

let server: Server | null = null;
let proxy: LinkProxy | null = null;
afterEach(async () => {
  await proxy?.stop();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
});

/** An echo server: returns every byte it gets, then ends when the client ends. */
async function echo(): Promise<number> {
  server = createServer({ allowHalfOpen: true }, (s) => {
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

async function roundTrip(port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const c = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const parts: Buffer[] = [];
    c.on('data', (d) => parts.push(d));
    c.on('end', () => resolve(Buffer.concat(parts)));
    c.on('error', reject);
    // Many small writes, so the link carries many chunks with their own jitter.
    for (let i = 0; i < payload.length; i += 997) c.write(payload.subarray(i, i + 997));
    c.end();
  });
}

describe('link proxy', () => {
  // Regression: per-chunk timers with jitter reordered bytes and garbled NATS leaf traffic.
  it('delivers every byte in order under delay and jitter, and passes a clean end on after them', async () => {
    const port = await echo();
    proxy = new LinkProxy('t', { host: '127.0.0.1', port }, { delayMs: 5, jitterMs: 20 });
    const p = await proxy.start();
    const payload = Buffer.alloc(400_000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7919) % 251;
    const back = await roundTrip(p, payload);
    expect(back.length).toBe(payload.length);
    expect(back.equals(payload)).toBe(true);
    expect(proxy.counters.forward).toBe(payload.length);
    expect(proxy.counters.backward).toBe(payload.length);
  });

  it('refuses connections while cut and accepts them again when healed', async () => {
    const port = await echo();
    proxy = new LinkProxy('t', { host: '127.0.0.1', port }, { delayMs: 0 });
    const p = await proxy.start();
    proxy.cut();
    // Accepted and dropped at once: nothing comes back.
    expect((await roundTrip(p, Buffer.from('x')).catch(() => Buffer.alloc(0))).length).toBe(0);
    proxy.heal();
    expect((await roundTrip(p, Buffer.from('hello'))).toString()).toBe('hello');
  });
});
