import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer } from '../../dev/harness/nats-server.ts';
import type { NatsServerHandle } from '../../dev/harness/nats-server.ts';
import { connectNats } from '../connection.ts';
import type { NatsLink } from '../connection.ts';
import { isSyncError } from '../errors.ts';
import { PrimaryLease } from './primary-lease.ts';

let nats: NatsServerHandle;
let link: NatsLink;
const TTL = 1_000;

beforeAll(async () => {
  nats = await startNatsServer();
  link = await connectNats({ servers: nats.url, name: 'lease-test' });
});

afterAll(async () => {
  await link?.close();
  await nats?.stop();
});

const lease = (node: string, onLost?: (why: string) => void) =>
  new PrimaryLease({
    js: link.js,
    node,
    region: 'us-east',
    ttlMs: TTL,
    ...(onLost ? { onLost } : {}),
  });

describe('the primary lease', () => {
  it('is held by one process at a time: a second is refused while the first renews it', async () => {
    const first = lease('p1');
    await first.acquire();
    expect(first.held).toBe(true);
    for (const node of ['p2', 'p1']) {
      // Another node, or a copy of the same config: refused, naming the holder.
      const second = lease(node);
      const err = await second.acquire().catch((e: unknown) => e);
      expect(isSyncError(err, 'not_primary')).toBe(true);
      expect(String(err)).toMatch(/another primary is running: node p1 in region us-east/);
      expect(second.held).toBe(false);
    }
    expect(first.held).toBe(true);
    await first.release();
    expect(first.held).toBe(false);
  });

  it('passes after a release, and after a crash once the lease has expired', async () => {
    const a = lease('p1');
    await a.acquire();
    await a.release();
    // b's process dies: its connection goes, it never renews or releases again.
    const dying = await connectNats({ servers: nats.url, name: 'lease-test-dying' });
    const b = new PrimaryLease({ js: dying.js, node: 'p1', region: 'us-east', ttlMs: TTL });
    await b.acquire();
    await dying.close();
    // The next process waits while b's lease lives, then takes it once it has expired.
    const c = lease('p1');
    await c.acquire();
    expect(c.held).toBe(true);
    await c.release();
  });

  it('is given up at the next renewal when another process took it', async () => {
    const lost: string[] = [];
    const a = lease('p1', (why) => lost.push(why));
    await a.acquire();
    const kv = await link.js.views.kv('MERIDIAN_PRIMARY');
    await kv.put(
      'primary',
      JSON.stringify({ node: 'p9', region: 'ap-south', instance: 'x', since: '' }),
    );
    await expect.poll(() => a.held, { timeout: 5_000 }).toBe(false);
    expect(lost).toEqual([expect.stringMatching(/taken by node p9 in region ap-south/)]);
    expect(a.refusal).toMatch(/taken by node p9/);
    expect(await a.confirm()).toBe(false); // lost is lost: no renewal brings it back
    await kv.purge('primary');
  });

  it('after a stall longer than its life is confirmed by a renewal, not refused', async () => {
    const a = lease('p1');
    await a.acquire();
    // The event loop blocked past the lease's life (a long GC pause, a synchronous job):
    // no renewal ran, and the lease has lapsed.
    const until = Date.now() + TTL * 1.5;
    while (Date.now() < until) {
      // blocked
    }
    expect(a.held).toBe(false);
    expect(a.refusal).toMatch(/does not hold the primary lease/);
    // A write asks first: one renewal (shared by every caller asking together) confirms it.
    expect(await Promise.all([a.confirm(), a.confirm()])).toEqual([true, true]);
    expect(a.held).toBe(true);
    await a.release();
    expect(await a.confirm()).toBe(false);
  });
});
