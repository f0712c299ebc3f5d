/**
 * `npm run demo -- --cutover`'s rollout, run against three regions through link proxies:
 * the Fiori passages, a second model staged, backfilled, activated with policy all and
 * rolled back, with queries from every region's router at every level the whole time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCutoverDemo } from '../../dev/demo/cutover.ts';
import { loadFioriRecords } from '../../dev/demo/fiori.ts';
import { loadDemoData } from '../../dev/demo/load-data.ts';
import { TEST_KEYS, startRegions } from '../../dev/harness/regions.ts';
import type { RegionCluster } from '../../dev/harness/regions.ts';

let cluster: RegionCluster;

beforeAll(async () => {
  cluster = await startRegions({
    prefix: 'cutover-demo',
    topology: {
      regions: [{ name: 'us-east', primary: true }, { name: 'eu-west' }, { name: 'ap-south' }],
      rttMs: { 'us-east': { 'eu-west': 20, 'ap-south': 40 }, 'eu-west': { 'ap-south': 30 } },
      jitterMs: 1,
    },
  });
}, 90_000);

afterAll(async () => {
  await cluster?.close();
});

describe('the cutover demo', () => {
  it('rolls a second model out to every region and back with no failed or wrong answer', async () => {
    const fiori = loadFioriRecords();
    const lines: string[] = [];
    const say = (l: string) => void lines.push(l);
    await loadDemoData({ cluster, apiKey: TEST_KEYS.admin, fiori, synthetic: 0, say });
    const report = await runCutoverDemo({ cluster, apiKey: TEST_KEYS.admin, fiori, say });
    expect(report.queries).toBeGreaterThan(50);
    expect([report.failed, report.wrongGeneration], report.failures.join('\n')).toEqual([0, 0]);
    // The new model is an isometry of the old: a query embedded either way finds the passage.
    expect(report.differentTop1).toBeLessThan(report.queries * 0.05);
    for (const flips of [report.flipMs, report.rollbackMs]) {
      expect(Object.keys(flips).sort()).toEqual(['ap-south', 'eu-west', 'us-east']);
    }
    expect(lines.some((l) => /covers 100\.0 %/.test(l))).toBe(true);
    expect(lines.filter((l) => /every region answers with it/.test(l))).toHaveLength(2);
  }, 120_000);
});
