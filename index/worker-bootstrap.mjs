// Entry point of every index worker thread: registers tsx's TypeScript loader in this
// thread, then runs the worker module named in workerData. Plain JavaScript on purpose:
// it must run before any loader exists.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
