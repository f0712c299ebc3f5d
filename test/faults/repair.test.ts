import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TEST_KEYS, http } from '../../dev/harness/services.ts';
import { usePrimaryAndFollower } from '../harness/service-fixture.ts';
import { waitFor } from '../../dev/harness/wait-for.ts';

/**
 * Repair (issue 17): a damaged segment file made the first start exit and only the second
 * refetched it; a damaged catalog.db was refused on every start with no hint of the fix.
 */
const fx = usePrimaryAndFollower();
const FOLLOWER = { role: 'follower', region: 'eu-west', node: 'f1' } as const;

async function setUp(): Promise<string[]> {
  const primary = fx.cluster.node('p1').url;
  await http(`${primary}/v1/collections/rep`, 'PUT', { dim: 8, metric: 'l2', model: 'm@1' });
  const points = Array.from({ length: 2_000 }, (_, i) => ({
    id: `r${i}`,
    vector: Array.from({ length: 8 }, (_, j) => ((i + 1) * (j + 3)) % 17),
  }));
  await http(`${primary}/v1/collections/rep/points`, 'POST', { points }, TEST_KEYS.write);
  await fx.cluster.node('p1').primary!.seal('rep');
  await waitFor(() => fx.cluster.node('f1').replica!.served('rep')?.version === 1, {
    timeoutMs: 10_000,
  });
  return points.map((p) => p.id);
}

async function holdsAll(ids: string[]): Promise<void> {
  const res = await http(
    `${fx.cluster.node('f1').url}/v1/collections/rep/points/get`,
    'POST',
    { ids: ids.slice(0, 1_000), consistency: 'strong' },
    TEST_KEYS.read,
  );
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body.missing).toEqual([]);
}

describe('a follower started on a damaged data directory', () => {
  it('refetches a corrupted or truncated segment during the start that found it', async () => {
    const ids = await setUp();
    const dir = fx.cluster.dataDir('f1');
    for (const damage of ['flip', 'truncate'] as const) {
      await fx.cluster.stop('f1');
      const seg = join(
        dir,
        'segments',
        readdirSync(join(dir, 'segments')).find((f) => /^[0-9a-f]{64}$/.test(f))!,
      );
      const good = readFileSync(seg);
      const bad = Buffer.from(good);
      const mid = Math.floor(bad.length / 2);
      bad.writeUInt8(bad.readUInt8(mid) ^ 0xff, mid);
      writeFileSync(seg, damage === 'flip' ? bad : good.subarray(0, good.length - 1_000));
      const f = await fx.cluster.start(FOLLOWER);
      expect(f.replica!.served('rep')!.version).toBe(1);
      // The damaged file was replaced by a good copy from the stream, in this same start.
      expect(readFileSync(seg).equals(good)).toBe(true);
      await holdsAll(ids);
    }
  });

  it('refuses a damaged catalog with the fix in the message, and --rebuild rebuilds it from the streams', async () => {
    const dir = fx.cluster.dataDir('f1');
    await fx.cluster.stop('f1');
    writeFileSync(join(dir, 'catalog.db'), Buffer.from('this is not a database, not at all'));
    for (const suffix of ['-wal', '-shm']) {
      if (existsSync(join(dir, `catalog.db${suffix}`)))
        writeFileSync(join(dir, `catalog.db${suffix}`), '');
    }
    const err = await fx.cluster.start(FOLLOWER).catch((e: unknown) => e);
    expect(String(err)).toMatch(/catalog.*--rebuild/s);

    const f = await fx.cluster.start({ ...FOLLOWER, rebuild: true });
    expect(f.replica!.served('rep')!.version).toBe(1);
    expect(readdirSync(dir).some((n) => n.startsWith('catalog.db.damaged-'))).toBe(true);
    const ids = Array.from({ length: 2_000 }, (_, i) => `r${i}`);
    await holdsAll(ids);
  });
});
