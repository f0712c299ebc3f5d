// Bundles a TypeScript entry of this repository into one cached JavaScript file with
// esbuild, so that a process or a worker thread starts without tsx (decision 0013): a
// tsx process or thread runs its loader on a hooks thread of its own and compiles every
// module it loads, which cost ~35 MB of resident memory and ~170 ms per thread here.
// Plain JavaScript on purpose: it runs before any TypeScript loader exists.
//
// Bundles live in node_modules/.cache/meridian/, named by a hash of the sources they may
// contain, so a change to any source file makes a new one. Native addons (and esbuild
// itself) stay outside. Each function returns null when a bundle cannot be made or
// written (a read-only install): the caller then runs the TypeScript through tsx.
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository's root directory. */
export const root = fileURLToPath(new URL('..', import.meta.url));
const cacheDir = join(root, 'node_modules', '.cache', 'meridian');
const external = ['hnswlib-node', 'better-sqlite3', 'esbuild'];
const require = createRequire(import.meta.url);

function addSources(hash, dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    a.name < b.name ? -1 : 1,
  )) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && entry.name !== 'migrations') addSources(hash, path);
    } else if (/\.(ts|mjs|json)$/.test(entry.name) && !entry.name.endsWith('.test.ts')) {
      hash.update(path).update(readFileSync(path));
    }
  }
}

function target(name, dirs) {
  const hash = createHash('sha256').update(process.version);
  for (const d of dirs) addSources(hash, join(root, d));
  return join(cacheDir, `${name}-${hash.digest('hex').slice(0, 16)}.mjs`);
}

function store(file, text) {
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file); // atomic: another process may write the same bundle
  // Bundles of older sources go after a day (a process still running one has loaded it).
  const dayAgo = Date.now() - 24 * 3600_000;
  for (const name of readdirSync(cacheDir)) {
    const path = join(cacheDir, name);
    try {
      if (path !== file && statSync(path).mtimeMs < dayAgo) rmSync(path, { force: true });
    } catch {
      // another process removed it first
    }
  }
  return file;
}

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  write: false,
  logLevel: 'silent',
  external,
  // CommonJS dependencies call require() for Node's built-ins; an ES module has none.
  banner: {
    js: "import { createRequire as __mrdnCreateRequire } from 'node:module'; const require = __mrdnCreateRequire(import.meta.url);",
  },
};

/**
 * Bundles `entry` (a path relative to the root) with every module it imports from the
 * folders `dirs`; each module's `import.meta.url` keeps naming its own source file, so
 * paths built from it (migrations, worker entries) resolve as in the sources. Returns the
 * bundle's path, or null.
 */
export async function bundle(entry, dirs) {
  try {
    const file = target(entry.replace(/[\\/]/g, '_'), dirs);
    if (existsSync(file)) return file;
    const { build } = require('esbuild');
    const out = await build({
      ...common,
      entryPoints: [join(root, entry)],
      plugins: [
        {
          name: 'own-import-meta-url',
          setup(b) {
            b.onLoad({ filter: /\.ts$/ }, (args) => ({
              contents: readFileSync(args.path, 'utf8').replaceAll(
                'import.meta.url',
                JSON.stringify(pathToFileURL(args.path).href),
              ),
              loader: 'ts',
            }));
          },
        },
      ],
    });
    return store(file, out.outputFiles[0].text);
  } catch {
    return null;
  }
}

/**
 * The synchronous form, for worker threads started from synchronous code: every module
 * bundled must live in one folder (`dir`), whose URL stands for `import.meta.url`.
 */
export function bundleSync(entry, dir) {
  try {
    const file = target(entry.replace(/[\\/]/g, '_'), [dir]);
    if (existsSync(file)) return file;
    const { buildSync } = require('esbuild');
    const source = join(root, entry);
    const out = buildSync({
      ...common,
      entryPoints: [source],
      define: { 'import.meta.url': JSON.stringify(pathToFileURL(source).href) },
    });
    return store(file, out.outputFiles[0].text);
  } catch {
    return null;
  }
}
