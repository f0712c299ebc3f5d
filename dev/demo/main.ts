/**
 * `npm run demo`: a whole local multi-region cluster on a real dataset.
 *
 * Starts the hub and two leaf regions (us-east primary, eu-west, ap-south; round trips
 * 80 / 220 / 150 ms through link proxies), a primary, a follower and a router per region,
 * loads the SAP Fiori documentation embeddings (778 × 384, all-MiniLM-L6-v2) with their
 * text, and prints how to query it. Ctrl-C stops everything and removes its files
 * (unless --keep). With --cutover it first rolls a second embedding model out to every
 * region and back, with queries running (dev/demo/cutover.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { launchCluster } from '../cluster/launcher.ts';
import type { LaunchedCluster } from '../cluster/launcher.ts';
import { NATS_INSTALL_HINT, findNatsServer } from '../cluster/nats-process.ts';
import { demoTopology, parseTopology } from '../cluster/topology.ts';
import { loadFioriRecords } from './fiori.ts';
import { runCutoverDemo } from './cutover.ts';
import { loadDemoData } from './load-data.ts';

const { values } = parseArgs({
  options: {
    synthetic: { type: 'string' },
    keep: { type: 'boolean', default: false },
    cutover: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});
if (values.help) {
  console.log('usage: npm run demo [-- --synthetic N] [-- --keep] [-- --cutover]');
  console.log('  --cutover  roll a second embedding model out to every region (stage, backfill,');
  console.log('             activate, roll back) with queries running, then stay up as usual');
  process.exit(0);
}
const synthetic = values.synthetic ? Number(values.synthetic) : 0;
if (!Number.isInteger(synthetic) || synthetic < 0) {
  console.error('--synthetic takes a whole number of points');
  process.exit(2);
}
if (!findNatsServer()) {
  console.error(NATS_INSTALL_HINT);
  process.exit(1);
}

const say = (line: string) => console.error(`· ${line}`);
const baseDir = await mkdtemp(join(tmpdir(), 'meridian-demo-'));
const apiKey = `demo-${randomBytes(12).toString('hex')}`;
let cluster: LaunchedCluster | null = null;
let stopping = false;
const shutdown = async (code: number) => {
  if (stopping) return;
  stopping = true;
  say('stopping the cluster');
  await cluster?.stop();
  if (!values.keep) await rm(baseDir, { recursive: true, force: true });
  else say(`kept ${baseDir}`);
  process.exit(code);
};
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

try {
  cluster = await launchCluster({
    topology: parseTopology(demoTopology),
    baseDir,
    apiKey,
    tokenSecret: randomBytes(24).toString('hex'),
    seal: { maxPoints: 5_000, maxAgeMs: 1_500 },
    routersHostReplica: true,
    say,
  });
  const primary = cluster.regions.find((r) => r.primary)!;
  const fiori = loadFioriRecords();
  const loaded = await loadDemoData({ cluster, apiKey, fiori, synthetic, say });
  if (values.cutover) await runCutoverDemo({ cluster, apiKey, fiori, say });
  const sample = fiori.records[0]!;
  const queryFile = join(baseDir, 'more-like-this.json');
  await writeFile(
    queryFile,
    JSON.stringify({
      vector: Array.from(sample.vector),
      k: 5,
      consistency: 'bounded',
      maxStalenessMs: 2000,
    }),
  );

  for (const r of cluster.regions) console.log(`router ${r.name} ${r.routerUrl}`);
  for (const c of loaded.collections) console.log(`collection ${c.name} ${c.dim}`);
  console.log(`api-key ${apiKey}`);
  const eu = cluster.regions.find((r) => r.name === 'eu-west') ?? primary;
  console.log('');
  console.log(
    `# "more like this": passages similar to "${sample.text.split('\n')[0]!.slice(0, 70)}…", from the eu-west router`,
  );
  console.log(
    `curl -s -H 'Authorization: Bearer ${apiKey}' -H 'Content-Type: application/json' -d @${queryFile} ${eu.routerUrl}/v1/collections/fiori/query`,
  );
  console.log('# where each region stands (health, RTT, lag, versions)');
  console.log(`curl -s -H 'Authorization: Bearer ${apiKey}' ${eu.routerUrl}/v1/regions`);
  console.log(`# or: MERIDIAN_URL=${eu.routerUrl} MERIDIAN_API_KEY=${apiKey} npx meridian status`);
  console.log('meridian demo ready');
} catch (err) {
  console.error(`demo failed: ${(err as Error).message}`);
  await shutdown(1);
}
