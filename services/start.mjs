// Runs one Meridian service: `node services/start.mjs --config FILE [--role primary|follower|router]`.
// The service (services/run.ts and what it imports) runs from a bundle made once per
// change of the sources (index/bundle-entry.mjs), so the process starts without tsx: less
// start-up time, and no loader thread's memory beside the index it serves (decision 0013).
// Where no bundle can be written it runs the TypeScript through tsx instead.
import { pathToFileURL } from 'node:url';
import { bundle } from '../index/bundle-entry.mjs';

const file = await bundle('services/run.ts', ['lib', 'index', 'catalog', 'sync', 'services']);
if (file) {
  await import(pathToFileURL(file).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./run.ts');
}
