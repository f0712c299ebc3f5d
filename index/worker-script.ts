import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { bundleSync } from './bundle-entry.mjs';

/** The modules that run as index worker threads. */
export type WorkerEntry = 'view-thread' | 'segment-worker';

const indexDir = fileURLToPath(new URL('.', import.meta.url));
/** The fallback: a thread that registers tsx's loader, then imports the TypeScript entry. */
const bootstrap = join(indexDir, 'worker-bootstrap.mjs');
const scripts = new Map<WorkerEntry, string | null>();

/**
 * Starts an index worker thread running `entry` (view-thread.ts or segment-worker.ts).
 *
 * Each entry runs from a bundle (see bundle-entry.mjs), made once per change of the index
 * module's sources: measured here, a thread that registers tsx's loader took ~215 ms and
 * ~37 MB of resident memory to start, one running the bundle ~40 ms and ~9 MB (decision
 * 0013). When no bundle can be made, the thread registers tsx and imports the TypeScript.
 */
export function startIndexWorker(entry: WorkerEntry, workerData: Record<string, unknown>): Worker {
  if (!scripts.has(entry)) scripts.set(entry, bundleSync(`index/${entry}.ts`, 'index'));
  const script = scripts.get(entry);
  if (script) return new Worker(script, { workerData, execArgv });
  const url = pathToFileURL(join(indexDir, `${entry}.ts`)).href;
  return new Worker(bootstrap, { workerData: { ...workerData, entry: url }, execArgv });
}

/**
 * The process's flags without its module loaders: a worker inherits `--import tsx` and
 * would run tsx's loader again (on a hooks thread of its own) for a bundle that needs none.
 */
const execArgv = (() => {
  const out: string[] = [];
  const args = process.execArgv;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (/^--(import|loader|experimental-loader|require)$/.test(a) || a === '-r') i++;
    else if (!/^--(import|loader|experimental-loader|require)=/.test(a)) out.push(a);
  }
  return out;
})();
