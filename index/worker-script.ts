import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type * as Esbuild from 'esbuild';

/** The modules that run as index worker threads. */
export type WorkerEntry = 'view-thread' | 'segment-worker';

const indexDir = fileURLToPath(new URL('.', import.meta.url));
/** The fallback: a thread that registers tsx's loader, then imports the TypeScript entry. */
const bootstrap = join(indexDir, 'worker-bootstrap.mjs');
const scripts = new Map<WorkerEntry, string | null>();

/**
 * Starts an index worker thread running `entry` (view-thread.ts or segment-worker.ts).
 *
 * Each entry is bundled once by esbuild into one plain JavaScript file, cached under
 * `node_modules/.cache/meridian-workers/` by a hash of the index module's sources, so a
 * thread starts without tsx: measured here, a thread that registers tsx's loader took
 * ~215 ms to start and ~37 MB of resident memory (the loader runs on a hooks thread of
 * its own), one running the bundle ~40 ms and ~9 MB (decision 0013). hnswlib-node (a
 * native addon) stays outside the bundle. When the bundle cannot be built or written (a
 * read-only install), the thread registers tsx and imports the TypeScript entry instead.
 */
export function startIndexWorker(entry: WorkerEntry, workerData: Record<string, unknown>): Worker {
  const script = scriptFor(entry);
  if (script) return new Worker(script, { workerData });
  const url = pathToFileURL(join(indexDir, `${entry}.ts`)).href;
  return new Worker(bootstrap, { workerData: { ...workerData, entry: url } });
}

function scriptFor(entry: WorkerEntry): string | null {
  if (!scripts.has(entry)) {
    let built: string | null = null;
    try {
      built = bundle(entry);
    } catch {
      built = null; // fall back to tsx in the thread
    }
    scripts.set(entry, built);
  }
  return scripts.get(entry)!;
}

function bundle(entry: WorkerEntry): string {
  const sources = readdirSync(indexDir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .sort();
  const hash = createHash('sha256').update(process.version);
  for (const f of sources) hash.update(f).update(readFileSync(join(indexDir, f)));
  const key = hash.digest('hex').slice(0, 16);
  const dir = join(indexDir, '..', 'node_modules', '.cache', 'meridian-workers');
  const file = join(dir, `${entry}-${key}.mjs`);
  if (existsSync(file)) return file;
  const source = join(indexDir, `${entry}.ts`);
  // Loaded only to build (a bundle must not carry esbuild itself).
  const { buildSync } = createRequire(source)('esbuild') as typeof Esbuild;
  const out = buildSync({
    entryPoints: [source],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    logLevel: 'silent',
    // Every bundled index module lives in index/: URLs made from import.meta.url (the
    // segment worker's entry) resolve as they do in the sources.
    define: { 'import.meta.url': JSON.stringify(pathToFileURL(source).href) },
    external: [NATIVE],
  });
  // The addon is imported from where it is installed, so the bundle can live anywhere.
  const native = pathToFileURL(createRequire(source).resolve(NATIVE)).href;
  const text = out.outputFiles[0]!.text.replaceAll(`from "${NATIVE}"`, `from "${native}"`);
  if (!text.includes(native)) throw new Error(`bundle of ${entry}: no import of ${NATIVE} found`);
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file); // atomic: another process may be writing the same bundle
  return file;
}

/** A native addon: never bundled. */
const NATIVE = 'hnswlib-node';
