import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer } from '../../dev/harness/nats-server.ts';
import type { NatsServerHandle } from '../../dev/harness/nats-server.ts';
import { TEST_KEYS, http, startCluster } from '../../dev/harness/services.ts';
import type { TestCluster } from '../../dev/harness/services.ts';
import { makeTempDir } from '../../dev/harness/tmp.ts';
import type { TempDir } from '../../dev/harness/tmp.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';

/**
 * Regression (issue 17): with a follower's data directory full, `/readyz` kept answering
 * 200 and routers kept it healthy. The directory here is a small tmpfs (mounting one needs
 * root, as CI has; elsewhere the test is skipped with the reason printed).
 */
let mount: string | null = null;
let skipWhy = '';
try {
  const dir = join(process.env.TMPDIR ?? '/tmp', `meridian-full-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', dir], { stdio: 'ignore' });
  mount = dir;
} catch (err) {
  skipWhy = `cannot mount a tmpfs here (${(err as Error).message.split('\n')[0]}): a full disk needs one`;
  console.log(`disk-full test skipped: ${skipWhy}`);
}

let nats: NatsServerHandle;
let cluster: TestCluster;
let tmp: TempDir;

beforeAll(async () => {
  if (!mount) return;
  nats = await startNatsServer();
  tmp = await makeTempDir('disk-full');
  cluster = await startCluster(
    nats.url,
    ['us-east', 'eu-west'],
    [
      { role: 'primary', region: 'us-east', node: 'p1' },
      {
        role: 'router',
        region: 'eu-west',
        node: 'r1',
        overrides: { router: { hostReplica: false, probeIntervalMs: 200, hedgeAfterMs: 0 } },
      },
    ],
  );
  await cluster.start({ role: 'follower', region: 'eu-west', node: 'f1' }, join(mount, 'f1'));
}, 60_000);

afterAll(async () => {
  await cluster?.close();
  await nats?.stop();
  await tmp?.cleanup();
  if (mount) {
    execFileSync('umount', [mount], { stdio: 'ignore' });
    rmSync(mount, { recursive: true, force: true });
  }
});

describe('a follower whose disk is full', () => {
  it.skipIf(!mount)(
    'says so: /readyz 503 with the reason, unhealthy in /v1/regions, not chosen for fresh reads, counted; and recovers losing nothing',
    async () => {
      const primary = cluster.node('p1').url;
      const follower = cluster.node('f1').url;
      const router = cluster.node('r1').url;
      await http(`${primary}/v1/collections/full`, 'PUT', { dim: 64, metric: 'l2', model: 'm@1' });
      const ids: string[] = [];
      const write = async (n: number) => {
        const points = Array.from({ length: n }, (_, i) => {
          const id = `d${ids.length + i}`;
          return { id, vector: Array.from({ length: 64 }, (_, j) => (i * 7 + j) % 13) };
        });
        const res = await http(
          `${primary}/v1/collections/full/points`,
          'POST',
          { points },
          TEST_KEYS.write,
        );
        expect(res.status).toBe(200);
        ids.push(...points.map((p) => p.id));
      };
      await write(100);
      await waitFor(async () => (await http(`${follower}/readyz`, 'GET')).status === 200, {
        timeoutMs: 10_000,
      });
      // Fill the disk, leaving a little room; then write more than that room holds.
      const filler = join(mount!, 'filler');
      try {
        writeFileSync(filler, Buffer.alloc(6 * 1024 * 1024));
      } catch {
        // ENOSPC: the file holds what fitted, which is the point
      }
      for (let i = 0; i < 10; i++) await write(200);

      await waitFor(async () => (await http(`${follower}/readyz`, 'GET')).status === 503, {
        timeoutMs: 20_000,
        message: 'the follower to report itself not ready',
      });
      const ready = await http(`${follower}/readyz`, 'GET');
      expect(ready.body.reason).toMatch(/cannot store data.*(full|space)/i);
      await waitFor(
        async () => {
          const regions = await http(`${router}/v1/regions`, 'GET');
          const f = regions.body.replicas.find((r: { node: string }) => r.node === 'f1');
          return f?.healthy === false && /full|space/i.test(f.error ?? '');
        },
        { timeoutMs: 10_000, message: 'the router to see f1 unhealthy' },
      );
      const strong = await http(
        `${router}/v1/collections/full/query`,
        'POST',
        { vector: Array(64).fill(1), k: 1, consistency: 'strong' },
        TEST_KEYS.read,
      );
      expect(strong.status).toBe(200);
      expect(strong.body.node).not.toBe('f1');
      const metrics = await fetch(`${follower}/metrics`).then((r) => r.text());
      expect(
        Number(/^meridian_storage_errors_total\S* (\d+)/m.exec(metrics)?.[1] ?? 0),
      ).toBeGreaterThan(0);

      // Space comes back: the follower stores what it missed and is ready again.
      rmSync(filler, { force: true });
      await waitFor(async () => (await http(`${follower}/readyz`, 'GET')).status === 200, {
        timeoutMs: 30_000,
        message: 'the follower to recover',
      });
      for (let i = 0; i < ids.length; i += 1_000) {
        const got = await http(
          `${follower}/v1/collections/full/points/get`,
          'POST',
          { ids: ids.slice(i, i + 1_000), consistency: 'strong' },
          TEST_KEYS.read,
        );
        expect(got.status, JSON.stringify(got.body)).toBe(200);
        expect(got.body.missing).toEqual([]);
      }
    },
  );
});
