#!/usr/bin/env node
// Entry point of the `meridian` command: TypeScript runs through tsx (no build step), and
// this is the only place that reads process.argv, process.env and signals.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');

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
