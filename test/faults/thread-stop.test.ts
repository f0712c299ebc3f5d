import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const child = fileURLToPath(new URL('./thread-stop-child.ts', import.meta.url));

/**
 * Regression (issue 10): a worker thread terminated while hnswlib-node's asynchronous
 * readIndex was in flight aborted the whole process (SIGABRT in
 * LoadHierarchicalNSWIndexWorker::OnOK during the thread's teardown). Threads are now
 * closed by message and end only once their native calls have settled. The churn runs in
 * a child process, so an abort shows as its exit instead of killing the test runner.
 */
describe('view threads and index workers', () => {
  it('start and stop 200 times (100 rounds of two) with segment loads and builds in flight, and the process survives', async () => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, '100', '7'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4_000)));
    const exit = await new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      proc.on('exit', (code, signal) => resolve({ code, signal })),
    );
    expect(exit, err).toEqual({ code: 0, signal: null });
    const report = JSON.parse(out.trim().split('\n').pop()!) as {
      rounds: number;
      threadStarts: number;
      loadInFlightAtClose: number;
      buildInFlightAtClose: number;
    };
    expect(report.threadStarts).toBe(200);
    // The churn really closed threads in the window the bug needs.
    expect(report.loadInFlightAtClose).toBeGreaterThanOrEqual(20);
    expect(report.buildInFlightAtClose).toBeGreaterThanOrEqual(5);
  }, 300_000);
});
