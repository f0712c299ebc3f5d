/**
 * Runs one Meridian service in this process: `node --import tsx services/run.ts --config FILE
 * [--role primary|follower|router]`. SIGTERM/SIGINT stop it gracefully (finish in-flight
 * requests, drain consumers, close the database), then the process exits 0.
 */
import { parseArgs } from 'node:util';
import { closeIndexWorkers, loadConfig, startNode } from './index.ts';
import type { ServiceConfigInput } from './index.ts';

const { values } = parseArgs({
  options: { config: { type: 'string' }, role: { type: 'string' } },
  strict: true,
});
const role = values.role as ServiceConfigInput['role'] | undefined;
const config = loadConfig({
  ...(values.config ? { file: values.config } : {}),
  ...(role ? { overrides: { role } } : {}),
});
const node = await startNode(config);
process.stdout.write(
  `${JSON.stringify({ event: 'ready', role: config.role, region: config.region, node: config.node, url: node.url })}\n`,
);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await node.stop();
  await closeIndexWorkers();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
