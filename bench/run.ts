/**
 * `npm run bench -- SUITE [--quick] [--out FILE.json]`: runs one benchmark suite.
 * Each suite prints a table and writes its JSON result.
 */
import { parseBenchFlags } from './lib.ts';
import type { BenchFlags } from './lib.ts';

const suites: Record<string, () => Promise<{ run: (f: BenchFlags) => Promise<void> }>> = {
  index: () => import('./suites/index-suite.ts'),
  replication: () => import('./suites/replication.ts'),
  query: () => import('./suites/query.ts'),
  regions: () => import('./suites/regions.ts'),
  stream: () => import('./suites/stream.ts'),
  cutover: () => import('./suites/cutover.ts'),
};

const [name, ...rest] = process.argv.slice(2);
const load = name ? suites[name] : undefined;
if (!load) {
  console.error(
    `usage: npm run bench -- <suite> [--quick] [--out FILE.json]\nsuites: ${Object.keys(suites).join(', ')}`,
  );
  process.exit(2);
}
const flags = parseBenchFlags(rest);
const suite = await load();
await suite.run(flags);
process.exit(0);
