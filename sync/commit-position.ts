import type { NatsConnection, Subscription } from 'nats';
import { SyncError } from './errors.ts';
import { Subjects } from './subjects.ts';

/**
 * Read-index: the primary answers `meridian.commit` requests with its last committed WAL
 * seq, so a `strong` read can wait for a replica that has reached it.
 */
export function serveCommitPosition(
  nc: NatsConnection,
  position: () => { seq: number; time: number },
): Subscription {
  return nc.subscribe(Subjects.commitPosition, {
    callback: (_e, m) => m.respond(Buffer.from(JSON.stringify(position()))),
  });
}

/** Asks the primary for its last committed seq; a typed 503-class error when it does not answer. */
export async function requestCommitPosition(
  nc: NatsConnection,
  timeoutMs = 2_000,
): Promise<{ seq: number; time: number }> {
  try {
    const m = await nc.request(Subjects.commitPosition, undefined, { timeout: timeoutMs });
    return JSON.parse(Buffer.from(m.data).toString('utf8')) as { seq: number; time: number };
  } catch (err) {
    throw new SyncError('nats_unavailable', 'the primary did not answer with its commit position', {
      cause: err,
      transient: true,
    });
  }
}
