#!/usr/bin/env node
// Entry point of the `meridian` command, and the only place that reads process.argv,
// process.env and signals. The command runs from a bundle of its TypeScript made once per
// change of the sources (index/bundle-entry.mjs): no tsx loader at run time, so a server
// started with `meridian follower` holds no loader thread beside its index. Where no
// bundle can be written, the TypeScript runs through tsx.
import { pathToFileURL } from 'node:url';
import { bundle } from '../../index/bundle-entry.mjs';

const file = await bundle('clients/cli/main.ts', [
  'lib',
  'index',
  'catalog',
  'sync',
  'services',
  'clients',
]);
let main;
if (file) {
  ({ main } = await import(pathToFileURL(file).href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('./main.ts'));
}

const ctx = {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  untilSignal: () =>
    new Promise((resolve) => {
      const on = (name) => {
        process.off('SIGINT', on);
        process.off('SIGTERM', on);
        resolve(name);
      };
      process.on('SIGINT', on);
      process.on('SIGTERM', on);
    }),
};

const code = await main(process.argv.slice(2), ctx);
// Exit even if a library left a handle open, once what was printed has been flushed.
await Promise.all([process.stdout, process.stderr].map((s) => new Promise((r) => s.write('', r))));
process.exit(code);
