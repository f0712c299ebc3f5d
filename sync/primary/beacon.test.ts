import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer } from '../../dev/harness/nats-server.ts';
import type { NatsServerHandle } from '../../dev/harness/nats-server.ts';
import { connectNats } from '../connection.ts';
import type { NatsLink } from '../connection.ts';
import { Subjects } from '../subjects.ts';
import type { PrimaryBeacon } from '../types.ts';
import { CommitBeacon } from './beacon.ts';

let server: NatsServerHandle;
let link: NatsLink;

beforeAll(async () => {
  server = await startNatsServer();
  link = await connectNats({ servers: server.url });
});

afterAll(async () => {
  await link?.close();
  await server?.stop();
});

/** The next beacon published on STATE, or null when none comes within `ms`. */
function nextBeacon(ms: number): Promise<PrimaryBeacon | null> {
  return new Promise((resolve) => {
    const sub = link.nc.subscribe(Subjects.primaryState, { max: 1 });
    const timer = setTimeout(() => {
      sub.unsubscribe();
      resolve(null);
    }, ms);
    void (async () => {
      for await (const m of sub) {
        clearTimeout(timer);
        resolve(JSON.parse(Buffer.from(m.data).toString('utf8')) as PrimaryBeacon);
      }
    })();
  });
}

describe('CommitBeacon', () => {
  it('names each collection’s last committed seq, and publishes soon after a commit, not only on its interval', async () => {
    // An interval far longer than the test: any beacon after start() is the prompt one.
    const beacon = new CommitBeacon({
      nc: link.nc,
      node: 'p',
      region: 'us-east',
      intervalMs: 3_600_000,
    });
    const first = nextBeacon(5_000);
    beacon.start();
    expect((await first)?.lastSeq).toBe(0);

    const prompt = nextBeacon(5_000);
    beacon.committed(1, Date.now(), 'a');
    beacon.committed(2, Date.now(), 'b');
    beacon.committed(3, Date.now(), 'a');
    const b = await prompt;
    beacon.stop();
    expect(b, 'a beacon after the commits, long before the interval').not.toBeNull();
    expect(b!.lastSeq).toBe(3);
    expect(b!.collections).toEqual({ a: 3, b: 2 });

    // Stopped: a commit schedules nothing.
    const none = nextBeacon(300);
    beacon.committed(4, Date.now(), 'b');
    expect(await none).toBeNull();
  });
});
