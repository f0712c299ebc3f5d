import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import type { ServiceConfigInput } from './config.ts';

const minimal: ServiceConfigInput = {
  role: 'follower',
  region: 'eu-west',
  node: 'f1',
  auth: { keys: [{ key: 'k'.repeat(16), role: 'read' }] },
  tokenSecret: 's'.repeat(16),
};

describe('service configuration', () => {
  it('applies defaults, then the file, then MERIDIAN_* variables, then overrides', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meridian-config-'));
    try {
      const file = join(dir, 'c.json');
      await writeFile(file, JSON.stringify({ ...minimal, http: { port: 9000 }, heartbeatMs: 500 }));
      const c = loadConfig({
        file,
        env: { MERIDIAN_HTTP_PORT: '9100', MERIDIAN_NATS_URL: 'nats://a:1,nats://b:2' },
        overrides: { heartbeatMs: 250 },
      });
      expect(c.http.port).toBe(9100);
      expect(c.http.host).toBe('127.0.0.1');
      expect(c.nats.servers).toEqual(['nats://a:1', 'nats://b:2']);
      expect(c.heartbeatMs).toBe(250);
      expect(c.query.defaultWaitMs).toBe(1_000);
      expect(Object.isFrozen(c)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads API keys with roles from MERIDIAN_API_KEYS', () => {
    const c = loadConfig({
      env: { MERIDIAN_API_KEYS: `admin:${'a'.repeat(20)},read:${'r'.repeat(20)}` },
      overrides: { ...minimal, auth: undefined as never },
    });
    expect(c.auth.keys.map((k) => k.role)).toEqual(['admin', 'read']);
  });

  it('names every bad field', () => {
    expect(() =>
      loadConfig({
        env: {},
        overrides: { ...minimal, region: 'bad region', tokenSecret: 'short' },
      }),
    ).toThrow(/region: .*tokenSecret: /);
    expect(() =>
      loadConfig({ env: {}, overrides: { ...minimal, unknownThing: 1 } as never }),
    ).toThrow(/unknownThing|Unrecognized/);
  });

  it('takes a backfill pace under limits, keeping the body limit default; 0 is refused', () => {
    const c = loadConfig({
      env: {},
      overrides: { ...minimal, limits: { backfillPointsPerSecond: 2_000 } },
    });
    expect(c.limits).toEqual({ maxBodyBytes: 32 * 1024 * 1024, backfillPointsPerSecond: 2_000 });
    expect(() =>
      loadConfig({ env: {}, overrides: { ...minimal, limits: { backfillPointsPerSecond: 0 } } }),
    ).toThrow(/backfillPointsPerSecond/);
  });
});
