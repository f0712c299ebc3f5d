/**
 * A view thread: holds the one copy of the views assigned to it (decision 0013) and
 * carries out their operations in arrival order, so hnswlib's synchronous graph search
 * runs beside the event loop that parses HTTP and routes queries, not on it.
 *
 * It is never terminated from outside: asked to close, or on an error it cannot recover
 * from, it stops taking messages, waits for its asynchronous native calls (segment loads)
 * to settle, and only then ends — hnswlib's native completions abort the process when
 * they land on a thread being torn down. It starts no worker of its own: segment files are
 * verified by the process's index workers.
 */
import { MessageChannel, parentPort, workerData } from 'node:worker_threads';
import { quiesceNative } from './native-calls.ts';
import { useUnpacker } from './segment-store.ts';
import { ViewStore } from './view-store.ts';
import { deserializeError, serializeError } from './worker-pool.ts';
import type { SerializedError } from './worker-pool.ts';
import type { UnpackResult } from './segment-jobs.ts';
import type { FromViewThread, ToViewThread, ViewCall } from './view-protocol.ts';

const port = parentPort!;
const store = new ViewStore((workerData as { scratchDir?: string }).scratchDir);
const send = (msg: FromViewThread) => port.postMessage(msg);
let ending = false;

// Segment files are hashed and unpacked by the process's index workers, which answer on a
// port of this thread's own: no worker of its own to start, and none to stop.
useUnpacker(
  (request) =>
    new Promise<UnpackResult>((resolve, reject) => {
      const { port1, port2 } = new MessageChannel();
      port1.once('message', (m: { ok: boolean; value?: UnpackResult; error?: SerializedError }) => {
        port1.close();
        if (m.ok) resolve(m.value!);
        else reject(deserializeError(m.error));
      });
      port.postMessage({ op: 'unpack', request, reply: port2 } satisfies FromViewThread, [port2]);
    }),
);

async function end(code: number): Promise<void> {
  if (ending) return;
  ending = true;
  // No new native call starts from here (a load whose unpack finishes later is refused),
  // and those in flight settle before the thread ends.
  await quiesceNative();
  process.exit(code);
}

function broken(err: unknown): void {
  if (ending) return;
  send({ op: 'broken', error: serializeError(err) });
  void end(1);
}

process.on('uncaughtException', broken);
process.on('unhandledRejection', broken);

function answer(msg: ViewCall & { id: number }): void {
  const fail = (err: unknown) => send({ op: 'failed', id: msg.id, error: serializeError(err) });
  let value: unknown;
  try {
    value = store.call(msg);
  } catch (err) {
    fail(err);
    return;
  }
  if (value instanceof Promise) {
    value.then((v: unknown) => send({ op: 'answer', id: msg.id, value: v }), fail);
  } else {
    send({ op: 'answer', id: msg.id, value });
  }
}

port.on('message', (msg: ToViewThread) => {
  if (ending) return;
  switch (msg.op) {
    case 'close':
      void end(0);
      return;
    case 'fault':
      setImmediate(() => {
        throw new Error('view thread: injected fault');
      });
      return;
    case 'prepare':
    case 'search':
    case 'get':
    case 'seqs':
    case 'ids':
    case 'coverage':
    case 'snapshot':
    case 'stats':
    case 'loads':
      answer(msg);
      return;
    default:
      try {
        store.post(msg);
      } catch (err) {
        // A write or swap that failed leaves a view its handle can no longer vouch for.
        broken(err);
      }
  }
});
