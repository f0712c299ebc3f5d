/**
 * Runs one Meridian service in this process: `--config FILE [--role primary|follower|router]`.
 * Started as `node services/start.mjs …` (bundled) or `node --import tsx services/run.ts …`.
 * SIGTERM/SIGINT stop it gracefully (finish in-flight requests, drain consumers, close the
 * database), then the process exits 0 — also when the signal comes during start-up.
 */
import { parseArgs } from 'node:util';
import { closeIndexWorkers, loadConfig, startNode } from './index.ts';
import type { ServiceConfigInput } from './index.ts';

const { values } = parseArgs({
  options: { config: { type: 'string' }, role: { type: 'string' }, rebuild: { type: 'boolean' } },
  strict: true,
});
const role = values.role as ServiceConfigInput['role'] | undefined;
const config = loadConfig({
  ...(values.config ? { file: values.config } : {}),
  ...(role ? { overrides: { role } } : {}),
});
// Signals are taken from the start: one during start-up stops the start cleanly, and the
// process exits only once everything it started (view threads included) has ended.
const abort = new AbortController();
const starting = startNode(config, { signal: abort.signal, rebuild: values.rebuild === true });
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  abort.abort();
  const node = await starting.catch(() => null);
  await node?.stop();
  await closeIndexWorkers();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.stdout.write(
  `${JSON.stringify({ event: 'starting', role: config.role, pid: process.pid })}\n`,
);
const node = await starting.catch((err: unknown) => {
  if (abort.signal.aborted) return new Promise<never>(() => undefined); // stop() exits
  throw err;
});
process.stdout.write(
  `${JSON.stringify({ event: 'ready', role: config.role, region: config.region, node: config.node, url: node.url })}\n`,
);
