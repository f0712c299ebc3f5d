import { Agent, request } from 'node:http';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { ServiceGate } from '../http/gate.ts';
import { FastQueryPath } from '../http/fast-query.ts';
import { createLogger } from '../http/logger.ts';
import { ServiceMetrics } from '../http/metrics.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';
import { Listener } from './listener.ts';

interface Answer {
  status: number;
  body: string;
  connection: string | undefined;
}

function get(port: number, path: string, agent: Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () =>
        resolve({ status: res.statusCode!, body, connection: res.headers.connection }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the listener of a stopping node', () => {
  // Regression (CI, stop 22): a router probes every replica's /healthz every 200 ms over
  // one keep-alive connection. A request still in flight when the server closed kept that
  // connection open past close(); its next probe was answered as usual, the connection
  // never went idle, and `meridian follower` hung on SIGTERM. The gate's answers now end
  // their connection while the node stops.
  it('ends a keep-alive connection that was busy when it closed, with the gate answer', async () => {
    const metrics = new ServiceMetrics({ service: 'test', region: 'r', node: 'n' });
    const gate = new ServiceGate(async () => ({ contentType: 'text/plain', text: '' }));
    const listener = await Listener.open('127.0.0.1', 0, gate);
    let release: () => void = () => undefined;
    let entered = false;
    const app = new Hono();
    app.get('/slow', async (c) => {
      entered = true;
      await new Promise<void>((r) => (release = r));
      return c.text('done');
    });
    const logger = createLogger({ level: 'silent', name: 'test', base: {} });
    listener.use({ app, fast: new FastQueryPath({ logger, metrics, maxBodyBytes: 1024 }) });
    gate.open();

    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const slow = get(listener.port, '/slow', agent);
      await waitFor(() => entered, { message: 'the slow request to reach its handler' });
      gate.stopping();
      // A grace longer than the test's timeout: only the gate's answer can end it in time.
      const closed = listener.close(120_000);
      release();
      expect(await slow).toMatchObject({ status: 200, body: 'done' });
      const next = await get(listener.port, '/healthz', agent);
      expect(next.status).toBe(200);
      expect(JSON.parse(next.body)).toMatchObject({ ready: false, state: 'stopping' });
      expect(next.connection).toBe('close');
      await closed;
    } finally {
      agent.destroy();
    }
  });
});
