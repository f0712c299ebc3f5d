import { existsSync } from 'node:fs';
import { connect, StringCodec } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { canConnect, startNatsServer } from './nats-server.ts';
import type { NatsServerHandle } from './nats-server.ts';
import { waitFor } from './wait-for.ts';

const sc = StringCodec();

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('nats-server harness', () => {
  const started: NatsServerHandle[] = [];
  const start = async (...args: Parameters<typeof startNatsServer>): Promise<NatsServerHandle> => {
    const server = await startNatsServer(...args);
    started.push(server);
    return server;
  };

  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.stop()));
  });

  it('starts a JetStream server whose streams survive a restart on the same port', async () => {
    const server = await start();
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    expect(server.port).not.toBe(4222);

    const nc = await connect({ servers: server.url });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'HARNESS', subjects: ['harness.>'] });
    const ack = await nc.jetstream().publish('harness.one', sc.encode('hello'));
    expect(ack.seq).toBe(1);
    const stored = await jsm.streams.getMessage('HARNESS', { seq: 1 });
    expect(sc.decode(stored.data)).toBe('hello');
    await nc.close();

    const firstPid = server.pid;
    await server.restart();
    expect(server.pid).not.toBe(firstPid);
    expect(isProcessAlive(firstPid)).toBe(false);

    const again = await connect({ servers: server.url });
    const after = await (await again.jetstreamManager()).streams.getMessage('HARNESS', { seq: 1 });
    expect(after.subject).toBe('harness.one');
    expect(sc.decode(after.data)).toBe('hello');
    await again.close();
  });

  it('stops the process, closes the port and removes its temporary store', async () => {
    const server = await start();
    const { pid, port, storeDir } = server;
    expect(await canConnect(port)).toBe(true);
    expect(existsSync(storeDir)).toBe(true);

    await server.stop();

    expect(isProcessAlive(pid)).toBe(false);
    expect(await canConnect(port)).toBe(false);
    expect(existsSync(storeDir)).toBe(false);
  });

  it('comes back after being killed with SIGKILL', async () => {
    const server = await start();
    const killedPid = server.pid;
    server.kill('SIGKILL');
    await waitFor(() => !isProcessAlive(killedPid), { message: 'the killed server to exit' });
    expect(await canConnect(server.port)).toBe(false);

    await server.restart();

    const nc = await connect({ servers: server.url });
    const info = await (await nc.jetstreamManager()).getAccountInfo();
    expect(info.streams).toBe(0);
    await nc.close();
  });

  it('runs several servers in parallel on distinct ports', async () => {
    const servers = await Promise.all([start(), start(), start({ jetstream: false })]);
    const ports = servers.flatMap((s) => [s.port, s.monitorPort]);
    expect(new Set(ports).size).toBe(ports.length);
    for (const s of servers) expect(await canConnect(s.port)).toBe(true);
  });

  it('applies extra configuration text', async () => {
    const server = await start({ config: 'max_payload: 4096\n' });
    const nc = await connect({ servers: server.url });
    expect(nc.info?.max_payload).toBe(4096);
    await nc.close();
  });

  it('fails with the install hint when the binary is missing', async () => {
    await expect(startNatsServer({ binary: '/nonexistent/bin/nats-server' })).rejects.toThrow(
      /sudo apt-get install nats-server.*brew install nats-server.*docker run -p 4222:4222 nats -js/,
    );
  });

  it('refuses the system NATS port 4222', async () => {
    await expect(startNatsServer({ port: 4222 })).rejects.toThrow(/4222/);
  });

  it('reports the server log when startup fails', async () => {
    await expect(start({ args: ['--no-such-flag'] })).rejects.toThrow(
      /nats-server failed to start[\s\S]*no-such-flag/,
    );
  });
});
