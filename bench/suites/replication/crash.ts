/**
 * `crash` section of the replication bench (issue 11): the follower pause + kill scenario
 * of the crash tests, measured. A primary and a follower as processes on one nats-server;
 * a writer at about 300 single-point writes a second (ack async); the follower paused
 * (SIGSTOP) 0.1–1.5 s, killed (SIGKILL) and restarted, `rounds` times; after each restart,
 * strong and session reads by id naming the writes around the pause. Counts the answers
 * that reported a position while missing a write at or below it (goal 0), the largest
 * such gap, and how long each restarted follower took to reach the primary's position.
 */
import { join } from 'node:path';
import { freePort } from '../../../dev/cluster/launcher.ts';
import { crashRounds, processTarget, startWriter } from '../../../dev/harness/crash-workload.ts';
import { startNatsServer } from '../../../dev/harness/nats-server.ts';
import { startProcess } from '../../../dev/harness/processes.ts';
import type { ProcessSpec } from '../../../dev/harness/processes.ts';
import { http } from '../../../dev/harness/services.ts';
import { makeTempDir } from '../../../dev/harness/tmp.ts';
import { percentile } from '../../lib.ts';

type Cleanup = () => Promise<unknown>;
const log = (msg: string): void => console.log(`replication: ${msg}`);

export interface CrashResult {
  rounds: number;
  reads: number;
  stale_reads: number;
  max_gap_entries: number;
  recovery_ms: { p50: number; max: number; each: number[] };
  /** Kill → the restarted process ready (its start-up: recovery from disk, then following). */
  restart_ms: { p50: number; max: number };
  acked_writes: number;
}

export async function crashSection(quick: boolean, cleanups: Cleanup[]): Promise<CrashResult> {
  const rounds = quick ? 3 : 10;
  const nats = await startNatsServer();
  cleanups.push(() => nats.stop());
  const dir = await makeTempDir('bench-crash');
  cleanups.push(() => dir.cleanup());
  const regions = ['us-east', 'eu-west'];
  const primarySpec: ProcessSpec = {
    role: 'primary',
    region: 'us-east',
    node: 'p1',
    natsUrl: nats.url,
    regions,
    dataDir: join(dir.path, 'p1'),
    overrides: {
      http: { host: '127.0.0.1', port: await freePort() },
      seal: { maxPoints: 400, maxAgeMs: 300 },
    },
  };
  const followerSpec: ProcessSpec = {
    role: 'follower',
    region: 'eu-west',
    node: 'f1',
    natsUrl: nats.url,
    regions,
    dataDir: join(dir.path, 'f1'),
  };
  const primary = await startProcess(primarySpec);
  cleanups.push(() => primary.stop());
  const target = processTarget(await startProcess(followerSpec));
  cleanups.push(() => target.current().stop());
  await http(`${primary.url}/v1/collections/crash`, 'PUT', { dim: 4, metric: 'l2', model: 'm@1' });

  log(`crash: ${rounds} rounds of pause + kill + restart of the follower under ~300 writes/s`);
  const writer = startWriter(() => primary.url, 'crash');
  let r;
  try {
    r = await crashRounds({
      rounds,
      seed: 7,
      primaryUrl: () => primary.url,
      collection: 'crash',
      writer,
      measureRecovery: true,
      target,
    });
  } finally {
    await writer.stop();
  }
  const sorted = [...r.recoveryMs].sort((a, b) => a - b);
  const restarts = [...r.restartMs].sort((a, b) => a - b);
  return {
    rounds: r.rounds,
    reads: r.reads,
    stale_reads: r.staleReads,
    max_gap_entries: r.maxGapEntries,
    recovery_ms: {
      p50: percentile(sorted, 50),
      max: sorted[sorted.length - 1] ?? 0,
      each: r.recoveryMs,
    },
    restart_ms: { p50: percentile(restarts, 50), max: restarts[restarts.length - 1] ?? 0 },
    acked_writes: writer.acked.length,
  };
}
